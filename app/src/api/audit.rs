//! The audit log (Supervisors and Administrators).
use domain::audit::AuditEntry;
use domain::list::Page;
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;

/// One page of the audit log; the parameters are those of its URL (`/audit?q=edge-1`), each
/// optional.
#[server(endpoint = "audit_log")]
pub async fn audit_log(
    #[server(default)] q: Option<String>,
    #[server(default)] sort: Option<String>,
    #[server(default)] dir: Option<String>,
    #[server(default)] page: Option<String>,
    #[server(default)] per_page: Option<String>,
) -> Result<Snapshot<Page<AuditEntry>>, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    let query = domain::list::ListQuery::from_args(
        q.as_deref(),
        sort.as_deref(),
        dir.as_deref(),
        page.as_deref(),
        per_page.as_deref(),
    )
    .map_err(fail)?;
    let data = panel.audit.page(&actor, &query).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

//! Nodes and enrolment keys.
use domain::enrolment::{CreatedEnrolmentKey, EnrolmentKeyView};
use domain::list::NodePage;
use domain::node::{IdentityAction, NodeDetail};
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;
#[cfg(feature = "ssr")]
use domain::list::{ListQuery, NodeSort};

/// One page of the node list; the parameters are those of its URL (`/nodes?q=…&status=online`),
/// each optional.
#[server(endpoint = "list_nodes")]
pub async fn list_nodes(
    #[server(default)] q: Option<String>,
    #[server(default)] status: Option<String>,
    #[server(default)] sort: Option<String>,
    #[server(default)] dir: Option<String>,
    #[server(default)] page: Option<String>,
    #[server(default)] per_page: Option<String>,
) -> Result<Snapshot<NodePage>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let query = ListQuery::<NodeSort>::from_args(
        q.as_deref(),
        sort.as_deref(),
        dir.as_deref(),
        page.as_deref(),
        per_page.as_deref(),
    )
    .map_err(fail)?;
    let status = domain::list::parse_status(status.as_deref()).map_err(fail)?;
    let data = panel
        .nodes
        .page(&actor, &query, status)
        .await
        .map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "get_node")]
pub async fn get_node(id: String) -> Result<Snapshot<NodeDetail>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.nodes.get(&actor, &id).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "refresh_node")]
pub async fn refresh_node(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel.nodes.refresh_facts(&actor, &id).await.map_err(fail)
}

/// Removes a node, revokes its token or allows its machine to re-enrol (Administrators).
#[server(endpoint = "node_identity")]
pub async fn node_identity(id: String, action: IdentityAction) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    panel
        .nodes
        .identity_action(&actor, &id, action)
        .await
        .map_err(fail)
}

#[server(endpoint = "list_keys")]
pub async fn list_keys() -> Result<Snapshot<Vec<EnrolmentKeyView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.enrolment.list_keys(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// `max_uses`: how many nodes the key may enrol (0 = no limit); absent means one.
#[server(endpoint = "create_key")]
pub async fn create_key(
    label: String,
    expires_in_hours: String,
    #[server(default)] max_uses: Option<String>,
) -> Result<CreatedEnrolmentKey, AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    let new =
        domain::enrolment::NewEnrolmentKey::parse(&label, &expires_in_hours, max_uses.as_deref())
            .map_err(fail)?;
    panel.enrolment.create_key(&actor, new).await.map_err(fail)
}

#[server(endpoint = "revoke_key")]
pub async fn revoke_key(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    panel.enrolment.revoke_key(&actor, &id).await.map_err(fail)
}

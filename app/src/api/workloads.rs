//! The library of apps and models.
use domain::workload::library::{AppDraft, AppView, VersionDraft};
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;

#[server(endpoint = "library")]
pub async fn library() -> Result<Snapshot<Vec<AppView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.workloads.library(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// Takes JSON: the draft's kind is an enum.
#[server(endpoint = "create_app", input = leptos::server_fn::codec::Json)]
pub async fn create_app(draft: AppDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .create_app(&actor, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "add_app_version", input = leptos::server_fn::codec::Json)]
pub async fn add_app_version(app_id: String, draft: VersionDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .add_version(&actor, &app_id, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "version_compose")]
pub async fn version_compose(id: String) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .workloads
        .version_compose(&actor, &id)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_app")]
pub async fn delete_app(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.workloads.delete_app(&actor, &id).await.map_err(fail)
}

//! The library of apps and models, and the apps installed on clusters.
use domain::workload::install::{InstallContext, InstallDraft, WorkloadView};
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

/// What the install wizard needs of a cluster: schedulable nodes, published ports, names in use.
#[server(endpoint = "install_context")]
pub async fn cluster_install_context(cluster_id: String) -> Result<InstallContext, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .workloads
        .install_context(&actor, &cluster_id)
        .await
        .map_err(fail)
}

/// Takes JSON: the draft holds enums and lists.
#[server(endpoint = "install_app", input = leptos::server_fn::codec::Json)]
pub async fn install_app(cluster_id: String, draft: InstallDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .install(&actor, &cluster_id, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "installed_apps")]
pub async fn installed_apps(cluster_id: String) -> Result<Snapshot<Vec<WorkloadView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel
        .workloads
        .installed(&actor, &cluster_id)
        .await
        .map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "uninstall_app")]
pub async fn uninstall_app(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.workloads.uninstall(&actor, &id).await.map_err(fail)
}

#[server(endpoint = "service_logs")]
pub async fn service_logs(id: String, service: String) -> Result<Vec<String>, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .service_logs(&actor, &id, &service)
        .await
        .map_err(fail)
}

//! The library of apps and models, the apps installed on clusters and their registry
//! credentials.
use domain::workload::install::{InstallContext, InstallDraft, WorkloadView};
use domain::workload::library::{AppDraft, AppView, VersionDraft};
use domain::workload::registry::{CredentialDraft, CredentialView};
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

/// A cluster's registry credentials with each node's check; never a password.
#[server(endpoint = "registry_credentials")]
pub async fn registry_credentials(cluster_id: String) -> Result<Vec<CredentialView>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .workloads
        .credentials(&actor, &cluster_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "save_registry_credential", input = leptos::server_fn::codec::Json)]
pub async fn save_registry_credential(
    cluster_id: String,
    draft: CredentialDraft,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .save_credential(&actor, &cluster_id, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "import_registry_credentials")]
pub async fn import_registry_credentials(
    cluster_id: String,
    csv: String,
) -> Result<usize, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .import_credentials(&actor, &cluster_id, &csv)
        .await
        .map_err(fail)
}

/// `registry,username` lines, without passwords.
#[server(endpoint = "export_registry_credentials")]
pub async fn export_registry_credentials(cluster_id: String) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .workloads
        .export_credentials(&actor, &cluster_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_registry_credential")]
pub async fn delete_registry_credential(cluster_id: String, id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .workloads
        .delete_credential(&actor, &cluster_id, &id)
        .await
        .map_err(fail)
}

/// Moves an installed app to another version of it.
#[server(endpoint = "update_app")]
pub async fn update_app(id: String, version_id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .update(&actor, &id, &version_id)
        .await
        .map_err(fail)
}

/// Stops (`run` false) or starts an installed app.
#[server(endpoint = "set_app_running")]
pub async fn set_app_running(id: String, run: bool) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .workloads
        .set_running(&actor, &id, run)
        .await
        .map_err(fail)
}

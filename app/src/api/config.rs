//! A cluster's Global Config (the current document with each node's state, its history, named
//! saves, and the saves themselves, each naming the version it was based on) and its Global
//! Secrets (values only for Supervisors and Administrators), and the Swarm secrets and configs
//! of its swarm.
use domain::config::global::{ConfigVersion, GlobalConfigView};
use domain::config::objects::{ObjectKind, SwarmObjectsView};
use domain::config::secrets::{SecretDraft, SecretView};
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;

#[server(endpoint = "global_config")]
pub async fn global_config(cluster_id: String) -> Result<Snapshot<GlobalConfigView>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel
        .configs
        .view(&actor, &cluster_id)
        .await
        .map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "global_config_history")]
pub async fn global_config_history(cluster_id: String) -> Result<Vec<ConfigVersion>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .configs
        .history(&actor, &cluster_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "global_config_version")]
pub async fn global_config_version(cluster_id: String, version: u64) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .configs
        .version_document(&actor, &cluster_id, version)
        .await
        .map_err(fail)
}

/// Saves `document` as the version after `base`; answers the new version.
#[server(endpoint = "save_global_config")]
pub async fn save_global_config(
    cluster_id: String,
    base: u64,
    document: String,
    uploaded: bool,
) -> Result<u64, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .save(&actor, &cluster_id, base, &document, uploaded)
        .await
        .map_err(fail)
}

#[server(endpoint = "restore_global_config")]
pub async fn restore_global_config(
    cluster_id: String,
    base: u64,
    version: u64,
) -> Result<u64, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .restore(&actor, &cluster_id, base, version)
        .await
        .map_err(fail)
}

#[server(endpoint = "reset_global_config")]
pub async fn reset_global_config(cluster_id: String, base: u64) -> Result<u64, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .reset(&actor, &cluster_id, base)
        .await
        .map_err(fail)
}

#[server(endpoint = "save_named_global_config")]
pub async fn save_named_global_config(
    cluster_id: String,
    name: String,
    document: String,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .save_named(&actor, &cluster_id, &name, &document)
        .await
        .map_err(fail)
}

#[server(endpoint = "named_global_config")]
pub async fn named_global_config(cluster_id: String, name: String) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .configs
        .named(&actor, &cluster_id, &name)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_named_global_config")]
pub async fn delete_named_global_config(cluster_id: String, name: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .delete_named(&actor, &cluster_id, &name)
        .await
        .map_err(fail)
}

/// A cluster's Global Secrets, without values.
#[server(endpoint = "global_secrets")]
pub async fn global_secrets(cluster_id: String) -> Result<Snapshot<Vec<SecretView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel
        .configs
        .secrets(&actor, &cluster_id)
        .await
        .map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// One secret's value: Supervisors and Administrators only.
#[server(endpoint = "reveal_global_secret")]
pub async fn reveal_global_secret(cluster_id: String, name: String) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .configs
        .reveal_secret(&actor, &cluster_id, &name)
        .await
        .map_err(fail)
}

/// Adds a secret (`adding`) or replaces an existing one's value; answers its version. Takes
/// JSON (the draft).
#[server(endpoint = "save_global_secret", input = leptos::server_fn::codec::Json)]
pub async fn save_global_secret(
    cluster_id: String,
    draft: SecretDraft,
    adding: bool,
) -> Result<u64, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .put_secret(&actor, &cluster_id, &draft, adding)
        .await
        .map_err(fail)
}

/// Imports `NAME=value` lines (all or nothing); answers how many.
#[server(endpoint = "import_global_secrets")]
pub async fn import_global_secrets(cluster_id: String, text: String) -> Result<usize, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .import_secrets(&actor, &cluster_id, &text)
        .await
        .map_err(fail)
}

/// Every secret with its value, as `NAME=value` lines: Supervisors and Administrators only.
#[server(endpoint = "export_global_secrets")]
pub async fn export_global_secrets(cluster_id: String) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .configs
        .export_secrets(&actor, &cluster_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_global_secret")]
pub async fn delete_global_secret(cluster_id: String, name: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .configs
        .delete_secret(&actor, &cluster_id, &name)
        .await
        .map_err(fail)
}

/// The Swarm secrets and configs of a cluster, with their origin and the services using them.
#[server(endpoint = "swarm_objects")]
pub async fn swarm_objects(cluster_id: String) -> Result<Snapshot<SwarmObjectsView>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel
        .configs
        .swarm_objects(&actor, &cluster_id)
        .await
        .map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// Deletes a Swarm secret or config that no service uses: Supervisors and Administrators.
#[server(endpoint = "delete_swarm_object")]
pub async fn delete_swarm_object(
    cluster_id: String,
    kind: ObjectKind,
    name: String,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .configs
        .delete_swarm_object(&actor, &cluster_id, kind, &name)
        .await
        .map_err(fail)
}

//! A cluster's Global Config: the current document with each node's state, its history, named
//! saves, and the saves themselves (each names the version it was based on).
use domain::config::global::{ConfigVersion, GlobalConfigView};
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

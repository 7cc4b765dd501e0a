//! Firmware artifacts and the upgrades of standalone nodes. (The upload itself streams, so it is
//! a plain route of the server: `POST /api/firmware/upload`.)
use domain::firmware::gates::{Gate, GateDraft};
use domain::firmware::{ClusterRollout, FirmwareNode, FirmwareView, RolloutDraft, UpgradeDraft};
use domain::workflow::{WorkflowAction, WorkflowView};
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;

/// Where the upload form sends the file (with `version`, `target` and `notes` in the query).
pub const UPLOAD_PATH: &str = "/api/firmware/upload";

#[server(endpoint = "firmware_artifacts")]
pub async fn firmware_artifacts() -> Result<Snapshot<Vec<FirmwareView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.firmware.list(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "delete_firmware")]
pub async fn delete_firmware(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.firmware.delete(&actor, &id).await.map_err(fail)
}

#[server(endpoint = "firmware_nodes")]
pub async fn firmware_nodes() -> Result<Vec<FirmwareNode>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel.firmware.nodes(&actor).await.map_err(fail)
}

/// Takes JSON: the draft holds a list of nodes.
#[server(endpoint = "upgrade_nodes", input = leptos::server_fn::codec::Json)]
pub async fn upgrade_nodes(draft: UpgradeDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.firmware.upgrade(&actor, &draft).await.map_err(fail)
}

/// Takes JSON like the standalone upgrade.
#[server(endpoint = "rollout_firmware", input = leptos::server_fn::codec::Json)]
pub async fn rollout_firmware(draft: RolloutDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.firmware.rollout(&actor, &draft).await.map_err(fail)
}

#[server(endpoint = "firmware_activity")]
pub async fn firmware_activity() -> Result<Snapshot<Vec<WorkflowView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.firmware.activity(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "act_on_firmware_upgrade")]
pub async fn act_on_firmware_upgrade(
    workflow_id: String,
    action: WorkflowAction,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .firmware
        .act(&actor, &workflow_id, action)
        .await
        .map_err(fail)
}

#[server(endpoint = "rollout_gates")]
pub async fn rollout_gates(cluster_id: String) -> Result<Vec<Gate>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel
        .firmware
        .gates(&actor, &cluster_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "add_rollout_gate", input = leptos::server_fn::codec::Json)]
pub async fn add_rollout_gate(cluster_id: String, draft: GateDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .firmware
        .add_gate(&actor, &cluster_id, &draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_rollout_gate")]
pub async fn delete_rollout_gate(cluster_id: String, gate_id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .firmware
        .delete_gate(&actor, &cluster_id, &gate_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "firmware_rollouts")]
pub async fn firmware_rollouts() -> Result<Snapshot<Vec<ClusterRollout>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.firmware.rollouts(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

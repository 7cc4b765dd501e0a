//! The async-standby volume's steps (two-node clusters): the role each node gets, from the
//! panel's record of the volume — its primary, epoch and sealed sync key — made at the first
//! step that needs it.
use domain::protocol::Command;
use domain::standby::{PRIMARY_LABEL, primary_constraint};
use domain::storage::{StorageCommand, VOLUMES_DIR};
use domain::swarm::NodeLabel;
use domain::workload::compose::MountKind;
use domain::workload::spec::ServiceSpec;

use super::plans::VolumeStep;
use super::steps::address_of;
use crate::ControlError;
use crate::clusters::managers::{self, Failure, NODE_WAIT};
use crate::gateway::Gateway;
use crate::store::{ClusterRow, MemberRow, StandbyRow, Store};
use crate::vault::Vault;

/// What the sync key is sealed for (a sealed key copied to another cluster does not open).
fn key_context(cluster_id: &str) -> String {
    format!("standby-sync-key:{cluster_id}")
}

/// The panel's record of the cluster's async volume, made now (epoch 1, a fresh key) when
/// there is none, with `primary` as its primary.
async fn record(
    store: &Store,
    vault: &Vault,
    cluster_id: &str,
    primary: &str,
) -> Result<StandbyRow, ControlError> {
    if let Some(row) = store.standby(cluster_id).await? {
        return Ok(row);
    }
    let row = StandbyRow {
        cluster_id: cluster_id.to_owned(),
        primary_node_id: primary.to_owned(),
        epoch: 1,
        sync_key: vault.seal(&crate::secret::sync_key(), &key_context(cluster_id))?,
    };
    store.standby_or_insert(&row).await
}

/// A node's Swarm labels: the operator's `labels`, plus the primary's label on the async
/// volume's primary (services on the volume are placed there).
pub async fn swarm_labels(
    store: &Store,
    cluster_id: &str,
    node_id: &str,
    mut labels: Vec<NodeLabel>,
) -> Result<Vec<NodeLabel>, ControlError> {
    if let Some(row) = store.standby(cluster_id).await?
        && row.primary_node_id == node_id
    {
        labels.push(NodeLabel {
            key: PRIMARY_LABEL.to_owned(),
            value: "true".to_owned(),
        });
    }
    Ok(labels)
}

/// The async volume's primary, when the cluster has one.
pub async fn primary(store: &Store, cluster_id: &str) -> Result<Option<String>, ControlError> {
    Ok(store.standby(cluster_id).await?.map(|r| r.primary_node_id))
}

/// Services that bind-mount the cluster volume run on the async volume's primary only (its data
/// is live there; the standby holds snapshots).
pub fn place_on_primary(services: &mut [ServiceSpec]) {
    for s in services {
        let on_volume = s.mounts.iter().any(|m| {
            m.kind == MountKind::Bind
                && m.source
                    .as_deref()
                    .is_some_and(|src| src.starts_with(&format!("{VOLUMES_DIR}/")))
        });
        if on_volume {
            s.constraints.push(primary_constraint());
        }
    }
}

/// Runs one async-standby step.
pub async fn run(
    gateway: &Gateway,
    store: &Store,
    vault: &Vault,
    cluster: &ClusterRow,
    members: &[MemberRow],
    step: &VolumeStep,
) -> Result<(), Failure> {
    let panel = |e: ControlError| Failure::Refused(crate::error::in_step(&cluster.id, e));
    let other = |node_id: &str| {
        members
            .iter()
            .find(|m| m.node_id != node_id)
            .ok_or_else(|| Failure::Refused("the cluster has no second node".into()))
    };
    let key = |row: &StandbyRow| {
        vault
            .open(&row.sync_key, &key_context(&cluster.id))
            .map_err(panel)
    };
    let sync_secs = cluster.definition.volume_sync_secs;
    let (node_id, cmd) = match step {
        VolumeStep::Standby { node_id } => {
            let primary = other(node_id)?;
            let row = record(store, vault, &cluster.id, &primary.node_id)
                .await
                .map_err(panel)?;
            if row.primary_node_id == *node_id {
                return Err(Failure::Refused(format!(
                    "node {node_id} is the cluster volume's primary"
                )));
            }
            let cmd = StorageCommand::Standby {
                epoch: row.epoch,
                key: key(&row)?,
            };
            (node_id, cmd)
        }
        VolumeStep::Primary { node_id } => {
            let row = record(store, vault, &cluster.id, node_id)
                .await
                .map_err(panel)?;
            if row.primary_node_id != *node_id {
                return Err(Failure::Refused(format!(
                    "node {node_id} is not the cluster volume's primary"
                )));
            }
            let cmd = StorageCommand::Primary {
                epoch: row.epoch,
                peer: address_of(other(node_id)?)?,
                key: key(&row)?,
                sync_secs,
            };
            (node_id, cmd)
        }
        VolumeStep::Promote { node_id, from } => {
            let old = members
                .iter()
                .find(|m| m.node_id == *from)
                .ok_or_else(|| Failure::Refused("the old primary is no longer a member".into()))?;
            let row = store
                .promote_standby(&cluster.id, node_id)
                .await
                .map_err(panel)?;
            tracing::warn!(cluster = %cluster.id, primary = %node_id, epoch = row.epoch, "async volume taken over by the standby");
            let cmd = StorageCommand::Primary {
                epoch: row.epoch,
                peer: address_of(old)?,
                key: key(&row)?,
                sync_secs,
            };
            (node_id, cmd)
        }
        VolumeStep::Handover { node_id } => {
            let row = store
                .standby(&cluster.id)
                .await
                .map_err(panel)?
                .ok_or_else(|| Failure::Refused("the cluster has no async volume".into()))?;
            // Run again after the standby took over: the node has handed over already.
            if row.primary_node_id != *node_id {
                return Ok(());
            }
            (node_id, StorageCommand::Handover)
        }
        VolumeStep::StandbyOff { node_id } => (node_id, StorageCommand::StandbyOff),
        VolumeStep::Forget => {
            return store.delete_standby(&cluster.id).await.map_err(panel);
        }
        _ => return Err(Failure::Refused("not an async-standby step".into())),
    };
    managers::on_node(gateway, store, node_id, Command::Storage(cmd), NODE_WAIT)
        .await
        .map(drop)
}

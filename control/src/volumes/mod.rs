//! Cluster volumes: the cluster's replicated GlusterFS volume (three nodes or more) or its
//! async-standby btrfs volume (two nodes), set up, mounted and taken down on its nodes through
//! their agents (see `docs/volumes.md`). One file per concern:
//! * [`plans`]: which steps set the volume up or take it down, on which nodes (run as steps of
//!   the cluster workflows: creating, deleting, adding and removing nodes, turning volumes on
//!   and off);
//! * [`steps`]: what each step asks of which agent;
//! * [`standby`]: the async-standby volume's steps and the panel's record of it (two nodes);
//! * [`failover`]: the standby taking over from a silent primary, and a returned old primary
//!   made the standby;
//! * [`gates`]: whether the copies are whole, for maintenance (firmware rollouts).
//!
//! The volume's copies live on the cluster's first [`domain::storage::REPLICAS`] members (member
//! order); every member mounts it.
pub mod failover;
pub mod gates;
pub mod plans;
pub mod standby;
pub mod steps;

use domain::cluster::Definition;
use domain::storage::{VolumeInUse, VolumeMode, volume_dir};
use domain::workload::compose::MountKind;
use domain::workload::spec::scoped;

use crate::ControlError;
use crate::store::Store;

/// The mode of the cluster volume a cluster of `count` members with `definition` has on its
/// nodes; `None` without one.
pub fn mode(definition: &Definition, count: usize) -> Option<VolumeMode> {
    definition
        .volumes
        .then(|| VolumeMode::for_nodes(count).ok())
        .flatten()
}

/// Whether that volume is the replicated one (the one with copies to heal).
pub fn replicated(definition: &Definition, count: usize) -> bool {
    mode(definition, count) == Some(VolumeMode::Replicated)
}

/// The apps installed on the cluster that keep data on its cluster volume (by name).
pub async fn users(store: &Store, cluster_id: &str) -> Result<Vec<String>, ControlError> {
    let mut names: Vec<String> = in_use(store, cluster_id)
        .await?
        .into_iter()
        .map(|v| v.app)
        .collect();
    names.dedup();
    Ok(names)
}

/// The apps' volumes on the cluster volume, with the services that mount each (in the order
/// the apps were installed and their files declare them).
pub async fn in_use(store: &Store, cluster_id: &str) -> Result<Vec<VolumeInUse>, ControlError> {
    let mut out = vec![];
    for w in store.workloads_of(cluster_id).await? {
        let Some(version) = store.version_by_id(&w.version_id).await? else {
            continue;
        };
        let compose = crate::workloads::steps::parsed(&version)?;
        for v in compose.cluster_volumes() {
            let services = compose
                .services
                .iter()
                .filter(|s| {
                    s.mounts.iter().any(|m| {
                        m.kind == MountKind::Volume && m.source.as_deref() == Some(v.name.as_str())
                    })
                })
                .map(|s| scoped(&w.name, &s.name))
                .collect();
            out.push(VolumeInUse {
                app: w.name.clone(),
                volume: v.name.clone(),
                path: volume_dir(&w.name, &v.name),
                services,
                bytes: None,
            });
        }
    }
    Ok(out)
}

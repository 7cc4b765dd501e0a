//! Cluster volumes: the cluster's replicated GlusterFS volume, set up, mounted and taken down on
//! its nodes through their agents (see `docs/volumes.md`). One file per concern:
//! * [`plans`]: which steps set the volume up or take it down, on which nodes (run as steps of
//!   the cluster workflows: creating, deleting, adding and removing nodes, turning volumes on
//!   and off);
//! * [`steps`]: what each step asks of which agent;
//! * [`gates`]: whether the copies are whole, for maintenance (firmware rollouts).
//!
//! The volume's copies live on the cluster's first [`domain::storage::REPLICAS`] members (member
//! order); every member mounts it.
pub mod gates;
pub mod plans;
pub mod steps;

use domain::cluster::Definition;
use domain::storage::VolumeMode;

use crate::ControlError;
use crate::store::Store;

/// Whether a cluster of `count` members with `definition` has a replicated volume on its nodes
/// (async standby is not built yet: docs/volumes.md).
pub fn replicated(definition: &Definition, count: usize) -> bool {
    definition.volumes && VolumeMode::for_nodes(count) == Ok(VolumeMode::Replicated)
}

/// The apps installed on the cluster that keep data on its cluster volume (by name).
pub async fn users(store: &Store, cluster_id: &str) -> Result<Vec<String>, ControlError> {
    let mut names = vec![];
    for w in store.workloads_of(cluster_id).await? {
        let Some(version) = store.version_by_id(&w.version_id).await? else {
            continue;
        };
        if !crate::workloads::steps::parsed(&version)?
            .cluster_volumes()
            .is_empty()
        {
            names.push(w.name);
        }
    }
    Ok(names)
}

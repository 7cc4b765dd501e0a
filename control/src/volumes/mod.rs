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

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

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
        for (volume, services) in declared(store, &w.version_id).await?.iter() {
            out.push(VolumeInUse {
                app: w.name.clone(),
                volume: volume.clone(),
                path: volume_dir(&w.name, volume),
                services: services.iter().map(|s| scoped(&w.name, s)).collect(),
                bytes: None,
            });
        }
    }
    Ok(out)
}

/// An app version's cluster volumes, each with the services (by their name in the file) that
/// mount it.
type Declared = Arc<Vec<(String, Vec<String>)>>;

/// What each app version declares, by version id: a version never changes, so its file is read
/// and parsed once per process (a cluster page asks on every refresh).
static DECLARED: LazyLock<Mutex<HashMap<String, Declared>>> = LazyLock::new(Mutex::default);

async fn declared(store: &Store, version_id: &str) -> Result<Declared, ControlError> {
    let known = DECLARED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(version_id)
        .cloned();
    if let Some(known) = known {
        return Ok(known);
    }
    // A version deleted meanwhile (its app uninstalled) declares nothing; not remembered.
    let Some(version) = store.version_by_id(version_id).await? else {
        return Ok(Declared::default());
    };
    let compose = crate::workloads::specs::parsed(&version)?;
    let list: Declared = Arc::new(
        compose
            .cluster_volumes()
            .into_iter()
            .map(|v| {
                let services = compose
                    .services
                    .iter()
                    .filter(|s| {
                        s.mounts.iter().any(|m| {
                            m.kind == MountKind::Volume
                                && m.source.as_deref() == Some(v.name.as_str())
                        })
                    })
                    .map(|s| s.name.clone())
                    .collect();
                (v.name.clone(), services)
            })
            .collect(),
    );
    DECLARED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(version_id.to_owned(), list.clone());
    Ok(list)
}

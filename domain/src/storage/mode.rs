//! The mode a cluster's volumes take from its number of nodes, and what a node lacks for it.
use serde::{Deserialize, Serialize};

use super::{BRICKS_DIR, DiskFacts, MAX_SYNC_SECS, MIN_SYNC_SECS, SNAPSHOTS_DIR, StorageFacts};
use crate::ValidationError;
use crate::cluster::Candidate;

/// The least free space a node's volume disk must have to be offered (100 MiB).
pub const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// The file systems GlusterFS bricks are supported on.
const BRICK_FILE_SYSTEMS: [&str; 2] = ["xfs", "ext4"];

/// How a cluster's volumes are kept, chosen from its number of nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeMode {
    /// GlusterFS, a copy on three nodes, a write acknowledged once a quorum holds it: no
    /// acknowledged write is lost; I/O pauses a few seconds when a node vanishes.
    Replicated,
    /// A primary and a standby: a snapshot shipped every sync interval. What was written since
    /// the last complete one is lost when the primary dies.
    AsyncStandby,
}

impl VolumeMode {
    /// Replicated from three nodes, async standby on two; one node has nothing to fail over to.
    pub fn for_nodes(nodes: usize) -> Result<Self, String> {
        match nodes {
            0 | 1 => Err(
                "cluster volumes need at least 2 nodes (async standby on 2, replicated from 3)"
                    .into(),
            ),
            2 => Ok(Self::AsyncStandby),
            _ => Ok(Self::Replicated),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Replicated => "Replicated",
            Self::AsyncStandby => "Async standby",
        }
    }

    /// What the mode promises, in the operator's words.
    pub fn promise(self) -> &'static str {
        match self {
            Self::Replicated => {
                "GlusterFS keeps a copy on three nodes: no acknowledged write is lost when a node \
                 fails; writes pause for about 5–7 s when one vanishes."
            }
            Self::AsyncStandby => {
                "The primary's volume is snapshotted and shipped to the standby every sync \
                 interval: when the primary fails, what was written since the last complete \
                 snapshot is lost."
            }
        }
    }
}

/// What becomes of the replicated volume's copy held by a member that leaves: the copies live
/// on the first [`REPLICAS`](super::REPLICAS) members (member order), so the first member beyond
/// them takes it, and becomes one of the first once the leaving member is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyOnLeave {
    /// The member holds no copy.
    NoCopy,
    /// The copy moves to the member at this position.
    MovesTo(usize),
    /// Every member holds a copy: there is no member to take it.
    Nowhere,
}

impl CopyOnLeave {
    /// For the member at `position` of `members` (member order).
    pub fn of(position: usize, members: usize) -> Self {
        if position >= super::REPLICAS {
            Self::NoCopy
        } else if members > super::REPLICAS {
            Self::MovesTo(super::REPLICAS)
        } else {
            Self::Nowhere
        }
    }
}

/// What a node with `facts` lacks to hold volumes in `mode`; empty when nothing.
pub fn missing(mode: VolumeMode, facts: &StorageFacts) -> Vec<String> {
    let mut lacks = Vec::new();
    let disk = |lacks: &mut Vec<String>, disk: &Option<DiskFacts>, path: &str, kinds: &[&str]| {
        match disk {
            None => lacks.push(format!(
                "no disk mounted at {path} ({} file system, not the root one)",
                kinds.join(" or ")
            )),
            Some(d) if !kinds.contains(&d.fs.as_str()) => lacks.push(format!(
                "the disk at {path} is {}, not {}",
                d.fs,
                kinds.join(" or ")
            )),
            Some(d) if d.available_bytes < MIN_FREE_BYTES => lacks.push(format!(
                "the disk at {path} has {} MiB free (at least {} MiB needed)",
                d.available_bytes / (1024 * 1024),
                MIN_FREE_BYTES / (1024 * 1024)
            )),
            Some(_) => {}
        }
    };
    match mode {
        VolumeMode::Replicated => {
            if facts.gluster.is_none() {
                lacks
                    .push("GlusterFS is not installed (glusterfs-server, glusterfs-client)".into());
            } else if !facts.glusterd {
                lacks.push("glusterd does not answer".into());
            }
            if !facts.fuse {
                lacks.push("the kernel offers no FUSE (/dev/fuse)".into());
            }
            disk(&mut lacks, &facts.bricks, BRICKS_DIR, &BRICK_FILE_SYSTEMS);
        }
        VolumeMode::AsyncStandby => {
            if !facts.btrfs_tools {
                lacks.push("btrfs-progs is not installed".into());
            }
            disk(&mut lacks, &facts.snapshots, SNAPSHOTS_DIR, &["btrfs"]);
        }
    }
    lacks
}

/// Cluster volumes on a cluster of `count` nodes: the mode that gives, and for each of `nodes`
/// that lacks what it needs a problem keyed `members.<node id>.volumes` (or `volumes` when the
/// cluster is too small). Run by the wizard inline and by the server.
pub fn check_nodes(
    count: usize,
    nodes: &[&Candidate],
    problems: &mut Vec<ValidationError>,
) -> Option<VolumeMode> {
    let mode = match VolumeMode::for_nodes(count) {
        Ok(mode) => mode,
        Err(m) => {
            problems.push(ValidationError::new("volumes", m));
            return None;
        }
    };
    for c in nodes {
        let lacks = missing(mode, &c.storage);
        if !lacks.is_empty() {
            problems.push(ValidationError::new(
                format!("members.{}.volumes", c.node_id),
                format!(
                    "{} cannot hold {} volumes: {}",
                    c.hostname,
                    mode.label().to_lowercase(),
                    lacks.join("; ")
                ),
            ));
        }
    }
    Some(mode)
}

/// The async mode's sync interval in whole seconds ([`MIN_SYNC_SECS`]–[`MAX_SYNC_SECS`]).
pub fn parse_sync_secs(value: &str) -> Result<u32, String> {
    let bad = || format!("a whole number of seconds from {MIN_SYNC_SECS} to {MAX_SYNC_SECS}");
    let secs: u32 = value.trim().parse().map_err(|_| bad())?;
    if (MIN_SYNC_SECS..=MAX_SYNC_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(bad())
    }
}

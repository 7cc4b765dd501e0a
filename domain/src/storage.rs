//! Cluster volumes: what a node offers for them (reported with its facts), the mode a cluster's
//! volumes take from its number of nodes, and what a node lacks for that mode. See
//! `docs/volumes.md`.
use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::cluster::Candidate;

/// Where a node keeps cluster volumes; the same on every node (the agent's defaults).
pub const BRICKS_DIR: &str = "/var/lib/flotilla/bricks";
pub const SNAPSHOTS_DIR: &str = "/var/lib/flotilla/snapshots";
pub const VOLUMES_DIR: &str = "/var/lib/flotilla/volumes";

/// The async mode's sync interval: its default and bounds, in seconds.
pub const DEFAULT_SYNC_SECS: u32 = 5;
pub const MIN_SYNC_SECS: u32 = 1;
pub const MAX_SYNC_SECS: u32 = 3600;

/// The cluster's replicated GlusterFS volume (one per cluster: a node is in one cluster, and the
/// trusted pool of its glusterd is that cluster's). Its brick on a node is [`brick_path`].
pub const VOLUME_NAME: &str = "flotilla";

/// Swarm's dispatcher heartbeat on a cluster with a cluster volume, and Swarm's default: with
/// 2 s a crashed node's task on the volume ran again elsewhere about 6.5 s after the crash in the
/// lab (docs/volumes.md); with 5 s, several seconds later.
pub const VOLUME_HEARTBEAT_SECS: u8 = 2;
pub const DEFAULT_HEARTBEAT_SECS: u8 = 5;

/// How many copies a replicated volume keeps: on the cluster's first three nodes (member order).
pub const REPLICAS: usize = 3;

/// Options every replicated volume gets at creation. GlusterFS's defaults freeze every client
/// of the volume (dockerd included) for 42 s when a node vanishes without a word; with these the
/// surviving clients stalled 5.5–6.9 s in the lab (docs/volumes.md). The self-heal daemon looks
/// for entries to heal every 10 s instead of 600 s: a client that died in the middle of a write
/// leaves its file marked on every copy, and the maintenance gates wait for nothing to heal.
pub const VOLUME_OPTIONS: [(&str, &str); 10] = [
    ("network.ping-timeout", "5"),
    ("client.tcp-user-timeout", "5"),
    ("server.tcp-user-timeout", "5"),
    ("client.keepalive-time", "5"),
    ("client.keepalive-interval", "1"),
    ("client.keepalive-count", "3"),
    ("server.keepalive-time", "5"),
    ("server.keepalive-interval", "1"),
    ("server.keepalive-count", "3"),
    ("cluster.heal-timeout", "10"),
];

/// The compose `driver` that makes a volume a cluster volume: a directory of the cluster's
/// replicated volume ([`volume_dir`]), bind-mounted into the services that use it.
pub const CLUSTER_VOLUME_DRIVER: &str = "flotilla-cluster";

/// The service (deploy) label by which an app says a service is safe with several writers on
/// its cluster volumes; without it such a service runs one task, updated stop-first.
pub const MULTI_WRITER_LABEL: &str = "io.flotilla.multi-writer";

/// The directory of an app's cluster volume, relative to [`VOLUMES_DIR`].
pub fn volume_subdir(stack: &str, volume: &str) -> String {
    format!("{stack}/{volume}")
}

/// Where an app's cluster volume is on every node (bind-mounted into its services).
pub fn volume_dir(stack: &str, volume: &str) -> String {
    format!("{VOLUMES_DIR}/{}", volume_subdir(stack, volume))
}

/// Where a node keeps its copy of the volume `volume` (a directory on the bricks disk: GlusterFS
/// refuses the root of a mount point).
pub fn brick_path(volume: &str) -> String {
    format!("{BRICKS_DIR}/{volume}")
}

/// What the panel asks of a node's storage (a command's body). Every one is idempotent: what
/// holds already is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StorageCommand {
    /// From this node, bring these addresses into its GlusterFS trusted pool and wait until each
    /// is connected.
    Peers { addresses: Vec<String> },
    /// Create the replicated volume with these bricks (`address:path`, one per node), set
    /// [`VOLUME_OPTIONS`] and start it (run on the node of the first brick).
    CreateVolume { volume: String, bricks: Vec<String> },
    /// Mount the volume at [`VOLUMES_DIR`] over FUSE from these servers (the first, then the
    /// others as backups) and wait until the mount answers. A dead mount is replaced.
    Mount {
        volume: String,
        servers: Vec<String>,
    },
    /// Unmount [`VOLUMES_DIR`].
    Unmount,
    /// Stop and delete the volume, then let these addresses leave the trusted pool (run on the
    /// node of the first brick).
    DeleteVolume { volume: String, peers: Vec<String> },
    /// Remove this node's brick directory of a deleted volume (GlusterFS refuses a directory
    /// that held a brick for a new volume).
    ClearBrick { volume: String },
    /// Async standby: make this node the primary of `epoch`. Its live data (kept when it was
    /// the primary already; else a writable copy of the newest complete snapshot it received,
    /// or a new empty volume) is mounted at [`VOLUMES_DIR`], and a snapshot goes to `peer` on
    /// [`crate::standby::SYNC_PORT`] every `sync_secs`, over a channel keyed with `key`
    /// (base64 of [`crate::standby::KEY_BYTES`] random bytes).
    Primary {
        epoch: u64,
        peer: String,
        key: String,
        sync_secs: u32,
    },
    /// Async standby: make this node the standby of `epoch`: it receives the primary's
    /// snapshots and keeps the newest complete one. Live data it held as an older primary is
    /// kept as a conflict snapshot, never merged.
    Standby { epoch: u64, key: String },
    /// Async standby: stop either role and delete the volume's data on this node.
    StandbyOff,
    /// Async standby, on the primary before maintenance (its node drained): wait until no
    /// container here uses the volume any more, send a last snapshot to the standby, then drop
    /// the live data (the standby holds all of it) and wait as the standby of the same epoch.
    /// Done already on a node that is the standby.
    Handover,
    /// Make the apps' directories (`stack/volume`) on the volume mounted here (the async
    /// volume's primary: where its data is live).
    MakeDirs { dirs: Vec<String> },
}

/// The volume mounted at [`VOLUMES_DIR`] on a node, as its agent sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountFacts {
    /// What is mounted (`10.77.0.11:/flotilla`).
    pub source: String,
    /// The mount answered a `stat` within the tool timeout (a FUSE mount whose client died or
    /// whose servers are unreachable hangs or fails).
    pub live: bool,
}

/// An app's cluster volume, as the cluster page lists it: where it is on every node and which
/// of the app's services use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInUse {
    pub app: String,
    pub volume: String,
    /// [`volume_dir`] of it.
    pub path: String,
    /// The services (Swarm names) that mount it.
    pub services: Vec<String>,
    /// The space it takes: the most a node holding its data reported in its last heartbeats
    /// (`None` before one did).
    pub bytes: Option<u64>,
}

/// The least free space a node's volume disk must have to be offered (100 MiB).
pub const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// The file systems GlusterFS bricks are supported on.
const BRICK_FILE_SYSTEMS: [&str; 2] = ["xfs", "ext4"];

/// What a node offers for cluster volumes, as its agent found it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFacts {
    /// GlusterFS's version, when its CLI is installed ("10.3").
    pub gluster: Option<String>,
    /// The node's glusterd answered its CLI.
    pub glusterd: bool,
    /// The kernel offers FUSE (`/dev/fuse`), through which GlusterFS volumes are mounted.
    pub fuse: bool,
    /// btrfs-progs is installed (async mode ships snapshots with `btrfs send`).
    pub btrfs_tools: bool,
    /// The disk mounted at [`BRICKS_DIR`], if one is (a mount point of its own).
    pub bricks: Option<DiskFacts>,
    /// The disk mounted at [`SNAPSHOTS_DIR`], if one is.
    pub snapshots: Option<DiskFacts>,
    /// The cluster volume mounted at [`VOLUMES_DIR`], if one is.
    #[serde(default)]
    pub mount: Option<MountFacts>,
    /// The node is fenced: it cannot reach most of the volume's nodes, and stops its tasks that
    /// use the volume.
    #[serde(default)]
    pub fenced: bool,
    /// The volume's copies, as seen from this node when it holds one (a brick).
    #[serde(default)]
    pub copies: Option<CopiesFacts>,
    /// The async-standby volume on this node, when it has a role in one.
    #[serde(default)]
    pub standby: Option<crate::standby::StandbyFacts>,
    /// The node's GlusterFS peers, when it holds a copy of the replicated volume.
    #[serde(default)]
    pub peers: Option<PeersFacts>,
}

/// A node's GlusterFS trusted pool as its glusterd sees it (itself not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersFacts {
    pub peers: u8,
    pub connected: u8,
}

/// The cluster volume's state on a node, sent with every heartbeat while the node takes part in
/// a volume (the facts carry the same, read less often): the mount and whether it answers, the
/// fence, the copies and peers (replicated), the sync (async).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeBeat {
    pub mount: Option<MountFacts>,
    pub fenced: bool,
    pub copies: Option<CopiesFacts>,
    pub peers: Option<PeersFacts>,
    pub standby: Option<crate::standby::StandbyFacts>,
    /// The apps' volumes where this node holds their data (at most [`MAX_SIZES`]).
    #[serde(default)]
    pub sizes: Vec<VolumeSize>,
}

/// The most app volumes a beat reports the size of.
pub const MAX_SIZES: usize = 256;

/// The space an app's volume takes where a node holds its data (its copy of the replicated
/// volume, or the async primary's live data), as `du` counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSize {
    /// `app/volume`, as the directory on the cluster volume is named.
    pub dir: String,
    pub bytes: u64,
}

impl VolumeBeat {
    /// The beat without the sync's progress and the sizes (which move all the time): what the
    /// cluster's status depends on, for "did anything change?".
    pub fn quiet(&self) -> Self {
        Self {
            standby: self
                .standby
                .as_ref()
                .map(crate::standby::StandbyFacts::quiet),
            sizes: vec![],
            ..self.clone()
        }
    }

    /// Bounds every string (as [`StorageFacts::cap`]); true when anything was cut.
    pub fn cap(&mut self) -> bool {
        let mut cut = self
            .mount
            .as_mut()
            .is_some_and(|m| crate::node::cap(&mut m.source, crate::node::caps::TEXT));
        cut |= self.standby.as_mut().is_some_and(|s| s.cap());
        if self.sizes.len() > MAX_SIZES {
            self.sizes.truncate(MAX_SIZES);
            cut = true;
        }
        for s in &mut self.sizes {
            cut |= crate::node::cap(&mut s.dir, crate::node::caps::TEXT);
        }
        cut
    }

    /// These facts with the beat's newer values.
    pub fn over(&self, facts: &StorageFacts) -> StorageFacts {
        StorageFacts {
            mount: self.mount.clone(),
            fenced: self.fenced,
            copies: self.copies,
            peers: self.peers,
            standby: self.standby.clone(),
            ..facts.clone()
        }
    }
}

/// The replicated volume's copies as a node that holds one sees them (GlusterFS's heal summary):
/// how many bricks answer, and what some copy has still to receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiesFacts {
    pub bricks: u8,
    pub bricks_up: u8,
    /// Entries that some copy has still to receive (0 once every copy is whole again).
    pub to_heal: u64,
    /// Entries whose copies disagree with no majority to settle it (an operator must choose).
    pub split_brain: u64,
}

impl CopiesFacts {
    /// Every copy answers and holds everything.
    pub fn whole(&self) -> bool {
        self.bricks_up == self.bricks && self.to_heal == 0 && self.split_brain == 0
    }

    /// The worst of what several nodes report (they look at the same volume at other moments).
    pub fn worst(views: impl IntoIterator<Item = CopiesFacts>) -> Option<CopiesFacts> {
        views.into_iter().reduce(|a, b| CopiesFacts {
            bricks: a.bricks.max(b.bricks),
            bricks_up: a.bricks_up.min(b.bricks_up),
            to_heal: a.to_heal.max(b.to_heal),
            split_brain: a.split_brain.max(b.split_brain),
        })
    }

    /// In words, for the cluster's status and its Swarm card.
    pub fn describe(&self) -> String {
        let mut words = format!("{} of {} copies answer", self.bricks_up, self.bricks);
        if self.to_heal > 0 {
            words.push_str(&format!(", {} entries to heal", self.to_heal));
        }
        if self.split_brain > 0 {
            words.push_str(&format!(", {} in split-brain", self.split_brain));
        }
        words
    }
}

/// A disk mounted where cluster volumes live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFacts {
    pub path: String,
    /// Its file system (`xfs`, `ext4`, `btrfs`…).
    pub fs: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl StorageFacts {
    /// Bounds every string (see [`crate::node::caps`]); true when anything was cut.
    pub fn cap(&mut self) -> bool {
        use crate::node::{cap, caps};
        let mut cut = self.gluster.as_mut().is_some_and(|g| cap(g, caps::SHORT));
        if let Some(m) = self.mount.as_mut() {
            cut |= cap(&mut m.source, caps::TEXT);
        }
        for d in [&mut self.bricks, &mut self.snapshots]
            .into_iter()
            .flatten()
        {
            cut |= cap(&mut d.path, caps::TEXT);
            cut |= cap(&mut d.fs, caps::SHORT);
        }
        cut | self.standby.as_mut().is_some_and(|s| s.cap())
    }

    /// The facts with the always-changing values (free space) zeroed, for "did anything change?".
    pub fn stable(&self) -> Self {
        let still = |d: &Option<DiskFacts>| {
            d.as_ref().map(|d| DiskFacts {
                available_bytes: 0,
                ..d.clone()
            })
        };
        Self {
            bricks: still(&self.bricks),
            snapshots: still(&self.snapshots),
            // The sync's progress goes with every heartbeat (VolumeBeat), not as new facts.
            standby: self
                .standby
                .as_ref()
                .map(crate::standby::StandbyFacts::quiet),
            ..self.clone()
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, fs: &str, free_mib: u64) -> Option<DiskFacts> {
        Some(DiskFacts {
            path: path.into(),
            fs: fs.into(),
            total_bytes: 1 << 30,
            available_bytes: free_mib * 1024 * 1024,
        })
    }

    fn ready() -> StorageFacts {
        StorageFacts {
            gluster: Some("10.3".into()),
            glusterd: true,
            fuse: true,
            btrfs_tools: true,
            bricks: disk(BRICKS_DIR, "xfs", 500),
            snapshots: disk(SNAPSHOTS_DIR, "btrfs", 200),
            mount: None,
            fenced: false,
            copies: None,
            standby: None,
            peers: None,
        }
    }

    #[test]
    fn the_mode_follows_the_number_of_nodes() {
        assert!(VolumeMode::for_nodes(1).is_err());
        assert_eq!(VolumeMode::for_nodes(2), Ok(VolumeMode::AsyncStandby));
        assert_eq!(VolumeMode::for_nodes(3), Ok(VolumeMode::Replicated));
        assert_eq!(VolumeMode::for_nodes(7), Ok(VolumeMode::Replicated));
    }

    #[test]
    fn a_ready_node_lacks_nothing_in_either_mode() {
        assert!(missing(VolumeMode::Replicated, &ready()).is_empty());
        assert!(missing(VolumeMode::AsyncStandby, &ready()).is_empty());
    }

    #[test]
    fn each_missing_part_is_named() {
        let none = StorageFacts::default();
        let replicated = missing(VolumeMode::Replicated, &none);
        assert_eq!(replicated.len(), 3, "{replicated:?}");
        assert!(replicated[0].contains("GlusterFS is not installed"));
        assert!(replicated[1].contains("FUSE"));
        assert!(replicated[2].contains(BRICKS_DIR));
        let asynchronous = missing(VolumeMode::AsyncStandby, &none);
        assert_eq!(asynchronous.len(), 2, "{asynchronous:?}");

        let quiet = StorageFacts {
            glusterd: false,
            ..ready()
        };
        assert_eq!(
            missing(VolumeMode::Replicated, &quiet),
            vec!["glusterd does not answer".to_string()]
        );
        let wrong_fs = StorageFacts {
            bricks: disk(BRICKS_DIR, "btrfs", 500),
            snapshots: disk(SNAPSHOTS_DIR, "ext4", 500),
            ..ready()
        };
        assert!(
            missing(VolumeMode::Replicated, &wrong_fs)[0].contains("is btrfs, not xfs or ext4")
        );
        assert!(missing(VolumeMode::AsyncStandby, &wrong_fs)[0].contains("is ext4, not btrfs"));
        let full = StorageFacts {
            bricks: disk(BRICKS_DIR, "xfs", 20),
            ..ready()
        };
        assert!(missing(VolumeMode::Replicated, &full)[0].contains("20 MiB free"));
    }

    #[test]
    fn each_node_that_lacks_a_part_is_named_with_its_reasons() {
        let node = |id: &str, storage: StorageFacts| Candidate {
            node_id: id.into(),
            hostname: format!("edge-{id}"),
            online: true,
            cluster: None,
            swarm_state: "inactive".into(),
            interfaces: vec![],
            storage,
        };
        let (a, b) = (node("a", ready()), node("b", StorageFacts::default()));
        let mut problems = vec![];
        assert_eq!(
            check_nodes(3, &[&a, &b], &mut problems),
            Some(VolumeMode::Replicated)
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "members.b.volumes");
        assert!(
            problems[0]
                .message
                .starts_with("edge-b cannot hold replicated volumes: GlusterFS is not installed"),
            "{}",
            problems[0].message
        );
        let mut problems = vec![];
        assert_eq!(check_nodes(1, &[&a], &mut problems), None);
        assert_eq!(problems[0].field, "volumes");
        let mut problems = vec![];
        assert_eq!(
            check_nodes(2, &[&a], &mut problems),
            Some(VolumeMode::AsyncStandby)
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn the_sync_interval_is_whole_seconds_within_bounds() {
        assert_eq!(parse_sync_secs("5"), Ok(5));
        assert_eq!(parse_sync_secs(" 3600 "), Ok(3600));
        for bad in ["0", "-1", "0.5", "3601", "", "five"] {
            assert!(parse_sync_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_space_is_not_a_change() {
        let mut later = ready();
        if let Some(d) = later.bricks.as_mut() {
            d.available_bytes -= 1;
        }
        assert_eq!(ready().stable(), later.stable());
        assert_ne!(ready().stable(), StorageFacts::default().stable());
    }

    #[test]
    fn sizes_move_without_a_change_of_state_and_are_bounded() {
        let size = |dir: &str, bytes| VolumeSize {
            dir: dir.into(),
            bytes,
        };
        let beat = VolumeBeat {
            sizes: vec![size("keeper/data", 4096)],
            ..Default::default()
        };
        let grown = VolumeBeat {
            sizes: vec![size("keeper/data", 8192)],
            ..Default::default()
        };
        assert_eq!(beat.quiet(), grown.quiet());
        assert_ne!(beat, grown);
        let mut many = VolumeBeat {
            sizes: (0..MAX_SIZES + 3)
                .map(|i| size(&format!("app{i}/{}", "v".repeat(300)), 1))
                .collect(),
            ..Default::default()
        };
        assert!(many.cap());
        assert_eq!(many.sizes.len(), MAX_SIZES);
        assert!(
            many.sizes
                .iter()
                .all(|s| s.dir.len() <= crate::node::caps::TEXT)
        );
        let mut small = beat.clone();
        assert!(!small.cap());
        assert_eq!(small, beat);
    }
}

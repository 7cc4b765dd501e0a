//! Cluster volumes: where they live on a node, what the panel asks of a node's storage, what a
//! node offers for them (`facts`), the state it sends with each heartbeat (`beat`), and the mode
//! a cluster's volumes take from its number of nodes with what a node lacks for it (`mode`). See
//! `docs/volumes.md`.
mod beat;
mod facts;
mod mode;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use beat::*;
pub use facts::*;
pub use mode::*;
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
    /// Remove this node's brick directory of a deleted volume, or of one whose copy moved
    /// elsewhere (GlusterFS refuses a directory that held a brick for a new volume).
    ClearBrick { volume: String },
    /// From a node that holds a copy: move the copy of the node at `from` to the node at `to`
    /// (bring `to` into the trusted pool, replace the brick, let `from` leave the pool). The
    /// self-heal daemon then fills the new copy from the others. When `from` is gone,
    /// GlusterFS must have noticed first: its glusterd would wait minutes on a peer it still
    /// counts as connected.
    MoveCopy {
        volume: String,
        from: String,
        to: String,
    },
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

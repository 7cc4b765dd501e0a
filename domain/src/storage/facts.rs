//! What a node offers for cluster volumes, as its agent finds it (sent with its facts).
use serde::{Deserialize, Serialize};

use super::MountFacts;

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
    /// The disk mounted at [`BRICKS_DIR`](super::BRICKS_DIR), if one is (a mount point of its own).
    pub bricks: Option<DiskFacts>,
    /// The disk mounted at [`SNAPSHOTS_DIR`](super::SNAPSHOTS_DIR), if one is.
    pub snapshots: Option<DiskFacts>,
    /// The cluster volume mounted at [`VOLUMES_DIR`](super::VOLUMES_DIR), if one is.
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

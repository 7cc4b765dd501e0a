//! The async-standby cluster volume of a two-node cluster: the primary's btrfs subvolume is
//! snapshotted every sync interval and shipped to the standby, which keeps only complete
//! snapshots. What the panel asks of each node, what a node reports, and the RPO the panel shows.
//! See `docs/volumes.md`.
use serde::{Deserialize, Serialize};

/// The port on which a standby's agent receives snapshots from the primary (node to node, on
/// the nodes' swarm addresses).
pub const SYNC_PORT: u16 = 7470;

/// The Swarm node label of the node whose data is live (the primary): services on the cluster
/// volume of an async cluster are placed there.
pub const PRIMARY_LABEL: &str = "io.flotilla.volume-primary";

/// The placement constraint of services on an async volume: they run where its data is live.
pub fn primary_constraint() -> String {
    format!("node.labels.{PRIMARY_LABEL}==true")
}

/// The sync key's length in bytes (random, one per cluster, sealed at rest in the panel).
pub const KEY_BYTES: usize = 32;

/// A node's part in the async volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandbyRole {
    /// Its data is live (mounted where the apps' bind mounts point) and shipped to the standby.
    Primary,
    /// It receives the primary's snapshots and keeps the newest complete one.
    Standby,
}

/// What a node reports about the async volume (with its storage facts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandbyFacts {
    pub role: StandbyRole,
    /// The generation of the roles this node acts on (raised by the panel at each promotion).
    pub epoch: u64,
    /// When the newest snapshot that the standby holds complete was taken (Unix ms): on the
    /// primary, the last one the standby confirmed; on the standby, its newest.
    pub synced_at_ms: Option<u64>,
    /// How many bytes the last shipped snapshot took, and how long its transfer took (ms).
    pub last_bytes: u64,
    pub last_took_ms: u64,
    /// Why the last sync failed, while it does (cleared by the next good one).
    pub error: Option<String>,
    /// Snapshots of data written by an old primary after the standby took over (kept, not
    /// merged), by name (`e<epoch>-<unix ms>`).
    #[serde(default)]
    pub conflicts: Vec<String>,
}

/// The most conflict snapshots a node reports (the oldest beyond are left out).
pub const MAX_CONFLICTS: usize = 16;

impl StandbyFacts {
    /// Bounds what a node can make the panel hold (see [`crate::node::caps`]); true when
    /// anything was cut.
    pub fn cap(&mut self) -> bool {
        use crate::node::{cap, caps};
        let mut cut = self.error.as_mut().is_some_and(|e| cap(e, caps::TEXT));
        if self.conflicts.len() > MAX_CONFLICTS {
            let extra = self.conflicts.len() - MAX_CONFLICTS;
            self.conflicts.drain(..extra);
            cut = true;
        }
        for c in &mut self.conflicts {
            cut |= cap(c, caps::SHORT);
        }
        cut
    }

    /// Without the sync's progress (when, how much, how long): what changes only with the role,
    /// an error or a conflict.
    pub fn quiet(&self) -> Self {
        Self {
            synced_at_ms: self.synced_at_ms.map(|_| 0),
            last_bytes: 0,
            last_took_ms: 0,
            ..self.clone()
        }
    }
}

/// A snapshot's name: the epoch it was taken in and when (Unix ms).
pub fn snapshot_name(epoch: u64, at_ms: u64) -> String {
    format!("e{epoch}-{at_ms}")
}

/// The epoch and time of a snapshot name; `None` for any other name.
pub fn parse_snapshot(name: &str) -> Option<(u64, u64)> {
    let (epoch, at) = name.strip_prefix('e')?.split_once('-')?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (plain(epoch) && plain(at)).then_some((epoch.parse().ok()?, at.parse().ok()?))
}

/// The recovery point: how old the data the standby could take over with is (seconds), from
/// the nodes' reports; `None` before the first complete sync.
pub fn rpo_secs<'a>(
    now_ms: u64,
    reports: impl IntoIterator<Item = &'a StandbyFacts>,
) -> Option<u64> {
    let newest = reports.into_iter().filter_map(|f| f.synced_at_ms).max()?;
    Some(now_ms.saturating_sub(newest) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_name_carries_its_epoch_and_time_and_nothing_else_parses() {
        let name = snapshot_name(3, 1_764_000_000_123);
        assert_eq!(name, "e3-1764000000123");
        assert_eq!(parse_snapshot(&name), Some((3, 1_764_000_000_123)));
        for bad in [
            "",
            "e",
            "e3",
            "e3-",
            "e-5",
            "x3-5",
            "e3-5-6",
            "e3-+5",
            "e../5",
            ".incoming",
        ] {
            assert_eq!(parse_snapshot(bad), None, "{bad:?}");
        }
    }

    fn facts(role: StandbyRole, synced_at_ms: Option<u64>) -> StandbyFacts {
        StandbyFacts {
            role,
            epoch: 1,
            synced_at_ms,
            last_bytes: 0,
            last_took_ms: 0,
            error: None,
            conflicts: vec![],
        }
    }

    #[test]
    fn a_report_is_bounded() {
        let mut f = facts(StandbyRole::Primary, Some(1));
        f.error = Some("x".repeat(1_000));
        f.conflicts = (0..40).map(|i| format!("e1-{i}")).collect();
        assert!(f.cap());
        assert_eq!(f.error.as_deref().map(str::len), Some(256));
        assert_eq!(f.conflicts.len(), MAX_CONFLICTS);
        assert_eq!(f.conflicts[0], "e1-24", "the newest are kept");
        assert!(!f.cap());
    }

    #[test]
    fn the_rpo_is_the_age_of_the_newest_complete_snapshot_either_node_knows() {
        let primary = facts(StandbyRole::Primary, Some(10_000));
        let standby = facts(StandbyRole::Standby, Some(12_000));
        assert_eq!(rpo_secs(15_500, [&primary, &standby]), Some(3));
        assert_eq!(rpo_secs(15_500, [&primary]), Some(5));
        let never = facts(StandbyRole::Standby, None);
        assert_eq!(rpo_secs(15_500, [&never]), None);
        assert_eq!(
            rpo_secs(5_000, [&primary]),
            Some(0),
            "a clock behind is not negative"
        );
    }
}

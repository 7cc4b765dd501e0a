//! Pure planners over a cluster's observed state: quorum arithmetic, which node actions are safe,
//! and the status shown in the cluster list.
use serde::{Deserialize, Serialize};

use crate::storage::CopiesFacts;
use crate::swarm::{Availability, SwarmRole};

/// Managers needed for a Raft majority.
pub fn quorum(managers: usize) -> usize {
    managers / 2 + 1
}

/// Manager failures a cluster of `managers` survives.
pub fn tolerated_failures(managers: usize) -> usize {
    managers.saturating_sub(1) / 2
}

/// Whether removing or demoting one manager keeps the swarm writable. `reachable` counts the
/// managers that are up now, `target_reachable` whether the one leaving is among them.
pub fn check_manager_leaves(
    total: usize,
    reachable: usize,
    target_reachable: bool,
) -> Result<(), String> {
    if total <= 1 {
        return Err("It is the last manager: promote another node first.".into());
    }
    let after_total = total - 1;
    let after_reachable = reachable - usize::from(target_reachable);
    let needed = quorum(after_total);
    if after_reachable < needed {
        return Err(format!(
            "The swarm would lose quorum: {after_reachable} of {after_total} managers would be reachable, {needed} are needed."
        ));
    }
    Ok(())
}

/// Whether one manager may go down for a while (it stays a member: a reboot): the others that
/// are reachable must still be a majority of all managers.
pub fn check_manager_down(
    total: usize,
    reachable: usize,
    target_reachable: bool,
) -> Result<(), String> {
    let after = reachable.saturating_sub(usize::from(target_reachable));
    let needed = quorum(total);
    if after < needed {
        return Err(format!(
            "the swarm would lose quorum: {after} of {total} managers would be reachable, {needed} are needed"
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    Creating,
    Healthy,
    Degraded,
    Unavailable,
    Error,
    Deleting,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Creating => "Creating",
            Health::Healthy => "Healthy",
            Health::Degraded => "Degraded",
            Health::Unavailable => "Unavailable",
            Health::Error => "Error",
            Health::Deleting => "Deleting",
        }
    }
}

/// What the status planner looks at for one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub hostname: String,
    pub role: SwarmRole,
    /// The agent is connected.
    pub online: bool,
    /// The engine reports the node as an active swarm member.
    pub in_swarm: bool,
    pub availability: Option<Availability>,
    /// The cluster volume on this node.
    #[serde(default)]
    pub volume: VolumeState,
    /// The volume's copies as this node sees them, when it holds one.
    #[serde(default)]
    pub copies: Option<crate::storage::CopiesFacts>,
    /// The async volume on this node, when it has a role in one.
    #[serde(default)]
    pub standby: Option<crate::standby::StandbyFacts>,
    /// The disk that holds this node's part of the cluster volume (its copy, or its snapshots).
    #[serde(default)]
    pub volume_disk: Option<crate::storage::DiskFacts>,
}

/// The cluster volume on one member, as its agent last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    /// The cluster has no volume set up (off, async standby, or being set up or taken down).
    #[default]
    NotExpected,
    /// Mounted, and it answered.
    Live,
    /// Mounted, but it did not answer (its client died or its servers are out of reach).
    Unanswering,
    /// Not mounted.
    Missing,
    /// The node cut itself off the volume: it cannot reach most of the volume's nodes.
    Fenced,
}

impl VolumeState {
    /// From the member's reported storage, when the cluster expects a mount.
    pub fn of(expected: bool, storage: &crate::storage::StorageFacts) -> Self {
        match (expected, storage.mount.as_ref()) {
            (false, _) => Self::NotExpected,
            (true, _) if storage.fenced => Self::Fenced,
            (true, Some(m)) if m.live => Self::Live,
            (true, Some(_)) => Self::Unanswering,
            (true, None) => Self::Missing,
        }
    }
}

/// Where a cluster is in its life, from the orchestrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    Creating { step: String },
    Active,
    Failed { error: String },
    Deleting { step: String },
}

/// A node counts as silent once its heartbeat is this overdue (1.5 heartbeats); it is taken
/// offline only after three.
pub fn silent_after_ms(heartbeat_ms: i64) -> i64 {
    heartbeat_ms * 3 / 2
}

/// A claim older than another node's newer claim counts only if its node was heard from at least
/// this long after that newer claim (its agent reports VIP changes within 200 ms).
const CLAIM_GRACE_MS: i64 = 1_000;

/// What one connected member last said of one VIP, and when the panel heard from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipClaim {
    /// Whatever the caller names nodes by (hostnames for the status, ids for a rollout).
    pub name: String,
    pub holds: bool,
    /// When the node's VIP report arrived.
    pub reported_ms: i64,
    /// The node's last heartbeat or frame.
    pub heard_ms: i64,
    /// Its heartbeat is overdue.
    pub silent: bool,
}

/// Who holds a VIP, by live reports only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipTruth {
    /// Nodes whose live report says they hold it (exactly one when healthy).
    pub holders: Vec<String>,
    /// Nodes that claimed it last but are silent, or have not been heard from since another
    /// node took it over: their claim does not count.
    pub stale: Vec<String>,
}

/// Weighs the claims of a VIP's members (offline members are not passed). A power-cut holder
/// keeps its last claim until it is swept offline; the node that took the VIP over reports at
/// once, so "held by 2 nodes" would show for seconds although only one node holds it. A claim
/// counts only from a node that is not silent and that was heard from after every newer claim.
pub fn vip_truth(claims: &[VipClaim]) -> VipTruth {
    let live: Vec<&VipClaim> = claims.iter().filter(|c| c.holds && !c.silent).collect();
    let newest = live.iter().map(|c| c.reported_ms).max().unwrap_or(0);
    let mut truth = VipTruth::default();
    for c in claims.iter().filter(|c| c.holds) {
        let outweighed = c.reported_ms < newest && c.heard_ms < newest + CLAIM_GRACE_MS;
        if c.silent || outweighed {
            truth.stale.push(c.name.clone());
        } else {
            truth.holders.push(c.name.clone());
        }
    }
    truth
}

/// The status and its reason, e.g. (Degraded, "1 of 3 managers down: quorum holds").
pub fn status(
    lifecycle: &Lifecycle,
    members: &[MemberState],
    vips: &[(String, VipTruth)],
) -> (Health, String) {
    match lifecycle {
        Lifecycle::Creating { step } => return (Health::Creating, step.clone()),
        Lifecycle::Deleting { step } => return (Health::Deleting, step.clone()),
        Lifecycle::Failed { error } => return (Health::Error, error.clone()),
        Lifecycle::Active => {}
    }
    let up = |m: &MemberState| m.online && m.in_swarm;
    let managers: Vec<&MemberState> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .collect();
    let managers_up = managers.iter().filter(|m| up(m)).count();
    let mut reasons = vec![];
    let managers_down = managers.len() - managers_up;
    if managers_up < quorum(managers.len()) {
        let reason = format!(
            "{managers_down} of {} managers down: quorum lost",
            managers.len()
        );
        return (Health::Unavailable, reason);
    }
    if managers_down > 0 {
        reasons.push(format!(
            "{managers_down} of {} managers down: quorum holds",
            managers.len()
        ));
    }
    let workers: Vec<&MemberState> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Worker)
        .collect();
    let workers_down = workers.iter().filter(|m| !up(m)).count();
    if workers_down > 0 {
        reasons.push(format!("{workers_down} of {} workers down", workers.len()));
    }
    // An offline member's volume is down with it (counted above).
    for m in members.iter().filter(|m| up(m)) {
        match m.volume {
            VolumeState::NotExpected | VolumeState::Live => {}
            VolumeState::Unanswering => reasons.push(format!(
                "the cluster volume does not answer on {}",
                m.hostname
            )),
            VolumeState::Missing => reasons.push(format!(
                "the cluster volume is not mounted on {}",
                m.hostname
            )),
            VolumeState::Fenced => reasons.push(format!(
                "{} is fenced: it cannot reach most of the volume's nodes",
                m.hostname
            )),
        }
    }
    // The copies as the members that hold one and answer see them (the worst of their views).
    let copies = CopiesFacts::worst(
        members
            .iter()
            .filter(|m| up(m) && m.volume != VolumeState::NotExpected)
            .filter_map(|m| m.copies),
    );
    if let Some(c) = copies.filter(|c| !c.whole()) {
        reasons.push(format!("the cluster volume: {}", c.describe()));
    }
    // The async volume's sync, as the connected nodes that take part report it.
    for m in members.iter().filter(|m| m.online) {
        if let Some(e) = m.standby.as_ref().and_then(|s| s.error.as_ref()) {
            reasons.push(format!("the cluster volume's sync on {}: {e}", m.hostname));
        }
    }
    for (vip, truth) in vips {
        match truth.holders.len() {
            1 => {}
            0 if !truth.stale.is_empty() => reasons.push(format!(
                "VIP {vip} has no live owner (last claimed by {}, silent)",
                truth.stale.join(", ")
            )),
            0 => reasons.push(format!("VIP {vip} has no owner")),
            n => reasons.push(format!(
                "VIP {vip} is held by {n} nodes ({})",
                truth.holders.join(", ")
            )),
        }
    }
    if reasons.is_empty() {
        let drained = members
            .iter()
            .filter(|m| m.availability == Some(Availability::Drain))
            .count();
        let note = if drained > 0 {
            format!("all {} nodes up, {drained} drained", members.len())
        } else {
            format!("all {} nodes up", members.len())
        };
        (Health::Healthy, note)
    } else {
        (Health::Degraded, reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: SwarmRole, online: bool) -> MemberState {
        MemberState {
            hostname: "n".into(),
            role,
            online,
            in_swarm: online,
            availability: Some(Availability::Active),
            volume: VolumeState::NotExpected,
            copies: None,
            standby: None,
            volume_disk: None,
        }
    }

    #[test]
    fn a_volume_that_is_not_mounted_or_does_not_answer_degrades_the_cluster() {
        let live = crate::storage::MountFacts {
            source: "10.0.0.1:/flotilla".into(),
            live: true,
        };
        let dead = crate::storage::MountFacts {
            live: false,
            ..live.clone()
        };
        let with_mount = |mount: Option<&crate::storage::MountFacts>, fenced: bool| {
            crate::storage::StorageFacts {
                mount: mount.cloned(),
                fenced,
                ..Default::default()
            }
        };
        let of = |expected, mount, fenced| VolumeState::of(expected, &with_mount(mount, fenced));
        assert_eq!(of(false, None, false), VolumeState::NotExpected);
        assert_eq!(of(true, Some(&live), false), VolumeState::Live);
        assert_eq!(of(true, Some(&dead), false), VolumeState::Unanswering);
        assert_eq!(of(true, None, false), VolumeState::Missing);
        assert_eq!(of(true, Some(&live), true), VolumeState::Fenced);
        let with = |hostname: &str, online: bool, volume| MemberState {
            hostname: hostname.into(),
            volume,
            ..m(SwarmRole::Manager, online)
        };
        let all_live = [
            with("a", true, VolumeState::Live),
            with("b", true, VolumeState::Live),
            with("c", true, VolumeState::Live),
        ];
        assert_eq!(
            status(&Lifecycle::Active, &all_live, &[]).0,
            Health::Healthy
        );
        let (health, reason) = status(
            &Lifecycle::Active,
            &[
                with("a", true, VolumeState::Unanswering),
                with("b", true, VolumeState::Missing),
                with("c", false, VolumeState::Missing),
            ],
            &[],
        );
        assert_eq!(health, Health::Degraded);
        assert_eq!(
            reason,
            "1 of 3 managers down: quorum holds; the cluster volume does not answer on a; \
             the cluster volume is not mounted on b"
        );
    }

    #[test]
    fn a_failing_async_sync_degrades_the_cluster_with_the_nodes_words() {
        let standby = |error: Option<&str>| crate::standby::StandbyFacts {
            role: crate::standby::StandbyRole::Primary,
            epoch: 1,
            synced_at_ms: Some(1),
            last_bytes: 0,
            last_took_ms: 0,
            error: error.map(str::to_owned),
            conflicts: vec![],
        };
        let with = |error| MemberState {
            hostname: "edge-2".into(),
            standby: Some(standby(error)),
            ..m(SwarmRole::Manager, true)
        };
        let (health, reason) = status(&Lifecycle::Active, &[with(Some("no answer"))], &[]);
        assert_eq!(health, Health::Degraded);
        assert_eq!(reason, "the cluster volume's sync on edge-2: no answer");
        assert_eq!(
            status(&Lifecycle::Active, &[with(None)], &[]).0,
            Health::Healthy
        );
    }

    #[test]
    fn copies_that_miss_a_brick_heal_or_disagree_degrade_the_cluster_with_the_worst_view() {
        let whole = CopiesFacts {
            bricks: 3,
            bricks_up: 3,
            to_heal: 0,
            split_brain: 0,
        };
        let with = |hostname: &str, online: bool, volume, copies| MemberState {
            hostname: hostname.into(),
            volume,
            copies,
            ..m(SwarmRole::Manager, online)
        };
        let healing = CopiesFacts {
            to_heal: 12,
            ..whole
        };
        let (health, _) = status(
            &Lifecycle::Active,
            &[
                with("a", true, VolumeState::Live, Some(whole)),
                with("b", true, VolumeState::Live, Some(whole)),
                with("c", true, VolumeState::Live, None),
            ],
            &[],
        );
        assert_eq!(health, Health::Healthy);
        let (health, reason) = status(
            &Lifecycle::Active,
            &[
                with("a", true, VolumeState::Live, Some(whole)),
                with("b", true, VolumeState::Live, Some(healing)),
                with("c", true, VolumeState::Live, Some(whole)),
            ],
            &[],
        );
        assert_eq!(health, Health::Degraded);
        assert_eq!(
            reason,
            "the cluster volume: 3 of 3 copies answer, 12 entries to heal"
        );
        // A member that is down, or whose volume is not expected (being set up), is not heard.
        let one_down = CopiesFacts {
            bricks_up: 2,
            split_brain: 1,
            ..healing
        };
        let (_, reason) = status(
            &Lifecycle::Active,
            &[
                with("a", false, VolumeState::Live, Some(healing)),
                with("b", true, VolumeState::NotExpected, Some(one_down)),
                with("c", true, VolumeState::Live, Some(one_down)),
            ],
            &[],
        );
        assert_eq!(
            reason,
            "1 of 3 managers down: quorum holds; \
             the cluster volume: 2 of 3 copies answer, 12 entries to heal, 1 in split-brain"
        );
        assert!(whole.whole() && !healing.whole() && !one_down.whole());
        assert_eq!(CopiesFacts::worst([]), None);
    }

    fn claim(host: &str, holds: bool, reported_ms: i64, heard_ms: i64, silent: bool) -> VipClaim {
        VipClaim {
            name: host.into(),
            holds,
            reported_ms,
            heard_ms,
            silent,
        }
    }

    #[test]
    fn a_stale_claim_does_not_outweigh_a_fresher_one() {
        // Power cut of edge-1 (holder since t=0, last heard t=4000); edge-2 took over at 6000.
        let cut = [
            claim("edge-1", true, 0, 4_000, false),
            claim("edge-2", true, 6_000, 6_000, false),
            claim("edge-3", false, 6_000, 6_100, false),
        ];
        assert_eq!(
            vip_truth(&cut),
            VipTruth {
                holders: vec!["edge-2".into()],
                stale: vec!["edge-1".into()],
            }
        );
        // edge-1 is heard from well after edge-2's claim and still says it holds: two holders.
        let split = [
            claim("edge-1", true, 0, 7_500, false),
            claim("edge-2", true, 6_000, 7_600, false),
        ];
        assert_eq!(vip_truth(&split).holders, ["edge-1", "edge-2"]);
        // A silent holder alone: no live owner, and it is named.
        let silent = [claim("edge-1", true, 0, 1_000, true)];
        let truth = vip_truth(&silent);
        assert!(truth.holders.is_empty());
        let (health, reason) = status(
            &Lifecycle::Active,
            &[m(SwarmRole::Manager, true)],
            &[("10.0.0.5/24".into(), truth)],
        );
        assert_eq!(health, Health::Degraded);
        assert!(
            reason.contains("no live owner (last claimed by edge-1, silent)"),
            "{reason}"
        );
        assert_eq!(silent_after_ms(5_000), 7_500);
    }

    #[test]
    fn a_manager_may_go_down_only_when_the_others_keep_quorum() {
        assert!(check_manager_down(3, 3, true).is_ok());
        assert!(
            check_manager_down(3, 2, true).is_err(),
            "one is down already"
        );
        assert!(check_manager_down(2, 2, true).is_err());
        assert!(check_manager_down(1, 1, true).is_err());
        assert!(check_manager_down(5, 4, true).is_ok());
    }

    #[test]
    fn quorum_math() {
        assert_eq!((quorum(1), quorum(2), quorum(3), quorum(5)), (1, 2, 2, 3));
        assert_eq!(
            (
                tolerated_failures(1),
                tolerated_failures(3),
                tolerated_failures(4),
                tolerated_failures(5)
            ),
            (0, 1, 1, 2)
        );
    }

    #[test]
    fn manager_departures_that_would_lose_quorum_are_refused() {
        assert!(check_manager_leaves(1, 1, true).is_err(), "last manager");
        assert!(
            check_manager_leaves(3, 3, true).is_ok(),
            "3 -> 2 with both up"
        );
        assert!(
            check_manager_leaves(3, 2, true).is_err(),
            "3 with one down: leaves 1 of 2"
        );
        assert!(
            check_manager_leaves(3, 2, false).is_ok(),
            "removing the down one leaves 2 of 2"
        );
        assert!(check_manager_leaves(2, 2, true).is_ok(), "2 -> 1");
        let msg = check_manager_leaves(3, 2, true).expect_err("refused");
        assert_eq!(
            msg,
            "The swarm would lose quorum: 1 of 2 managers would be reachable, 2 are needed."
        );
    }

    #[test]
    fn statuses_with_reasons() {
        let all_up = [
            m(SwarmRole::Manager, true),
            m(SwarmRole::Manager, true),
            m(SwarmRole::Manager, true),
        ];
        let owned = VipTruth {
            holders: vec!["edge-1".into()],
            stale: vec![],
        };
        let vip = [("10.77.0.100".to_string(), owned)];
        assert_eq!(
            status(&Lifecycle::Active, &all_up, &vip),
            (Health::Healthy, "all 3 nodes up".into())
        );

        let one_down = [
            m(SwarmRole::Manager, false),
            m(SwarmRole::Manager, true),
            m(SwarmRole::Manager, true),
        ];
        assert_eq!(
            status(&Lifecycle::Active, &one_down, &vip),
            (
                Health::Degraded,
                "1 of 3 managers down: quorum holds".into()
            )
        );

        let two_down = [
            m(SwarmRole::Manager, false),
            m(SwarmRole::Manager, false),
            m(SwarmRole::Manager, true),
        ];
        assert_eq!(
            status(&Lifecycle::Active, &two_down, &vip).0,
            Health::Unavailable
        );

        let worker_down = [m(SwarmRole::Manager, true), m(SwarmRole::Worker, false)];
        let no_owner = [("10.77.0.100".to_string(), VipTruth::default())];
        assert_eq!(
            status(&Lifecycle::Active, &worker_down, &no_owner),
            (
                Health::Degraded,
                "1 of 1 workers down; VIP 10.77.0.100 has no owner".into()
            )
        );
        assert_eq!(
            status(
                &Lifecycle::Failed {
                    error: "boom".into()
                },
                &all_up,
                &vip
            ),
            (Health::Error, "boom".into())
        );
        assert_eq!(
            status(
                &Lifecycle::Creating {
                    step: "joining edge-2".into()
                },
                &[],
                &[]
            )
            .0,
            Health::Creating
        );
    }
}

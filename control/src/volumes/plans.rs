//! The steps that set the cluster volume up and take it down. Each is idempotent on the node
//! (what holds already is done), so a workflow can run it again after a failure or a restart.
use domain::storage::{DEFAULT_HEARTBEAT_SECS, REPLICAS, VOLUME_HEARTBEAT_SECS, VolumeMode};
use domain::swarm::SwarmRole;
use serde::{Deserialize, Serialize};

use crate::clusters::plans::{ClusterStep, PlanMember};
use crate::workflow::Planned;

/// One volume step of a cluster workflow (stored inside [`ClusterStep::Volume`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "volume_op", rename_all = "snake_case")]
pub enum VolumeStep {
    /// From the first brick node, bring the other brick nodes into its GlusterFS pool.
    Peers { node_id: String },
    /// Create, tune and start the volume (on the first brick node).
    Create { node_id: String },
    /// Mount the volume on a member.
    Mount { node_id: String },
    /// Unmount it on a member.
    Unmount { node_id: String },
    /// Stop and delete the volume and let the peers go (on the first brick node).
    Delete { node_id: String },
    /// Remove a brick node's copy of the deleted volume (or of one that moved elsewhere).
    ClearBrick { node_id: String },
    /// Move the copy of `from` (leaving the cluster) to `to`, from a node that holds one (the
    /// first online holder other than `from`, chosen when the step runs).
    MoveCopy { from: String, to: String },
    /// Wait until every copy is whole without `leaving`'s (the moved copy filled by the
    /// self-heal daemon).
    AwaitWhole { leaving: String },
    /// Set Swarm's dispatcher heartbeat (through a reachable manager): faster with a volume, so
    /// that a crashed node's one writer runs again elsewhere sooner.
    Heartbeat { secs: u8 },
    /// Async standby: make the node the standby (it receives the primary's snapshots).
    Standby { node_id: String },
    /// Async standby: make the node the primary (its data live, shipped to the standby); sent
    /// again when the sync interval changes.
    Primary { node_id: String },
    /// Async standby: the node drops its role and the volume's data.
    StandbyOff { node_id: String },
    /// Async standby: the panel forgets the volume (its primary, epoch and key).
    Forget,
    /// Async standby: the standby `node_id` becomes the primary in a new epoch (its newest
    /// complete snapshot made live), shipping to `from`, the silent old primary, once it is back.
    Promote { node_id: String, from: String },
    /// Async standby: the primary `node_id` (drained) sends a last snapshot to the standby and
    /// drops its live data, waiting as a standby (before the standby is promoted with it).
    Handover { node_id: String },
}

type Plan = Vec<Planned<ClusterStep>>;

fn step(m: &PlanMember<'_>, step: VolumeStep, title: String) -> Planned<ClusterStep> {
    Planned::safe(ClusterStep::Volume(step), title, Some(m.node_id))
}

fn id(m: &PlanMember<'_>) -> String {
    m.node_id.to_owned()
}

/// The members that hold a copy (in member order).
pub fn bricks<'a, 'b>(members: &'a [PlanMember<'b>]) -> &'a [PlanMember<'b>] {
    &members[..members.len().min(REPLICAS)]
}

fn names(members: &[PlanMember<'_>]) -> String {
    members
        .iter()
        .map(|m| m.hostname)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mount the volume on one member.
pub fn mount(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    step(
        m,
        VolumeStep::Mount { node_id: id(m) },
        format!("Mount the cluster volume on {}", m.hostname),
    )
}

/// Unmount it on one member.
pub fn unmount(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    step(
        m,
        VolumeStep::Unmount { node_id: id(m) },
        format!("Unmount the cluster volume on {}", m.hostname),
    )
}

/// Set up the cluster volume of `mode`.
pub fn setup(members: &[PlanMember<'_>], mode: VolumeMode) -> Plan {
    match mode {
        VolumeMode::Replicated => setup_replicated(members),
        VolumeMode::AsyncStandby => setup_async(members),
    }
}

/// Take down the cluster volume of `mode` (`online` says which members are reachable).
pub fn teardown(
    members: &[PlanMember<'_>],
    online: impl Fn(&str) -> bool,
    mode: VolumeMode,
) -> Plan {
    match mode {
        VolumeMode::Replicated => teardown_replicated(members, online),
        VolumeMode::AsyncStandby => teardown_async(members, online),
    }
}

/// The async volume's first primary and standby (of two members): a worker's data is primary
/// when there is one. Swarm places the writer elsewhere only while a manager is reachable: with
/// one manager and one worker, losing the worker is the failure the standby covers.
pub fn async_roles<'a, 'b>(
    members: &'a [PlanMember<'b>],
) -> Option<(&'a PlanMember<'b>, &'a PlanMember<'b>)> {
    let [a, b] = members else {
        return None;
    };
    Some(
        if a.role == SwarmRole::Worker && b.role != SwarmRole::Worker {
            (a, b)
        } else {
            (b, a)
        },
    )
}

/// Set up async standby: the standby listens first, then the primary's data is made and
/// shipped, its node labelled for the services' placement.
fn setup_async(members: &[PlanMember<'_>]) -> Plan {
    let Some((primary, standby)) = async_roles(members) else {
        return vec![];
    };
    vec![
        step(
            standby,
            VolumeStep::Standby {
                node_id: id(standby),
            },
            format!(
                "Make {} the standby of the cluster volume",
                standby.hostname
            ),
        ),
        primary_step(primary),
        relabel(primary, "as the volume's primary"),
        heartbeat(VOLUME_HEARTBEAT_SECS),
    ]
}

/// (Again) make `m` the async volume's primary.
pub fn primary_step(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    step(
        m,
        VolumeStep::Primary { node_id: id(m) },
        format!(
            "Make {} the primary of the cluster volume, shipping snapshots to the standby",
            m.hostname
        ),
    )
}

/// The standby takes over from the silent primary: a new epoch with its newest complete
/// snapshot live, then the primary's label moves, so that Swarm starts the services on the
/// volume there.
pub fn promote(standby: &PlanMember<'_>, primary: &PlanMember<'_>) -> Plan {
    vec![
        step(
            standby,
            VolumeStep::Promote {
                node_id: id(standby),
                from: id(primary),
            },
            format!(
                "Take the cluster volume over on {} with its newest complete snapshot ({} is silent)",
                standby.hostname, primary.hostname
            ),
        ),
        relabel(standby, "as the volume's primary"),
        relabel(primary, "without the volume's primary label"),
    ]
}

/// An old primary that came back becomes the standby: what it wrote alone is kept as a
/// conflict snapshot, never merged.
pub fn demote(old: &PlanMember<'_>) -> Plan {
    vec![step(
        old,
        VolumeStep::Standby { node_id: id(old) },
        format!(
            "Make {} the standby again, keeping what it wrote alone as a conflict snapshot",
            old.hostname
        ),
    )]
}

/// The primary is drained for maintenance: its tasks stop, its last writes go to the standby
/// in a final snapshot, the standby takes over with it (a new epoch, nothing lost), the label
/// moves so that Swarm starts the services on the volume there, and the old primary becomes
/// the standby (with nothing of its own to keep: the new primary has all of it).
pub fn hand_over(primary: &PlanMember<'_>, standby: &PlanMember<'_>) -> Plan {
    let (p, s) = (primary.hostname, standby.hostname);
    vec![
        Planned::safe(
            ClusterStep::Drain {
                node_id: id(primary),
            },
            format!("Drain {p} until it runs no task"),
            Some(primary.node_id),
        ),
        step(
            primary,
            VolumeStep::Handover {
                node_id: id(primary),
            },
            format!("Send {p}'s last writes to {s} in a final snapshot"),
        ),
        step(
            standby,
            VolumeStep::Promote {
                node_id: id(standby),
                from: id(primary),
            },
            format!("Take the cluster volume over on {s} with that snapshot"),
        ),
        relabel(standby, "as the volume's primary"),
        relabel(primary, "without the volume's primary label"),
        step(
            primary,
            VolumeStep::Standby {
                node_id: id(primary),
            },
            format!("Make {p} the standby"),
        ),
    ]
}

fn relabel(m: &PlanMember<'_>, how: &str) -> Planned<ClusterStep> {
    Planned::safe(
        ClusterStep::Label { node_id: id(m) },
        format!("Label {} {how}", m.hostname),
        Some(m.node_id),
    )
}

/// Take async standby down: each reachable node drops its role and data, the panel forgets
/// the volume, then the members' labels are set again (without the primary's).
fn teardown_async(members: &[PlanMember<'_>], online: impl Fn(&str) -> bool) -> Plan {
    let mut steps: Plan = vec![heartbeat(DEFAULT_HEARTBEAT_SECS)];
    steps.extend(members.iter().filter(|m| online(m.node_id)).map(|m| {
        step(
            m,
            VolumeStep::StandbyOff { node_id: id(m) },
            format!("Remove the cluster volume's data on {}", m.hostname),
        )
    }));
    steps.push(Planned::safe(
        ClusterStep::Volume(VolumeStep::Forget),
        "Forget the cluster volume's primary and key",
        None,
    ));
    steps.extend(
        members
            .iter()
            .map(|m| relabel(m, "without the volume's primary label")),
    );
    steps
}

/// Set up: the pool, the volume on the brick nodes, a mount on every member.
fn setup_replicated(members: &[PlanMember<'_>]) -> Plan {
    let bricks = bricks(members);
    let Some(first) = bricks.first() else {
        return vec![];
    };
    let mut steps = vec![
        step(
            first,
            VolumeStep::Peers { node_id: id(first) },
            format!("Connect the GlusterFS peers {}", names(bricks)),
        ),
        step(
            first,
            VolumeStep::Create { node_id: id(first) },
            format!("Create the replicated volume on {}", names(bricks)),
        ),
    ];
    steps.extend(members.iter().map(mount));
    steps.push(heartbeat(VOLUME_HEARTBEAT_SECS));
    steps
}

/// `leaving` holds a copy and leaves the cluster: the copy moves to `to` (the first member
/// that holds none, so that the first three members hold the copies again once `leaving` is
/// forgotten), the removal waits until the new copy is whole, and an online `leaving` drops its
/// old one. (Its mount went before; the members that stay mount from the new copies after.)
pub fn move_copy(leaving: &PlanMember<'_>, to: &PlanMember<'_>, online: bool) -> Plan {
    let (l, t) = (leaving.hostname, to.hostname);
    let mut steps = vec![
        step(
            to,
            VolumeStep::MoveCopy {
                from: id(leaving),
                to: id(to),
            },
            format!("Move {l}'s copy of the cluster volume to {t}"),
        ),
        Planned::safe(
            ClusterStep::Volume(VolumeStep::AwaitWhole {
                leaving: id(leaving),
            }),
            format!("Wait until {t}'s new copy is whole"),
            None,
        ),
    ];
    if online {
        steps.push(step(
            leaving,
            VolumeStep::ClearBrick {
                node_id: id(leaving),
            },
            format!("Clear the volume's old copy on {l}"),
        ));
    }
    steps
}

fn heartbeat(secs: u8) -> Planned<ClusterStep> {
    Planned::safe(
        ClusterStep::Volume(VolumeStep::Heartbeat { secs }),
        format!("Set the swarm's heartbeat to {secs} s"),
        None,
    )
}

/// Take down: unmount on every member (`online` ones: an offline node's mount goes with its next
/// boot), delete the volume, clear each copy.
fn teardown_replicated(members: &[PlanMember<'_>], online: impl Fn(&str) -> bool) -> Plan {
    let bricks = bricks(members);
    let mut steps: Plan = vec![heartbeat(DEFAULT_HEARTBEAT_SECS)];
    steps.extend(members.iter().filter(|m| online(m.node_id)).map(unmount));
    if let Some(first) = bricks.first() {
        steps.push(step(
            first,
            VolumeStep::Delete { node_id: id(first) },
            format!("Delete the cluster volume on {}", first.hostname),
        ));
    }
    steps.extend(bricks.iter().map(|m| {
        step(
            m,
            VolumeStep::ClearBrick { node_id: id(m) },
            format!("Clear the volume's copy on {}", m.hostname),
        )
    }));
    steps
}

#[cfg(test)]
mod tests {
    use domain::swarm::SwarmRole;

    use super::*;

    fn m(id: &str) -> PlanMember<'_> {
        PlanMember {
            node_id: id,
            hostname: id,
            role: SwarmRole::Manager,
            has_labels: false,
            vip: false,
        }
    }

    fn ops(plan: Plan) -> Vec<ClusterStep> {
        plan.into_iter().map(|p| p.step).collect()
    }

    fn v(step: VolumeStep) -> ClusterStep {
        ClusterStep::Volume(step)
    }

    fn n(id: &str) -> String {
        id.to_owned()
    }

    #[test]
    fn setup_makes_the_volume_on_the_first_three_and_mounts_it_everywhere() {
        let members = [m("a"), m("b"), m("c"), m("d")];
        let plan = setup(&members, VolumeMode::Replicated);
        assert_eq!(plan[1].title, "Create the replicated volume on a, b, c");
        assert_eq!(
            ops(plan),
            vec![
                v(VolumeStep::Peers { node_id: n("a") }),
                v(VolumeStep::Create { node_id: n("a") }),
                v(VolumeStep::Mount { node_id: n("a") }),
                v(VolumeStep::Mount { node_id: n("b") }),
                v(VolumeStep::Mount { node_id: n("c") }),
                v(VolumeStep::Mount { node_id: n("d") }),
                v(VolumeStep::Heartbeat { secs: 2 }),
            ]
        );
        assert!(setup(&[], VolumeMode::Replicated).is_empty());
    }

    #[test]
    fn teardown_unmounts_the_online_members_then_deletes_and_clears_the_copies() {
        let members = [m("a"), m("b"), m("c"), m("d")];
        assert_eq!(
            ops(teardown(&members, |id| id != "b", VolumeMode::Replicated)),
            vec![
                v(VolumeStep::Heartbeat { secs: 5 }),
                v(VolumeStep::Unmount { node_id: n("a") }),
                v(VolumeStep::Unmount { node_id: n("c") }),
                v(VolumeStep::Unmount { node_id: n("d") }),
                v(VolumeStep::Delete { node_id: n("a") }),
                v(VolumeStep::ClearBrick { node_id: n("a") }),
                v(VolumeStep::ClearBrick { node_id: n("b") }),
                v(VolumeStep::ClearBrick { node_id: n("c") }),
            ]
        );
    }

    #[test]
    fn async_standby_keeps_a_workers_data_primary_and_labels_it() {
        let mut worker = m("w");
        worker.role = SwarmRole::Worker;
        let members = [m("a"), worker];
        let plan = setup(&members, VolumeMode::AsyncStandby);
        assert_eq!(plan[0].title, "Make a the standby of the cluster volume");
        assert_eq!(
            ops(plan),
            vec![
                v(VolumeStep::Standby { node_id: n("a") }),
                v(VolumeStep::Primary { node_id: n("w") }),
                ClusterStep::Label { node_id: n("w") },
                v(VolumeStep::Heartbeat { secs: 2 }),
            ]
        );
        // Two managers: the second member's data is primary.
        let managers = [m("a"), m("b")];
        let (primary, standby) = async_roles(&managers).expect("two members");
        assert_eq!((primary.node_id, standby.node_id), ("b", "a"));
        assert!(async_roles(&members[..1]).is_none());
        assert!(setup(&members[..1], VolumeMode::AsyncStandby).is_empty());
    }

    #[test]
    fn async_teardown_clears_the_reachable_nodes_forgets_the_key_then_relabels() {
        let members = [m("a"), m("b")];
        assert_eq!(
            ops(teardown(&members, |id| id != "b", VolumeMode::AsyncStandby)),
            vec![
                v(VolumeStep::Heartbeat { secs: 5 }),
                v(VolumeStep::StandbyOff { node_id: n("a") }),
                v(VolumeStep::Forget),
                ClusterStep::Label { node_id: n("a") },
                ClusterStep::Label { node_id: n("b") },
            ]
        );
    }

    #[test]
    fn the_standby_takes_over_then_the_label_moves_and_an_old_primary_is_demoted() {
        let (standby, primary) = (m("a"), m("b"));
        let plan = promote(&standby, &primary);
        assert_eq!(
            plan[0].title,
            "Take the cluster volume over on a with its newest complete snapshot (b is silent)"
        );
        assert_eq!(
            ops(plan),
            vec![
                v(VolumeStep::Promote {
                    node_id: n("a"),
                    from: n("b")
                }),
                ClusterStep::Label { node_id: n("a") },
                ClusterStep::Label { node_id: n("b") },
            ]
        );
        assert_eq!(
            ops(demote(&primary)),
            vec![v(VolumeStep::Standby { node_id: n("b") })]
        );
    }

    #[test]
    fn a_drained_primary_hands_over_after_its_tasks_stopped_and_a_final_sync() {
        let (primary, standby) = (m("b"), m("a"));
        let plan = hand_over(&primary, &standby);
        assert_eq!(
            plan.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(),
            [
                "Drain b until it runs no task",
                "Send b's last writes to a in a final snapshot",
                "Take the cluster volume over on a with that snapshot",
                "Label a as the volume's primary",
                "Label b without the volume's primary label",
                "Make b the standby",
            ]
        );
        assert_eq!(
            ops(plan),
            vec![
                ClusterStep::Drain { node_id: n("b") },
                v(VolumeStep::Handover { node_id: n("b") }),
                v(VolumeStep::Promote {
                    node_id: n("a"),
                    from: n("b")
                }),
                ClusterStep::Label { node_id: n("a") },
                ClusterStep::Label { node_id: n("b") },
                v(VolumeStep::Standby { node_id: n("b") }),
            ]
        );
    }

    #[test]
    fn volume_steps_are_stored_inside_cluster_steps() {
        let json = serde_json::to_string(&v(VolumeStep::Mount { node_id: n("a") })).expect("json");
        assert_eq!(json, r#"{"op":"volume","volume_op":"mount","node_id":"a"}"#);
        let back: ClusterStep = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, v(VolumeStep::Mount { node_id: n("a") }));
    }
}

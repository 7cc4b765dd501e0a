//! What a cluster workflow does, step by step: the typed steps and the plans that order them.
//! Every step first checks whether its effect already holds (the agents' commands are
//! idempotent), so each is safe to run again after a transient failure or a restart.
use domain::swarm::SwarmRole;
use domain::workflow::WorkflowKind;
use serde::{Deserialize, Serialize};

use crate::ControlError;
use crate::store::NewWorkflow;
use crate::volumes::plans::{self as volume_plans, VolumeStep};
use crate::workflow::{self, Planned};
use domain::storage::VolumeMode;

/// One step of a cluster workflow (stored as JSON, tagged by `op`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClusterStep {
    /// Create the swarm on the first manager and keep its (sealed) join tokens.
    Init {
        node_id: String,
    },
    Join {
        node_id: String,
    },
    Label {
        node_id: String,
    },
    /// Drain a node (through a manager) and wait until Swarm reports none of its tasks running.
    Drain {
        node_id: String,
    },
    /// Run KeepAlived with the cluster's VIPs (also: push a changed configuration).
    Vips {
        node_id: String,
    },
    Activate,
    StopVips {
        node_id: String,
    },
    Demote {
        node_id: String,
    },
    Leave {
        node_id: String,
        force: bool,
    },
    /// Remove a node's entry from the swarm (through a manager).
    Unregister {
        node_id: String,
    },
    /// Drop a node from the cluster's members.
    ForgetMember {
        node_id: String,
    },
    Forget,
    /// A step of the cluster volume (see [`crate::volumes::plans`]).
    Volume(VolumeStep),
}

/// A member as the planner sees it.
#[derive(Clone, Copy)]
pub struct PlanMember<'a> {
    pub node_id: &'a str,
    pub hostname: &'a str,
    pub role: SwarmRole,
    pub has_labels: bool,
    pub vip: bool,
}

type Plan = Vec<Planned<ClusterStep>>;

/// Says whether a member's agent is connected (by node id).
pub type Online<'a> = dyn Fn(&str) -> bool + 'a;

fn on(m: &PlanMember<'_>, step: ClusterStep, title: String) -> Planned<ClusterStep> {
    Planned::safe(step, title, Some(m.node_id))
}

fn id(m: &PlanMember<'_>) -> String {
    m.node_id.to_owned()
}

fn join(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    on(
        m,
        ClusterStep::Join { node_id: id(m) },
        format!("Join {} as {}", m.hostname, m.role.as_str()),
    )
}

fn label(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    on(
        m,
        ClusterStep::Label { node_id: id(m) },
        format!("Label {}", m.hostname),
    )
}

fn vips(m: &PlanMember<'_>, verb: &str) -> Planned<ClusterStep> {
    on(
        m,
        ClusterStep::Vips { node_id: id(m) },
        format!("{verb} KeepAlived on {}", m.hostname),
    )
}

fn stop_vips(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    on(
        m,
        ClusterStep::StopVips { node_id: id(m) },
        format!("Stop KeepAlived on {}", m.hostname),
    )
}

fn demote(m: &PlanMember<'_>) -> Planned<ClusterStep> {
    on(
        m,
        ClusterStep::Demote { node_id: id(m) },
        format!("Demote {}", m.hostname),
    )
}

fn leave(m: &PlanMember<'_>, force: bool) -> Planned<ClusterStep> {
    let ends = if force { " (the swarm ends)" } else { "" };
    on(
        m,
        ClusterStep::Leave {
            node_id: id(m),
            force,
        },
        format!("{} leaves the swarm{ends}", m.hostname),
    )
}

/// Create: init on the first manager, join managers then workers, label, start KeepAlived on the
/// VIP nodes, set up the cluster volume (`volumes`), mark active.
pub fn create(members: &[PlanMember<'_>], has_vips: bool, volumes: Option<VolumeMode>) -> Plan {
    let mut order: Vec<&PlanMember<'_>> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .collect();
    order.extend(members.iter().filter(|m| m.role == SwarmRole::Worker));
    let mut steps: Plan = order
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == 0 {
                on(
                    m,
                    ClusterStep::Init { node_id: id(m) },
                    format!("Initialise the swarm on {}", m.hostname),
                )
            } else {
                join(m)
            }
        })
        .collect();
    steps.extend(order.iter().filter(|m| m.has_labels).map(|m| label(m)));
    if has_vips {
        steps.extend(order.iter().filter(|m| m.vip).map(|m| vips(m, "Start")));
    }
    if let Some(mode) = volumes {
        steps.extend(volume_plans::setup(members, mode));
    }
    steps.push(Planned::safe(
        ClusterStep::Activate,
        "Mark the cluster active",
        None,
    ));
    steps
}

/// Delete (also the rollback of a failed creation): take the cluster volume down (`volumes`,
/// unmounting on the members `online` says are), stop KeepAlived, workers leave, managers other
/// than the first are demoted and leave, the first manager leaves last, the panel forgets.
pub fn delete(
    members: &[PlanMember<'_>],
    has_vips: bool,
    volumes: Option<(VolumeMode, &Online<'_>)>,
) -> Plan {
    let mut steps: Plan = vec![];
    if let Some((mode, online)) = volumes {
        steps.extend(volume_plans::teardown(members, online, mode));
    }
    if has_vips {
        steps.extend(members.iter().filter(|m| m.vip).map(stop_vips));
    }
    steps.extend(
        members
            .iter()
            .filter(|m| m.role == SwarmRole::Worker)
            .map(|m| leave(m, false)),
    );
    let managers: Vec<&PlanMember<'_>> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .collect();
    if let Some((anchor, others)) = managers.split_first() {
        for m in others {
            steps.push(demote(m));
            steps.push(leave(m, false));
        }
        steps.push(leave(anchor, true));
    }
    steps.push(Planned::safe(
        ClusterStep::Forget,
        "Forget the cluster",
        None,
    ));
    steps
}

/// Add a node to a running cluster: join, label, KeepAlived, mount the cluster volume (`volumes`).
pub fn add(m: &PlanMember<'_>, has_vips: bool, volumes: bool) -> Plan {
    let mut steps = vec![join(m)];
    if m.has_labels {
        steps.push(label(m));
    }
    if has_vips && m.vip {
        steps.push(vips(m, "Start"));
    }
    if volumes {
        steps.push(volume_plans::mount(m));
    }
    steps
}

/// Remove a node: unmount the cluster volume (`volumes`), stop its KeepAlived, demote it, let it
/// leave, drop its swarm entry, forget it. A node that is offline cannot act itself: only the
/// swarm-side steps run.
/// What the replicated cluster volume asks of a member's removal.
pub enum Leaving<'a, 'b> {
    /// The cluster has no replicated volume.
    NoVolume,
    /// The member mounts the volume and holds no copy.
    Mounted,
    /// The member holds a copy: it moves to `to`, and the members that stay (`stay`: the
    /// online ones) then mount from the new copies.
    HoldsCopy {
        to: &'a PlanMember<'b>,
        stay: &'a [PlanMember<'b>],
    },
}

pub fn remove(m: &PlanMember<'_>, online: bool, has_vips: bool, volume: &Leaving<'_, '_>) -> Plan {
    let mut steps = vec![];
    if online && !matches!(volume, Leaving::NoVolume) {
        steps.push(volume_plans::unmount(m));
    }
    if let Leaving::HoldsCopy { to, .. } = volume {
        steps.extend(volume_plans::move_copy(m, to, online));
    }
    if online && has_vips && m.vip {
        steps.push(stop_vips(m));
    }
    if m.role == SwarmRole::Manager {
        steps.push(demote(m));
    }
    if online {
        steps.push(leave(m, false));
    }
    steps.push(on(
        m,
        ClusterStep::Unregister { node_id: id(m) },
        format!("Remove {} from the swarm's node list", m.hostname),
    ));
    steps.push(on(
        m,
        ClusterStep::ForgetMember { node_id: id(m) },
        format!("Forget {} in this cluster", m.hostname),
    ));
    if let Leaving::HoldsCopy { stay, .. } = volume {
        steps.extend(stay.iter().map(volume_plans::mount));
    }
    steps
}

/// Push the VIP configuration again (after the cluster's synctime changed).
pub fn update_vips(members: &[PlanMember<'_>]) -> Plan {
    members
        .iter()
        .filter(|m| m.vip)
        .map(|m| vips(m, "Update"))
        .collect()
}

/// A cluster workflow ready to be stored.
pub fn workflow(
    cluster_id: &str,
    kind: WorkflowKind,
    steps: &[Planned<ClusterStep>],
) -> Result<NewWorkflow, ControlError> {
    workflow::plan(cluster_id, kind, steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(id: &'a str, role: SwarmRole, labels: bool, vip: bool) -> PlanMember<'a> {
        PlanMember {
            node_id: id,
            hostname: id,
            role,
            has_labels: labels,
            vip,
        }
    }

    fn ops(plan: Plan) -> Vec<ClusterStep> {
        plan.into_iter().map(|p| p.step).collect()
    }

    fn n(id: &str) -> String {
        id.to_owned()
    }

    #[test]
    fn create_inits_on_the_first_manager_and_joins_managers_first() {
        let members = [
            m("w1", SwarmRole::Worker, true, true),
            m("m1", SwarmRole::Manager, false, true),
            m("m2", SwarmRole::Manager, false, false),
        ];
        let plan = create(&members, true, None);
        assert_eq!(plan[0].title, "Initialise the swarm on m1");
        assert_eq!(plan[0].node_id.as_deref(), Some("m1"));
        assert_eq!(
            ops(plan),
            vec![
                ClusterStep::Init { node_id: n("m1") },
                ClusterStep::Join { node_id: n("m2") },
                ClusterStep::Join { node_id: n("w1") },
                ClusterStep::Label { node_id: n("w1") },
                ClusterStep::Vips { node_id: n("m1") },
                ClusterStep::Vips { node_id: n("w1") },
                ClusterStep::Activate,
            ]
        );
    }

    #[test]
    fn the_cluster_volume_is_set_up_before_activation_and_taken_down_first() {
        let members = [
            m("m1", SwarmRole::Manager, false, false),
            m("m2", SwarmRole::Manager, false, false),
            m("w1", SwarmRole::Worker, false, false),
        ];
        let created = ops(create(&members, false, Some(VolumeMode::Replicated)));
        assert_eq!(
            created[3..],
            [
                ClusterStep::Volume(VolumeStep::Peers { node_id: n("m1") }),
                ClusterStep::Volume(VolumeStep::Create { node_id: n("m1") }),
                ClusterStep::Volume(VolumeStep::Mount { node_id: n("m1") }),
                ClusterStep::Volume(VolumeStep::Mount { node_id: n("m2") }),
                ClusterStep::Volume(VolumeStep::Mount { node_id: n("w1") }),
                ClusterStep::Volume(VolumeStep::Heartbeat { secs: 2 }),
                ClusterStep::Activate,
            ]
        );
        let online = |_: &str| true;
        let deleted = ops(delete(
            &members,
            false,
            Some((VolumeMode::Replicated, &online)),
        ));
        assert_eq!(
            deleted[1],
            ClusterStep::Volume(VolumeStep::Unmount { node_id: n("m1") })
        );
        assert_eq!(
            deleted[5],
            ClusterStep::Volume(VolumeStep::ClearBrick { node_id: n("m1") })
        );
        assert_eq!(
            add(&members[2], false, true).last().map(|p| &p.step),
            Some(&ClusterStep::Volume(VolumeStep::Mount { node_id: n("w1") }))
        );
    }

    #[test]
    fn delete_stops_vips_then_workers_then_managers_and_the_anchor_last() {
        let members = [
            m("m1", SwarmRole::Manager, false, true),
            m("m2", SwarmRole::Manager, false, true),
            m("w1", SwarmRole::Worker, false, false),
        ];
        assert_eq!(
            ops(delete(&members, true, None)),
            vec![
                ClusterStep::StopVips { node_id: n("m1") },
                ClusterStep::StopVips { node_id: n("m2") },
                ClusterStep::Leave {
                    node_id: n("w1"),
                    force: false
                },
                ClusterStep::Demote { node_id: n("m2") },
                ClusterStep::Leave {
                    node_id: n("m2"),
                    force: false
                },
                ClusterStep::Leave {
                    node_id: n("m1"),
                    force: true
                },
                ClusterStep::Forget,
            ]
        );
        assert!(
            !ops(delete(&members, false, None))
                .iter()
                .any(|o| matches!(o, ClusterStep::StopVips { .. }))
        );
    }

    #[test]
    fn an_offline_node_is_removed_on_the_swarm_side_only() {
        let manager = m("m2", SwarmRole::Manager, false, true);
        assert_eq!(
            ops(remove(&manager, false, true, &Leaving::Mounted)),
            vec![
                ClusterStep::Demote { node_id: n("m2") },
                ClusterStep::Unregister { node_id: n("m2") },
                ClusterStep::ForgetMember { node_id: n("m2") },
            ]
        );
        assert_eq!(remove(&manager, true, true, &Leaving::NoVolume).len(), 5);
        assert_eq!(
            remove(&manager, true, true, &Leaving::Mounted)[0].step,
            ClusterStep::Volume(VolumeStep::Unmount { node_id: n("m2") })
        );
    }

    #[test]
    fn a_node_that_holds_a_copy_moves_it_before_it_leaves() {
        let leaving = m("w2", SwarmRole::Worker, false, false);
        let to = m("w4", SwarmRole::Worker, false, false);
        let stay = [
            m("m1", SwarmRole::Manager, false, false),
            m("w4", SwarmRole::Worker, false, false),
        ];
        let volume = Leaving::HoldsCopy {
            to: &to,
            stay: &stay,
        };
        let moved = ClusterStep::Volume(VolumeStep::MoveCopy {
            from: n("w2"),
            to: n("w4"),
        });
        let whole = ClusterStep::Volume(VolumeStep::AwaitWhole { leaving: n("w2") });
        let mount = |id: &str| ClusterStep::Volume(VolumeStep::Mount { node_id: n(id) });
        assert_eq!(
            ops(remove(&leaving, true, false, &volume)),
            vec![
                ClusterStep::Volume(VolumeStep::Unmount { node_id: n("w2") }),
                moved.clone(),
                whole.clone(),
                ClusterStep::Volume(VolumeStep::ClearBrick { node_id: n("w2") }),
                ClusterStep::Leave {
                    node_id: n("w2"),
                    force: false
                },
                ClusterStep::Unregister { node_id: n("w2") },
                ClusterStep::ForgetMember { node_id: n("w2") },
                mount("m1"),
                mount("w4"),
            ]
        );
        // Gone for good: its copy moves from the others, nothing is asked of it.
        assert_eq!(
            ops(remove(&leaving, false, false, &volume)),
            vec![
                moved,
                whole,
                ClusterStep::Unregister { node_id: n("w2") },
                ClusterStep::ForgetMember { node_id: n("w2") },
                mount("m1"),
                mount("w4"),
            ]
        );
    }

    #[test]
    fn steps_keep_their_stored_json() {
        // Workflows stored before the engine carry this JSON; it must still decode.
        let step: ClusterStep =
            serde_json::from_str(r#"{"op":"leave","node_id":"n1","force":true}"#).expect("json");
        assert_eq!(
            step,
            ClusterStep::Leave {
                node_id: n("n1"),
                force: true
            }
        );
        let w = workflow(
            "c1",
            WorkflowKind::Create,
            &create(&[m("m1", SwarmRole::Manager, true, false)], false, None),
        )
        .expect("plans");
        assert!(w.steps[0].step.contains("\"op\":\"init\""));
        assert_eq!(w.steps.len(), 3);
    }
}

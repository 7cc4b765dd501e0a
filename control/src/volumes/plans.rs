//! The steps that set the cluster volume up and take it down. Each is idempotent on the node
//! (what holds already is done), so a workflow can run it again after a failure or a restart.
use domain::storage::{DEFAULT_HEARTBEAT_SECS, REPLICAS, VOLUME_HEARTBEAT_SECS};
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
    /// Remove a brick node's copy of the deleted volume.
    ClearBrick { node_id: String },
    /// Set Swarm's dispatcher heartbeat (through a reachable manager): faster with a volume, so
    /// that a crashed node's one writer runs again elsewhere sooner.
    Heartbeat { secs: u8 },
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

/// Set up: the pool, the volume on the brick nodes, a mount on every member.
pub fn setup(members: &[PlanMember<'_>]) -> Plan {
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

fn heartbeat(secs: u8) -> Planned<ClusterStep> {
    Planned::safe(
        ClusterStep::Volume(VolumeStep::Heartbeat { secs }),
        format!("Set the swarm's heartbeat to {secs} s"),
        None,
    )
}

/// Take down: unmount on every member (`online` ones: an offline node's mount goes with its next
/// boot), delete the volume, clear each copy.
pub fn teardown(members: &[PlanMember<'_>], online: impl Fn(&str) -> bool) -> Plan {
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
        let plan = setup(&members);
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
        assert!(setup(&[]).is_empty());
    }

    #[test]
    fn teardown_unmounts_the_online_members_then_deletes_and_clears_the_copies() {
        let members = [m("a"), m("b"), m("c"), m("d")];
        assert_eq!(
            ops(teardown(&members, |id| id != "b")),
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
    fn volume_steps_are_stored_inside_cluster_steps() {
        let json = serde_json::to_string(&v(VolumeStep::Mount { node_id: n("a") })).expect("json");
        assert_eq!(json, r#"{"op":"volume","volume_op":"mount","node_id":"a"}"#);
        let back: ClusterStep = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, v(VolumeStep::Mount { node_id: n("a") }));
    }
}

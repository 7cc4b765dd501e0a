//! Pure planners over a cluster's observed state: quorum arithmetic, which node actions are safe,
//! and the status shown in the cluster list.
use serde::{Deserialize, Serialize};

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
}

/// Where a cluster is in its life, from the orchestrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    Creating { step: String },
    Active,
    Failed { error: String },
    Deleting { step: String },
}

/// The status and its reason, e.g. (Degraded, "1 of 3 managers down: quorum holds").
pub fn status(
    lifecycle: &Lifecycle,
    members: &[MemberState],
    vip_owners: &[(String, usize)],
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
    for (vip, owners) in vip_owners {
        match owners {
            1 => {}
            0 => reasons.push(format!("VIP {vip} has no owner")),
            n => reasons.push(format!("VIP {vip} is held by {n} nodes")),
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
        }
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
        let vip = [("10.77.0.100".to_string(), 1)];
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
        let no_owner = [("10.77.0.100".to_string(), 0)];
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

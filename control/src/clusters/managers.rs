//! Sending commands to a cluster's nodes: to one node (waiting a while for it to come online) or
//! to a reachable manager. The one place that decides which manager runs a swarm-wide command.
use std::time::Duration;

use domain::protocol::{Command, Outcome, Reply};
use domain::swarm::SwarmRole;

use crate::ControlError;
use crate::gateway::Gateway;
use crate::store::{MemberRow, Store};

/// How long a step waits for an offline node to come back before it fails.
pub const NODE_WAIT: Duration = Duration::from_secs(60);
/// How long one agent command may take (a swarm join can be slow).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a command did not do its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The node did not answer or dropped its connection: trying again may work.
    Transient(String),
    /// The node answered that it could not, or could not be reached at all.
    Refused(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Refused(m) => m,
        }
    }

    /// For use cases: the change was not applied, and why.
    pub fn into_error(self) -> ControlError {
        ControlError::Unavailable(format!("The change was not applied: {}", self.message()))
    }
}

async fn send(gateway: &Gateway, node_id: &str, cmd: Command) -> Result<Reply, Failure> {
    match gateway.command(node_id, cmd, COMMAND_TIMEOUT).await {
        Ok(Outcome::Done { reply }) => Ok(reply),
        Ok(Outcome::Failed { message }) => Err(Failure::Refused(message)),
        Err(e) => Err(Failure::Transient(domain::AppError::from(e).to_string())),
    }
}

/// Sends a command to a node, waiting up to `wait` for it to be online.
pub async fn on_node(
    gateway: &Gateway,
    store: &Store,
    node_id: &str,
    cmd: Command,
    wait: Duration,
) -> Result<Reply, Failure> {
    let deadline = tokio::time::Instant::now() + wait;
    while gateway.is_online(node_id).is_none() {
        if tokio::time::Instant::now() >= deadline {
            let name = store
                .node_by_id(node_id)
                .await
                .ok()
                .flatten()
                .map_or_else(|| node_id.to_owned(), |n| n.hostname);
            return Err(Failure::Refused(format!("{name} is offline")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    send(gateway, node_id, cmd).await
}

/// Which manager a command should not run on.
#[derive(Clone, Copy, Debug)]
pub enum Avoid<'a> {
    Nobody,
    /// Try the others first (the node is about to change).
    Prefer(&'a str),
    /// Never on this one (it is the node being demoted or removed).
    Exclude(&'a str),
}

/// Runs a command on the first manager that has joined the swarm, is online and does it: the
/// swarm's leader first (the others forward to it, and a manager back from a partition answers
/// "no leader" for a minute or more while the rest of the swarm has one).
pub async fn on_manager(
    gateway: &Gateway,
    members: &[MemberRow],
    avoid: Avoid<'_>,
    cmd: Command,
) -> Result<Reply, Failure> {
    let managers = members.iter().filter(|m| m.role == SwarmRole::Manager);
    let leader = gateway
        .observed()
        .leader(managers.map(|m| m.node_id.as_str()));
    let online: Vec<&MemberRow> = members
        .iter()
        .filter(|m| gateway.is_online(&m.node_id).is_some())
        .collect();
    let ordered = order(&online, avoid, leader.as_deref());
    let deadline = tokio::time::Instant::now() + LEADER_WAIT;
    loop {
        let mut last = Failure::Transient("no manager of this cluster is reachable".into());
        for m in &ordered {
            match send(gateway, &m.node_id, cmd.clone()).await {
                Ok(reply) => return Ok(reply),
                Err(e) => last = e,
            }
        }
        match last {
            Failure::Refused(why) if leaderless(&why) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            other => return Err(other),
        }
    }
}

/// The managers to try, in order, among the `online` members: those that joined the swarm and
/// are not excluded, the leader (its swarm node id) first and a manager to avoid last.
fn order<'a>(
    online: &[&'a MemberRow],
    avoid: Avoid<'_>,
    leader: Option<&str>,
) -> Vec<&'a MemberRow> {
    let mut managers: Vec<&MemberRow> = online
        .iter()
        .copied()
        .filter(|m| {
            m.role == SwarmRole::Manager
                && m.swarm_node_id.is_some()
                && !matches!(avoid, Avoid::Exclude(id) if id == m.node_id)
        })
        .collect();
    // A stable sort: otherwise the members' order.
    managers.sort_by_key(|m| {
        (
            matches!(avoid, Avoid::Prefer(id) if id == m.node_id),
            m.swarm_node_id.as_deref() != leader,
        )
    });
    managers
}

/// How long a command waits while the swarm has no leader (raft elects one a few seconds after
/// a partition heals or managers return) before it fails.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// Docker's answer while the swarm's managers elect a leader.
fn leaderless(why: &str) -> bool {
    why.contains("does not have a leader")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(n: u8) -> MemberRow {
        MemberRow {
            node_id: format!("n{n}"),
            cluster_id: "c".into(),
            position: i64::from(n),
            role: SwarmRole::Manager,
            labels: vec![],
            interface: "eth0".into(),
            vip: false,
            swarm_node_id: Some(format!("s{n}")),
            address: None,
        }
    }

    fn ids(order: &[&MemberRow]) -> Vec<String> {
        order.iter().map(|m| m.node_id.clone()).collect()
    }

    #[test]
    fn the_leader_is_tried_first_and_an_avoided_manager_last() {
        let (n1, n2, n3) = (manager(1), manager(2), manager(3));
        let worker = MemberRow {
            role: SwarmRole::Worker,
            ..manager(4)
        };
        let unjoined = MemberRow {
            swarm_node_id: None,
            ..manager(5)
        };
        let online = [&n1, &n2, &n3, &worker, &unjoined];
        assert_eq!(
            ids(&order(&online, Avoid::Nobody, None)),
            ["n1", "n2", "n3"]
        );
        assert_eq!(
            ids(&order(&online, Avoid::Nobody, Some("s3"))),
            ["n3", "n1", "n2"]
        );
        assert_eq!(
            ids(&order(&online, Avoid::Prefer("n3"), Some("s3"))),
            ["n1", "n2", "n3"]
        );
        assert_eq!(
            ids(&order(&online, Avoid::Exclude("n2"), Some("s2"))),
            ["n1", "n3"]
        );
        assert_eq!(
            ids(&order(&online, Avoid::Nobody, Some("s9"))),
            ["n1", "n2", "n3"]
        );
    }

    #[test]
    fn a_swarm_without_a_leader_is_waited_for() {
        assert!(leaderless(
            "list services: rpc error: code = Unknown desc = The swarm does not have a leader. \
             It's possible that too few managers are online."
        ));
        assert!(!leaderless("no such service: web"));
    }
}

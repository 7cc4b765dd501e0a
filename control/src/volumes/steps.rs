//! What each volume step asks of which agent: the addresses come from the members' swarm
//! addresses, known once they joined. The async volume's steps are in [`super::standby`].
use std::time::Duration;

use domain::protocol::Command;
use domain::storage::{REPLICAS, StorageCommand, VOLUME_NAME, brick_path};

use super::plans::VolumeStep;
use crate::clusters::managers::{self, Avoid, Failure, NODE_WAIT};
use crate::gateway::Gateway;
use crate::store::{ClusterRow, MemberRow, Store};
use crate::vault::Vault;

/// How long a moved copy may take to be filled by the self-heal daemon before the removal
/// pauses (the operator retries once it is), and how often the holders are asked.
const FILL_WAIT: Duration = Duration::from_secs(600);

/// A member's swarm address; refused while it has not joined yet.
pub(super) fn address_of(m: &MemberRow) -> Result<String, Failure> {
    m.address.clone().ok_or_else(|| {
        Failure::Refused(format!(
            "node {} has no swarm address yet (it has not joined)",
            m.node_id
        ))
    })
}

/// The brick members' addresses (member order); refused while one has not joined yet.
fn brick_addresses(members: &[MemberRow]) -> Result<Vec<(String, String)>, Failure> {
    members
        .iter()
        .take(REPLICAS)
        .map(|m| Ok((m.node_id.clone(), address_of(m)?)))
        .collect()
}

/// The brick addresses other than `node_id`'s.
fn others(bricks: &[(String, String)], node_id: &str) -> Vec<String> {
    bricks
        .iter()
        .filter(|(id, _)| id != node_id)
        .map(|(_, a)| a.clone())
        .collect()
}

/// The command a step sends to its node; `None` when there is nothing to do.
fn command(
    members: &[MemberRow],
    step: &VolumeStep,
) -> Result<Option<(String, StorageCommand)>, Failure> {
    let volume = VOLUME_NAME.to_owned();
    Ok(Some(match step {
        VolumeStep::Peers { node_id } => {
            let bricks = brick_addresses(members)?;
            let addresses = others(&bricks, node_id);
            (node_id.clone(), StorageCommand::Peers { addresses })
        }
        VolumeStep::Create { node_id } => {
            let bricks = brick_addresses(members)?
                .into_iter()
                .map(|(_, a)| format!("{a}:{}", brick_path(&volume)))
                .collect();
            (
                node_id.clone(),
                StorageCommand::CreateVolume { volume, bricks },
            )
        }
        VolumeStep::Mount { node_id } => {
            // A brick node mounts from itself first; others from the first brick node.
            let bricks = brick_addresses(members)?;
            let mut servers: Vec<String> = bricks
                .iter()
                .filter(|(id, _)| id == node_id)
                .map(|(_, a)| a.clone())
                .collect();
            servers.extend(others(&bricks, node_id));
            (node_id.clone(), StorageCommand::Mount { volume, servers })
        }
        VolumeStep::Unmount { node_id } => (node_id.clone(), StorageCommand::Unmount),
        VolumeStep::Delete { node_id } => match brick_addresses(members) {
            Ok(bricks) => {
                let peers = others(&bricks, node_id);
                (
                    node_id.clone(),
                    StorageCommand::DeleteVolume { volume, peers },
                )
            }
            // A brick node never joined (a creation that failed early): no peer was probed and
            // no volume made, since both need every brick's address.
            Err(_) => return Ok(None),
        },
        VolumeStep::ClearBrick { node_id } => {
            (node_id.clone(), StorageCommand::ClearBrick { volume })
        }
        // Run by `run` itself (a manager, a holder, the panel) or by the async volume's steps.
        VolumeStep::Heartbeat { .. }
        | VolumeStep::MoveCopy { .. }
        | VolumeStep::AwaitWhole { .. }
        | VolumeStep::Standby { .. }
        | VolumeStep::Primary { .. }
        | VolumeStep::Promote { .. }
        | VolumeStep::Handover { .. }
        | VolumeStep::StandbyOff { .. }
        | VolumeStep::Forget => return Ok(None),
    }))
}

/// Runs one volume step of `cluster`, whose members are `members` (member order).
pub async fn run(
    gateway: &Gateway,
    store: &Store,
    vault: &Vault,
    cluster: &ClusterRow,
    members: &[MemberRow],
    step: &VolumeStep,
) -> Result<(), Failure> {
    match step {
        VolumeStep::Heartbeat { secs } => {
            let cmd = Command::SwarmHeartbeat { secs: *secs };
            managers::on_manager(gateway, members, Avoid::Nobody, cmd)
                .await
                .map(drop)
        }
        VolumeStep::MoveCopy { from, to } => move_copy(gateway, store, members, from, to).await,
        VolumeStep::AwaitWhole { leaving } => {
            let staying: Vec<MemberRow> = members
                .iter()
                .filter(|m| m.node_id != *leaving)
                .cloned()
                .collect();
            await_whole(gateway, store, &staying).await
        }
        VolumeStep::Standby { .. }
        | VolumeStep::Primary { .. }
        | VolumeStep::Promote { .. }
        | VolumeStep::Handover { .. }
        | VolumeStep::StandbyOff { .. }
        | VolumeStep::Forget => {
            super::standby::run(gateway, store, vault, cluster, members, step).await
        }
        _ => {
            let Some((node_id, cmd)) = command(members, step)? else {
                return Ok(());
            };
            managers::on_node(gateway, store, &node_id, Command::Storage(cmd), NODE_WAIT)
                .await
                .map(drop)
        }
    }
}

/// Moves `from`'s copy to `to` through the first other holder that is online (a copy moved
/// already is found done there).
async fn move_copy(
    gateway: &Gateway,
    store: &Store,
    members: &[MemberRow],
    from: &str,
    to: &str,
) -> Result<(), Failure> {
    let member = |id: &str| {
        members
            .iter()
            .find(|m| m.node_id == id)
            .ok_or_else(|| Failure::Refused(format!("node {id} is no longer a member")))
    };
    let cmd = StorageCommand::MoveCopy {
        volume: VOLUME_NAME.to_owned(),
        from: address_of(member(from)?)?,
        to: address_of(member(to)?)?,
    };
    let via = members
        .iter()
        .take(REPLICAS)
        .find(|m| m.node_id != from && gateway.is_online(&m.node_id).is_some())
        .ok_or_else(|| {
            Failure::Transient("no other node that holds a copy is online".to_owned())
        })?;
    managers::on_node(
        gateway,
        store,
        &via.node_id,
        Command::Storage(cmd),
        NODE_WAIT,
    )
    .await
    .map(drop)
}

/// Waits until every copy held by the first members of `staying` is whole, for at most
/// [`FILL_WAIT`].
async fn await_whole(
    gateway: &Gateway,
    store: &Store,
    staying: &[MemberRow],
) -> Result<(), Failure> {
    match super::gates::wait_whole(store, gateway, staying, FILL_WAIT).await {
        Ok(None) => Ok(()),
        Ok(Some(why)) => Err(Failure::Transient(format!(
            "the copies are not whole {} min after the move: {why}",
            FILL_WAIT.as_secs() / 60
        ))),
        Err(e) => {
            let cluster = staying.first().map_or("", |m| m.cluster_id.as_str());
            Err(Failure::Transient(crate::error::in_step(cluster, e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::swarm::SwarmRole;

    use super::*;

    fn member(id: &str, address: Option<&str>) -> MemberRow {
        MemberRow {
            node_id: id.into(),
            cluster_id: "c".into(),
            position: 0,
            role: SwarmRole::Manager,
            labels: vec![],
            interface: "eth0".into(),
            vip: false,
            swarm_node_id: None,
            address: address.map(str::to_owned),
        }
    }

    #[test]
    fn each_node_gets_the_addresses_it_needs() {
        let members = [
            member("a", Some("10.0.0.1")),
            member("b", Some("10.0.0.2")),
            member("c", Some("10.0.0.3")),
            member("d", None),
        ];
        let cmd = |s: VolumeStep| command(&members, &s).expect("command").expect("some").1;
        assert_eq!(
            cmd(VolumeStep::Peers {
                node_id: "a".into()
            }),
            StorageCommand::Peers {
                addresses: vec!["10.0.0.2".into(), "10.0.0.3".into()]
            }
        );
        let brick = brick_path(VOLUME_NAME);
        assert_eq!(
            cmd(VolumeStep::Create {
                node_id: "a".into()
            }),
            StorageCommand::CreateVolume {
                volume: VOLUME_NAME.into(),
                bricks: vec![
                    format!("10.0.0.1:{brick}"),
                    format!("10.0.0.2:{brick}"),
                    format!("10.0.0.3:{brick}"),
                ]
            }
        );
        let servers = |id: &str| match cmd(VolumeStep::Mount { node_id: id.into() }) {
            StorageCommand::Mount { servers, .. } => servers,
            other => panic!("{other:?}"),
        };
        assert_eq!(servers("b"), vec!["10.0.0.2", "10.0.0.1", "10.0.0.3"]);
        assert_eq!(servers("d"), vec!["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn a_brick_node_without_an_address_is_refused_with_its_name() {
        let members = [member("a", Some("10.0.0.1")), member("b", None)];
        let e = command(
            &members,
            &VolumeStep::Create {
                node_id: "a".into(),
            },
        );
        assert!(matches!(e, Err(Failure::Refused(m)) if m.contains("node b has no swarm address")));
        // Nothing was made then: deleting is done at once.
        let delete = command(
            &members,
            &VolumeStep::Delete {
                node_id: "a".into(),
            },
        );
        assert_eq!(delete, Ok(None));
    }
}

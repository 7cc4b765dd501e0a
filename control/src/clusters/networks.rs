//! Overlay networks of a cluster, and its join tokens.
use domain::Permission;
use domain::network::NetworkDraft;
use domain::protocol::{Command, JoinTokens, NetworkCreate, Reply};
use domain::swarm::SwarmRole;

use super::Clusters;
use super::managers::{self, Avoid};
use super::steps::token_context;
use crate::ControlError;
use crate::auth::Actor;
use crate::store::MemberRow;

impl Clusters {
    /// Creates an overlay network on the cluster (its subnet, if given, inside the cluster's pools).
    pub async fn create_network(
        &self,
        actor: &Actor,
        id: &str,
        draft: NetworkDraft,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let (g, snapshot) = self.active_with_swarm(id).await?;
        let spec = draft
            .validate(&g.cluster.definition.pools, &snapshot.networks)
            .map_err(ControlError::Invalid)?;
        let cmd = Command::NetworkCreate(NetworkCreate {
            name: spec.name.clone(),
            subnet: spec.subnet.map(|c| c.to_string()),
            attachable: spec.attachable,
            encrypted: spec.encrypted,
        });
        self.on_any_manager(id, cmd).await?;
        self.changed(actor, id, "cluster.network.create", id, Some(&spec.name))
            .await
    }

    /// Deletes an overlay network that no service uses.
    pub async fn delete_network(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let (_, snapshot) = self.active_with_swarm(id).await?;
        let network = snapshot
            .networks
            .iter()
            .find(|n| n.name == name)
            .ok_or(ControlError::NotFound("Network"))?;
        if network.ingress {
            return Err(ControlError::Conflict(
                "The ingress network belongs to Swarm's routing mesh.".into(),
            ));
        }
        if network.services > 0 {
            return Err(ControlError::Conflict(format!(
                "{name} is used by {} service(s): remove them from it first.",
                network.services
            )));
        }
        self.on_any_manager(
            id,
            Command::NetworkRemove {
                name: name.to_owned(),
            },
        )
        .await?;
        self.changed(actor, id, "cluster.network.delete", id, Some(name))
            .await
    }

    async fn on_any_manager(&self, id: &str, cmd: Command) -> Result<Reply, ControlError> {
        let members: Vec<MemberRow> = self.store.members(id).await?;
        managers::on_manager(&self.gateway, &members, Avoid::Nobody, cmd)
            .await
            .map_err(managers::Failure::into_error)
    }

    /// Reveals (or rotates, then reveals) the join tokens. Administrators and Supervisors only.
    pub async fn join_tokens(
        &self,
        actor: &Actor,
        id: &str,
        rotate: bool,
    ) -> Result<JoinTokens, ControlError> {
        actor.require(Permission::Supervise)?;
        let cluster = self.find(id).await?;
        if rotate {
            let swarm_id = cluster
                .swarm_id
                .clone()
                .ok_or_else(|| ControlError::Conflict("The swarm is not built yet.".into()))?;
            let Reply::Tokens(t) = self
                .on_any_manager(id, Command::JoinTokens { rotate: true })
                .await
                .map_err(|_| {
                    ControlError::Unavailable(
                        "No manager of this cluster could rotate the tokens.".into(),
                    )
                })?
            else {
                return Err(ControlError::Unavailable(
                    "The manager did not return join tokens.".into(),
                ));
            };
            let worker = self
                .vault
                .seal(&t.worker, &token_context(id, SwarmRole::Worker))?;
            let manager = self
                .vault
                .seal(&t.manager, &token_context(id, SwarmRole::Manager))?;
            self.store
                .set_cluster_swarm(id, &swarm_id, &worker, &manager)
                .await?;
            self.store
                .audit(&actor.username, "cluster.rotate_tokens", Some(id), None)
                .await?;
            return Ok(t);
        }
        let (Some(w), Some(m)) = (
            cluster.worker_token.as_deref(),
            cluster.manager_token.as_deref(),
        ) else {
            return Err(ControlError::Conflict(
                "The swarm has no join tokens yet.".into(),
            ));
        };
        self.store
            .audit(&actor.username, "cluster.reveal_tokens", Some(id), None)
            .await?;
        Ok(JoinTokens {
            worker: self.vault.open(w, &token_context(id, SwarmRole::Worker))?,
            manager: self.vault.open(m, &token_context(id, SwarmRole::Manager))?,
        })
    }
}

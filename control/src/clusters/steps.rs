//! Running cluster steps: what each [`ClusterStep`] asks of the agents and the store, and how a
//! cluster's phase follows its workflows.
use std::time::Duration;

use domain::cluster::{ClusterPhase, Definition};
use domain::protocol::{
    Command, NodeUpdate, Reply, SwarmInit, SwarmJoin, SwarmMember, VipConfig, VipInstance,
};
use domain::swarm::{Availability, SwarmRole};
use domain::workflow::{WorkflowKind, WorkflowStatus};
use domain::workload::observe::TaskState;
use futures_util::future::BoxFuture;

use super::managers::{self, Avoid, Failure, NODE_WAIT};
use super::plans::ClusterStep;
use crate::ControlError;
use crate::error::in_step;
use crate::gateway::Gateway;
use crate::store::{ClusterRow, MemberRow, StepRow, Store, WorkflowRow};
use crate::vault::Vault;
use crate::workflow::{Outcome, Runner};

/// How long a drained node's tasks may take to stop, and how often the swarm is looked at.
const DRAIN_WAIT: Duration = Duration::from_secs(120);
const DRAIN_POLL: Duration = Duration::from_millis(500);

/// The vault context of a cluster's sealed join token (`which` is `worker` or `manager`).
pub fn token_context(cluster_id: &str, role: SwarmRole) -> String {
    format!("cluster:{cluster_id}:{}_token", role.as_str())
}

/// Runs cluster steps for the workflow engine.
pub struct ClusterSteps {
    pub store: Store,
    pub gateway: Gateway,
    pub vault: Vault,
}

impl Runner for ClusterSteps {
    fn run<'a>(&'a self, w: &'a WorkflowRow, step: &'a StepRow) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let op: ClusterStep = match serde_json::from_str(&step.step) {
                Ok(op) => op,
                Err(e) => {
                    let e =
                        ControlError::Corrupt(format!("step {} of {}: {e}", step.position, w.id));
                    return Outcome::Failed(in_step(&w.cluster_id, e));
                }
            };
            match self.execute(&w.cluster_id, &op).await {
                Ok(()) => Outcome::Done,
                Err(Failure::Transient(m)) => Outcome::Transient(m),
                Err(Failure::Refused(m)) => Outcome::Failed(m),
            }
        })
    }

    fn status_changed<'a>(
        &'a self,
        w: &'a WorkflowRow,
        status: WorkflowStatus,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            // A creation that stopped leaves a failed cluster (Retry or Delete); running again,
            // it is being created. Other workflows leave the phase alone.
            let phase = match (w.kind, status) {
                (WorkflowKind::Create, WorkflowStatus::Failed | WorkflowStatus::Aborted) => {
                    ClusterPhase::Failed
                }
                (WorkflowKind::Create, WorkflowStatus::Running) => ClusterPhase::Creating,
                _ => return Ok(()),
            };
            if self.store.cluster(&w.cluster_id).await?.is_some() {
                self.store.set_cluster_phase(&w.cluster_id, phase).await?;
            }
            Ok(())
        })
    }
}

fn refused(m: impl Into<String>) -> Failure {
    Failure::Refused(m.into())
}

impl ClusterSteps {
    async fn execute(&self, cluster_id: &str, op: &ClusterStep) -> Result<(), Failure> {
        let panel = |e: ControlError| Failure::Refused(in_step(cluster_id, e));
        let Some(cluster) = self.store.cluster(cluster_id).await.map_err(panel)? else {
            return if *op == ClusterStep::Forget {
                Ok(())
            } else {
                Err(refused("the cluster no longer exists"))
            };
        };
        let members = self.store.members(cluster_id).await.map_err(panel)?;
        let member = |node_id: &str| {
            members
                .iter()
                .find(|m| m.node_id == node_id)
                .cloned()
                .ok_or_else(|| refused("the node is no longer a member"))
        };
        let def = &cluster.definition;
        match op {
            ClusterStep::Init { node_id } => self.init(&cluster, &member(node_id)?).await,
            ClusterStep::Join { node_id } => self.join(&cluster, &members, &member(node_id)?).await,
            ClusterStep::Label { node_id } => {
                let m = member(node_id)?;
                let swarm_node_id = m
                    .swarm_node_id
                    .clone()
                    .ok_or_else(|| refused("the node has not joined the swarm"))?;
                let labels = crate::volumes::standby::swarm_labels(
                    &self.store,
                    cluster_id,
                    node_id,
                    m.labels.clone(),
                )
                .await
                .map_err(panel)?;
                let cmd = Command::NodeUpdate(NodeUpdate {
                    swarm_node_id,
                    role: None,
                    availability: None,
                    labels: Some(labels),
                });
                managers::on_manager(&self.gateway, &members, Avoid::Nobody, cmd)
                    .await
                    .map(drop)
            }
            ClusterStep::Drain { node_id } => {
                self.drain(&cluster, &members, &member(node_id)?).await
            }
            ClusterStep::Vips { node_id } => {
                let m = member(node_id)?;
                let cfg = self.vip_config(&cluster, &m).await.map_err(panel)?;
                self.on_node(node_id, Command::Vips(cfg)).await
            }
            ClusterStep::StopVips { node_id } => {
                let cfg = VipConfig {
                    instances: vec![],
                    advert_cs: def.synctime_cs,
                    require_swarm: true,
                };
                self.on_node(node_id, Command::Vips(cfg)).await
            }
            ClusterStep::Activate => self
                .store
                .set_cluster_phase(cluster_id, ClusterPhase::Active)
                .await
                .map_err(panel),
            ClusterStep::Demote { node_id } => {
                let Some(swarm_node_id) = member(node_id)?.swarm_node_id else {
                    return Ok(());
                };
                let cmd = Command::NodeUpdate(NodeUpdate {
                    swarm_node_id,
                    role: Some(SwarmRole::Worker),
                    availability: None,
                    labels: None,
                });
                managers::on_manager(&self.gateway, &members, Avoid::Exclude(node_id), cmd)
                    .await
                    .map(drop)
            }
            ClusterStep::Leave { node_id, force } => {
                self.on_node(node_id, Command::SwarmLeave { force: *force })
                    .await
            }
            ClusterStep::Unregister { node_id } => {
                let Some(swarm_node_id) = member(node_id)?.swarm_node_id else {
                    return Ok(());
                };
                let cmd = Command::NodeRemove { swarm_node_id };
                managers::on_manager(&self.gateway, &members, Avoid::Exclude(node_id), cmd)
                    .await
                    .map(drop)
            }
            ClusterStep::ForgetMember { node_id } => {
                self.store.delete_member(node_id).await.map_err(panel)
            }
            ClusterStep::Forget => self.store.delete_cluster(cluster_id).await.map_err(panel),
            ClusterStep::Volume(step) => {
                crate::volumes::steps::run(
                    &self.gateway,
                    &self.store,
                    &self.vault,
                    &cluster,
                    &members,
                    step,
                )
                .await
            }
        }
    }

    /// Drains `m` and waits until the swarm (as its managers report it now) runs none of its
    /// tasks there, for at most [`DRAIN_WAIT`].
    async fn drain(
        &self,
        cluster: &ClusterRow,
        members: &[MemberRow],
        m: &MemberRow,
    ) -> Result<(), Failure> {
        let swarm_node_id = m
            .swarm_node_id
            .clone()
            .ok_or_else(|| refused("the node has not joined the swarm"))?;
        let cmd = Command::NodeUpdate(NodeUpdate {
            swarm_node_id: swarm_node_id.clone(),
            role: None,
            availability: Some(Availability::Drain),
            labels: None,
        });
        managers::on_manager(&self.gateway, members, Avoid::Prefer(&m.node_id), cmd).await?;
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        loop {
            let idle =
                self.gateway
                    .observed()
                    .swarm_of(cluster, members)
                    .is_some_and(|s| {
                        let drained = s.nodes.iter().any(|n| {
                            n.id == swarm_node_id && n.availability == Availability::Drain
                        });
                        let running =
                            s.services.iter().flat_map(|svc| svc.tasks.iter()).any(|t| {
                                t.node_id == swarm_node_id && t.state == TaskState::Running
                            });
                        drained && !running
                    });
            if idle {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::Transient(format!(
                    "the node still runs tasks {} s after it was drained",
                    DRAIN_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    async fn on_node(&self, node_id: &str, cmd: Command) -> Result<(), Failure> {
        managers::on_node(&self.gateway, &self.store, node_id, cmd, NODE_WAIT)
            .await
            .map(drop)
    }

    async fn member_reply(&self, node_id: &str, cmd: Command) -> Result<SwarmMember, Failure> {
        match managers::on_node(&self.gateway, &self.store, node_id, cmd, NODE_WAIT).await? {
            Reply::Member(joined) => Ok(joined),
            _ => Err(refused("the agent did not report its swarm membership")),
        }
    }

    /// Init on the first manager; its join tokens are sealed in the vault.
    async fn init(&self, cluster: &ClusterRow, m: &MemberRow) -> Result<(), Failure> {
        let panel = |e: ControlError| Failure::Refused(in_step(&cluster.id, e));
        let def = &cluster.definition;
        let cmd = Command::SwarmInit(SwarmInit {
            interface: m.interface.clone(),
            listen_port: def.listen_port,
            data_path_port: def.data_path_port,
            address_pools: def.pools.iter().map(ToString::to_string).collect(),
            subnet_size: def.subnet_size,
        });
        let joined = self.member_reply(&m.node_id, cmd).await?;
        let tokens = joined
            .tokens
            .ok_or_else(|| refused("the first manager did not return join tokens"))?;
        let worker = self
            .vault
            .seal(
                &tokens.worker,
                &token_context(&cluster.id, SwarmRole::Worker),
            )
            .map_err(panel)?;
        let manager = self
            .vault
            .seal(
                &tokens.manager,
                &token_context(&cluster.id, SwarmRole::Manager),
            )
            .map_err(panel)?;
        self.store
            .set_cluster_swarm(&cluster.id, &joined.cluster_id, &worker, &manager)
            .await
            .map_err(panel)?;
        self.store
            .set_member_swarm(&m.node_id, &joined.swarm_node_id, &joined.address)
            .await
            .map_err(panel)
    }

    /// Join through a manager that is online (any known manager address otherwise).
    async fn join(
        &self,
        cluster: &ClusterRow,
        members: &[MemberRow],
        m: &MemberRow,
    ) -> Result<(), Failure> {
        let panel = |e: ControlError| Failure::Refused(in_step(&cluster.id, e));
        let def: &Definition = &cluster.definition;
        let sealed = match m.role {
            SwarmRole::Manager => cluster.manager_token.as_deref(),
            SwarmRole::Worker => cluster.worker_token.as_deref(),
        };
        let sealed = sealed.ok_or_else(|| {
            refused("the swarm has no join token yet (the init step did not complete)")
        })?;
        let token = self
            .vault
            .open(sealed, &token_context(&cluster.id, m.role))
            .map_err(panel)?;
        let manager_address = |online_only: bool| {
            members
                .iter()
                .filter(|o| o.node_id != m.node_id && o.role == SwarmRole::Manager)
                .filter(|o| !online_only || self.gateway.is_online(&o.node_id).is_some())
                .find_map(|o| o.address.clone())
        };
        let remote = manager_address(true)
            .or_else(|| manager_address(false))
            .ok_or_else(|| refused("no manager address is known yet"))?;
        let cmd = Command::SwarmJoin(SwarmJoin {
            interface: m.interface.clone(),
            listen_port: def.listen_port,
            remote: format!("{remote}:{}", def.listen_port),
            token,
        });
        let joined = self.member_reply(&m.node_id, cmd).await?;
        self.store
            .set_member_swarm(&m.node_id, &joined.swarm_node_id, &joined.address)
            .await
            .map_err(panel)
    }

    /// The KeepAlived configuration of one VIP node.
    pub async fn vip_config(
        &self,
        cluster: &ClusterRow,
        m: &MemberRow,
    ) -> Result<VipConfig, ControlError> {
        let vips = self.store.vips(&cluster.id).await?;
        let own = m.address.clone().unwrap_or_default();
        let instances = vips
            .into_iter()
            .map(|v| VipInstance {
                address: v.address,
                interface: v.interface.unwrap_or_else(|| m.interface.clone()),
                vrid: v.vrid,
                priority: 100,
                unicast_peers: v.peers.into_iter().filter(|p| *p != own).collect(),
                track_port: v.track_port,
            })
            .collect();
        Ok(VipConfig {
            instances,
            advert_cs: cluster.definition.synctime_cs,
            require_swarm: true,
        })
    }
}

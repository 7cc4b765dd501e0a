//! Persisted workflows that build and remove clusters through the agents.
//!
//! A workflow is a list of steps stored with the cluster. Each step is written as running before
//! it runs and as done (or failed, with a readable error) after; a restarted panel resumes every
//! running workflow at its current step. A step interrupted by a restart runs again, which is
//! safe because every agent command first checks whether its effect already holds. A failed
//! workflow stops and waits for Retry (or for the cluster's deletion, which undoes it).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::cluster::{Definition, NodeLabel, StepState, StepView, SwarmRole, WorkflowView};
use domain::event::UiEvent;
use domain::protocol::{
    Command, NodeUpdate, Outcome, Reply, SwarmInit, SwarmJoin, VipConfig, VipInstance,
};
use serde::{Deserialize, Serialize};

use crate::ControlError;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::store::{MemberRow, Store, WorkflowRow};
use crate::vault::Vault;

/// How long a step waits for an offline node to come back before it fails.
pub const NODE_WAIT: Duration = Duration::from_secs(60);
/// How long one agent command may take (a swarm join can be slow).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Init {
        node_id: String,
    },
    Join {
        node_id: String,
    },
    Label {
        node_id: String,
    },
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub op: Op,
    pub title: String,
    pub state: StepState,
    pub error: Option<String>,
}

impl Step {
    fn new(op: Op, title: String) -> Self {
        Self {
            op,
            title,
            state: StepState::Pending,
            error: None,
        }
    }
}

/// A member as the planner sees it.
pub struct PlanMember<'a> {
    pub node_id: &'a str,
    pub hostname: &'a str,
    pub role: SwarmRole,
    pub has_labels: bool,
    pub vip: bool,
}

/// Create: init on the first manager, join managers then workers, label, start KeepAlived on the
/// VIP nodes, mark active.
pub fn create_plan(members: &[PlanMember<'_>], has_vips: bool) -> Vec<Step> {
    let mut steps = vec![];
    let mut order: Vec<&PlanMember<'_>> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .collect();
    order.extend(members.iter().filter(|m| m.role == SwarmRole::Worker));
    for (i, m) in order.iter().enumerate() {
        if i == 0 {
            steps.push(Step::new(
                Op::Init {
                    node_id: m.node_id.into(),
                },
                format!("Initialise the swarm on {}", m.hostname),
            ));
        } else {
            steps.push(Step::new(
                Op::Join {
                    node_id: m.node_id.into(),
                },
                format!("Join {} as {}", m.hostname, m.role.as_str()),
            ));
        }
    }
    for m in order.iter().filter(|m| m.has_labels) {
        steps.push(Step::new(
            Op::Label {
                node_id: m.node_id.into(),
            },
            format!("Label {}", m.hostname),
        ));
    }
    if has_vips {
        for m in order.iter().filter(|m| m.vip) {
            steps.push(Step::new(
                Op::Vips {
                    node_id: m.node_id.into(),
                },
                format!("Start KeepAlived on {}", m.hostname),
            ));
        }
    }
    steps.push(Step::new(Op::Activate, "Mark the cluster active".into()));
    steps
}

/// Delete (also the rollback of a failed creation): stop KeepAlived, workers leave, managers other
/// than the first are demoted and leave, the first manager leaves last, the panel forgets.
pub fn delete_plan(members: &[PlanMember<'_>], has_vips: bool) -> Vec<Step> {
    let mut steps = vec![];
    if has_vips {
        for m in members.iter().filter(|m| m.vip) {
            steps.push(Step::new(
                Op::StopVips {
                    node_id: m.node_id.into(),
                },
                format!("Stop KeepAlived on {}", m.hostname),
            ));
        }
    }
    for m in members.iter().filter(|m| m.role == SwarmRole::Worker) {
        steps.push(Step::new(
            Op::Leave {
                node_id: m.node_id.into(),
                force: false,
            },
            format!("{} leaves the swarm", m.hostname),
        ));
    }
    let managers: Vec<&PlanMember<'_>> = members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .collect();
    if let Some((anchor, others)) = managers.split_first() {
        for m in others {
            steps.push(Step::new(
                Op::Demote {
                    node_id: m.node_id.into(),
                },
                format!("Demote {}", m.hostname),
            ));
            steps.push(Step::new(
                Op::Leave {
                    node_id: m.node_id.into(),
                    force: false,
                },
                format!("{} leaves the swarm", m.hostname),
            ));
        }
        steps.push(Step::new(
            Op::Leave {
                node_id: anchor.node_id.into(),
                force: true,
            },
            format!("{} leaves the swarm (the swarm ends)", anchor.hostname),
        ));
    }
    steps.push(Step::new(Op::Forget, "Forget the cluster".into()));
    steps
}

/// Add a node to a running cluster: join, label, KeepAlived.
pub fn add_plan(m: &PlanMember<'_>, has_vips: bool) -> Vec<Step> {
    let mut steps = vec![Step::new(
        Op::Join {
            node_id: m.node_id.into(),
        },
        format!("Join {} as {}", m.hostname, m.role.as_str()),
    )];
    if m.has_labels {
        steps.push(Step::new(
            Op::Label {
                node_id: m.node_id.into(),
            },
            format!("Label {}", m.hostname),
        ));
    }
    if has_vips && m.vip {
        steps.push(Step::new(
            Op::Vips {
                node_id: m.node_id.into(),
            },
            format!("Start KeepAlived on {}", m.hostname),
        ));
    }
    steps
}

/// Remove a node: stop its KeepAlived, demote it, let it leave, drop its swarm entry, forget it.
/// A node that is offline cannot act itself: only the swarm-side steps run.
pub fn remove_plan(m: &PlanMember<'_>, online: bool, has_vips: bool) -> Vec<Step> {
    let mut steps = vec![];
    if online && has_vips && m.vip {
        steps.push(Step::new(
            Op::StopVips {
                node_id: m.node_id.into(),
            },
            format!("Stop KeepAlived on {}", m.hostname),
        ));
    }
    if m.role == SwarmRole::Manager {
        steps.push(Step::new(
            Op::Demote {
                node_id: m.node_id.into(),
            },
            format!("Demote {}", m.hostname),
        ));
    }
    if online {
        steps.push(Step::new(
            Op::Leave {
                node_id: m.node_id.into(),
                force: false,
            },
            format!("{} leaves the swarm", m.hostname),
        ));
    }
    steps.push(Step::new(
        Op::Unregister {
            node_id: m.node_id.into(),
        },
        format!("Remove {} from the swarm's node list", m.hostname),
    ));
    steps.push(Step::new(
        Op::ForgetMember {
            node_id: m.node_id.into(),
        },
        format!("Forget {} in this cluster", m.hostname),
    ));
    steps
}

/// Push the VIP configuration again (after the cluster's synctime changed).
pub fn vips_plan(members: &[PlanMember<'_>]) -> Vec<Step> {
    members
        .iter()
        .filter(|m| m.vip)
        .map(|m| {
            Step::new(
                Op::Vips {
                    node_id: m.node_id.into(),
                },
                format!("Update KeepAlived on {}", m.hostname),
            )
        })
        .collect()
}

pub fn view(w: &WorkflowRow) -> WorkflowView {
    let steps: Vec<Step> = serde_json::from_str(&w.steps).unwrap_or_default();
    WorkflowView {
        kind: w.kind.clone(),
        status: w.status.clone(),
        steps: steps
            .into_iter()
            .map(|s| StepView {
                title: s.title,
                state: s.state,
                error: s.error,
            })
            .collect(),
        error: w.error.clone(),
    }
}

pub fn new_workflow(cluster_id: &str, kind: &str, steps: &[Step]) -> WorkflowRow {
    WorkflowRow {
        id: uuid::Uuid::new_v4().to_string(),
        cluster_id: cluster_id.to_owned(),
        kind: kind.to_owned(),
        status: "running".into(),
        steps: serde_json::to_string(steps).unwrap_or_else(|_| "[]".into()),
        current: 0,
        error: None,
        created_at: crate::secret::now_ms(),
    }
}

pub fn token_context(cluster_id: &str, which: &str) -> String {
    format!("cluster:{cluster_id}:{which}_token")
}

#[derive(Clone)]
pub struct Orchestrator {
    store: Store,
    gateway: Gateway,
    events: Events,
    vault: Vault,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Orchestrator {
    pub fn new(store: Store, gateway: Gateway, events: Events, vault: Vault) -> Self {
        Self {
            store,
            gateway,
            events,
            vault,
            running: Arc::default(),
        }
    }

    /// Runs a workflow in the background (once, even if asked twice).
    pub fn spawn(&self, workflow_id: String) {
        if !self.lock_running().insert(workflow_id.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.run(&workflow_id).await {
                tracing::error!(workflow = %workflow_id, error = %crate::error::chain(&e), "workflow stopped on a panel error");
            }
            this.lock_running().remove(&workflow_id);
        });
    }

    /// Resumes every workflow that was running when the panel stopped.
    pub async fn resume(&self) -> Result<usize, ControlError> {
        let running = self.store.running_workflows().await?;
        for w in &running {
            tracing::info!(workflow = %w.id, cluster = %w.cluster_id, kind = %w.kind, step = w.current, "resuming workflow");
            self.spawn(w.id.clone());
        }
        Ok(running.len())
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(&self, id: &str) -> Result<(), ControlError> {
        loop {
            let Some(mut w) = self.store.workflow(id).await? else {
                return Ok(());
            };
            if w.status != "running" {
                return Ok(());
            }
            let mut steps: Vec<Step> =
                serde_json::from_str(&w.steps).map_err(|e| ControlError::Corrupt(e.to_string()))?;
            let i = w.current as usize;
            if i >= steps.len() {
                w.status = "done".into();
                self.save(&w, &steps).await?;
                tracing::info!(workflow = %w.id, cluster = %w.cluster_id, kind = %w.kind, "workflow done");
                return Ok(());
            }
            steps[i].state = StepState::Running;
            steps[i].error = None;
            self.save(&w, &steps).await?;
            tracing::info!(workflow = %w.id, step = i, title = %steps[i].title, "step started");
            match self.execute(&w.cluster_id, &steps[i].op).await {
                Ok(()) => {
                    steps[i].state = StepState::Done;
                    w.current += 1;
                }
                Err(message) => {
                    tracing::warn!(workflow = %w.id, step = i, title = %steps[i].title, error = %message, "step failed");
                    steps[i].state = StepState::Failed;
                    steps[i].error = Some(message.clone());
                    w.status = "failed".into();
                    w.error = Some(format!("{}: {message}", steps[i].title));
                    if w.kind == "create" {
                        self.store
                            .set_cluster_phase(&w.cluster_id, "failed")
                            .await?;
                    }
                }
            }
            self.save(&w, &steps).await?;
        }
    }

    async fn save(&self, w: &WorkflowRow, steps: &[Step]) -> Result<(), ControlError> {
        let mut w = w.clone();
        w.steps = serde_json::to_string(steps).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        self.store.save_workflow(&w).await?;
        self.events.publish(UiEvent::Cluster {
            id: w.cluster_id.clone(),
        });
        Ok(())
    }

    /// Sets a failed workflow running again from its failed step.
    pub async fn retry(&self, w: &WorkflowRow) -> Result<(), ControlError> {
        let mut w = w.clone();
        let mut steps: Vec<Step> =
            serde_json::from_str(&w.steps).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        if let Some(s) = steps.get_mut(w.current as usize) {
            s.state = StepState::Pending;
            s.error = None;
        }
        w.status = "running".into();
        w.error = None;
        if w.kind == "create" {
            self.store
                .set_cluster_phase(&w.cluster_id, "creating")
                .await?;
        }
        self.save(&w, &steps).await?;
        self.spawn(w.id.clone());
        Ok(())
    }

    /// One step. Errors are user-readable; panel-side failures are logged with their cause.
    async fn execute(&self, cluster_id: &str, op: &Op) -> Result<(), String> {
        let internal = |e: ControlError| {
            tracing::error!(cluster = cluster_id, error = %crate::error::chain(&e), "step failed on a panel error");
            "panel error (see the panel log)".to_string()
        };
        let cluster = self.store.cluster(cluster_id).await.map_err(internal)?;
        let Some(cluster) = cluster else {
            return if *op == Op::Forget {
                Ok(())
            } else {
                Err("the cluster no longer exists".into())
            };
        };
        let def: Definition = serde_json::from_str(&cluster.definition)
            .map_err(|e| internal(ControlError::Corrupt(e.to_string())))?;
        let members = self.store.members(cluster_id).await.map_err(internal)?;
        let member = |node_id: &str| {
            members
                .iter()
                .find(|m| m.node_id == node_id)
                .cloned()
                .ok_or_else(|| "the node is no longer a member".to_string())
        };
        match op {
            Op::Init { node_id } => {
                let m = member(node_id)?;
                let cmd = Command::SwarmInit(SwarmInit {
                    interface: m.interface.clone(),
                    listen_port: def.listen_port,
                    data_path_port: def.data_path_port,
                    address_pools: def.pools.iter().map(ToString::to_string).collect(),
                    subnet_size: def.subnet_size,
                });
                let Reply::Member(joined) = self.command(node_id, cmd).await? else {
                    return Err("the agent did not report its swarm membership".into());
                };
                let tokens = joined
                    .tokens
                    .ok_or("the first manager did not return join tokens")?;
                let worker = self
                    .vault
                    .seal(&tokens.worker, &token_context(cluster_id, "worker"))
                    .map_err(internal)?;
                let manager = self
                    .vault
                    .seal(&tokens.manager, &token_context(cluster_id, "manager"))
                    .map_err(internal)?;
                self.store
                    .set_cluster_swarm(cluster_id, &joined.cluster_id, &worker, &manager)
                    .await
                    .map_err(internal)?;
                self.store
                    .set_member_swarm(node_id, &joined.swarm_node_id, &joined.address)
                    .await
                    .map_err(internal)
            }
            Op::Join { node_id } => {
                let m = member(node_id)?;
                let role = parse_role(&m.role);
                let which = if role == SwarmRole::Manager {
                    "manager"
                } else {
                    "worker"
                };
                let sealed = match role {
                    SwarmRole::Manager => cluster.manager_token.as_deref(),
                    SwarmRole::Worker => cluster.worker_token.as_deref(),
                }
                .ok_or("the swarm has no join token yet (the init step did not complete)")?;
                let token = self
                    .vault
                    .open(sealed, &token_context(cluster_id, which))
                    .map_err(internal)?;
                let remote = members
                    .iter()
                    .filter(|o| o.node_id != *node_id && parse_role(&o.role) == SwarmRole::Manager)
                    .find_map(|o| {
                        o.address
                            .as_ref()
                            .filter(|_| self.gateway.is_online(&o.node_id).is_some())
                    })
                    .or_else(|| {
                        members.iter().find_map(|o| {
                            o.address
                                .as_ref()
                                .filter(|_| parse_role(&o.role) == SwarmRole::Manager)
                        })
                    })
                    .ok_or("no manager address is known yet")?;
                let cmd = Command::SwarmJoin(SwarmJoin {
                    interface: m.interface.clone(),
                    listen_port: def.listen_port,
                    remote: format!("{remote}:{}", def.listen_port),
                    token,
                });
                let Reply::Member(joined) = self.command(node_id, cmd).await? else {
                    return Err("the agent did not report its swarm membership".into());
                };
                self.store
                    .set_member_swarm(node_id, &joined.swarm_node_id, &joined.address)
                    .await
                    .map_err(internal)
            }
            Op::Label { node_id } => {
                let m = member(node_id)?;
                let labels: Vec<NodeLabel> = serde_json::from_str(&m.labels).unwrap_or_default();
                let swarm_node_id = m
                    .swarm_node_id
                    .clone()
                    .ok_or("the node has not joined the swarm")?;
                let cmd = Command::NodeUpdate(NodeUpdate {
                    swarm_node_id,
                    role: None,
                    availability: None,
                    labels: Some(labels),
                });
                self.on_manager(&members, None, cmd).await.map(|_| ())
            }
            Op::Vips { node_id } => {
                let m = member(node_id)?;
                let cfg = self
                    .vip_config(cluster_id, &def, &m)
                    .await
                    .map_err(internal)?;
                self.command(node_id, Command::Vips(cfg)).await.map(|_| ())
            }
            Op::StopVips { node_id } => {
                let cfg = VipConfig {
                    instances: vec![],
                    advert_cs: def.synctime_cs,
                    require_swarm: true,
                };
                self.command(node_id, Command::Vips(cfg)).await.map(|_| ())
            }
            Op::Activate => self
                .store
                .set_cluster_phase(cluster_id, "active")
                .await
                .map_err(internal),
            Op::Demote { node_id } => {
                let m = member(node_id)?;
                let Some(swarm_node_id) = m.swarm_node_id.clone() else {
                    return Ok(());
                };
                let cmd = Command::NodeUpdate(NodeUpdate {
                    swarm_node_id,
                    role: Some(SwarmRole::Worker),
                    availability: None,
                    labels: None,
                });
                self.on_manager(&members, Some(node_id), cmd)
                    .await
                    .map(|_| ())
            }
            Op::Leave { node_id, force } => self
                .command(node_id, Command::SwarmLeave { force: *force })
                .await
                .map(|_| ()),
            Op::Unregister { node_id } => {
                let m = member(node_id)?;
                let Some(swarm_node_id) = m.swarm_node_id.clone() else {
                    return Ok(());
                };
                self.on_manager(
                    &members,
                    Some(node_id),
                    Command::NodeRemove { swarm_node_id },
                )
                .await
                .map(|_| ())
            }
            Op::ForgetMember { node_id } => {
                self.store.delete_member(node_id).await.map_err(internal)
            }
            Op::Forget => self
                .store
                .delete_cluster(cluster_id)
                .await
                .map_err(internal),
        }
    }

    /// The KeepAlived configuration of one VIP node.
    pub async fn vip_config(
        &self,
        cluster_id: &str,
        def: &Definition,
        m: &MemberRow,
    ) -> Result<VipConfig, ControlError> {
        let vips = self.store.vips(cluster_id).await?;
        let own = m.address.clone().unwrap_or_default();
        let instances = vips
            .iter()
            .map(|v| {
                let peers: Vec<String> = serde_json::from_str(&v.peers).unwrap_or_default();
                VipInstance {
                    address: v.address.clone(),
                    interface: v.interface.clone().unwrap_or_else(|| m.interface.clone()),
                    vrid: v.vrid as u8,
                    priority: 100,
                    unicast_peers: peers.into_iter().filter(|p| *p != own).collect(),
                    track_port: v.track_port.and_then(|p| u16::try_from(p).ok()),
                }
            })
            .collect();
        Ok(VipConfig {
            instances,
            advert_cs: def.synctime_cs,
            require_swarm: true,
        })
    }

    /// Runs a command on the first reachable manager (other than `except`).
    async fn on_manager(
        &self,
        members: &[MemberRow],
        except: Option<&str>,
        cmd: Command,
    ) -> Result<Reply, String> {
        let managers: Vec<&MemberRow> = members
            .iter()
            .filter(|m| parse_role(&m.role) == SwarmRole::Manager && m.swarm_node_id.is_some())
            .filter(|m| Some(m.node_id.as_str()) != except)
            .collect();
        let mut last = "no manager of this cluster is reachable".to_string();
        for m in managers
            .iter()
            .filter(|m| self.gateway.is_online(&m.node_id).is_some())
        {
            match self
                .gateway
                .command(&m.node_id, cmd.clone(), STEP_TIMEOUT)
                .await
            {
                Ok(Outcome::Done { reply }) => return Ok(reply),
                Ok(Outcome::Failed { message }) => last = message,
                Err(e) => last = domain::AppError::from(e).to_string(),
            }
        }
        Err(last)
    }

    /// Sends a command to a node, waiting up to [`NODE_WAIT`] for it to be online.
    async fn command(&self, node_id: &str, cmd: Command) -> Result<Reply, String> {
        let deadline = tokio::time::Instant::now() + NODE_WAIT;
        while self.gateway.is_online(node_id).is_none() {
            if tokio::time::Instant::now() >= deadline {
                let name = self
                    .store
                    .node_by_id(node_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|n| n.hostname)
                    .unwrap_or_else(|| node_id.into());
                return Err(format!("{name} is offline"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match self.gateway.command(node_id, cmd, STEP_TIMEOUT).await {
            Ok(Outcome::Done { reply }) => Ok(reply),
            Ok(Outcome::Failed { message }) => Err(message),
            Err(e) => Err(domain::AppError::from(e).to_string()),
        }
    }
}

pub fn parse_role(role: &str) -> SwarmRole {
    if role == SwarmRole::Manager.as_str() {
        SwarmRole::Manager
    } else {
        SwarmRole::Worker
    }
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

    #[test]
    fn create_inits_on_the_first_manager_and_joins_managers_first() {
        let members = [
            m("w1", SwarmRole::Worker, true, true),
            m("m1", SwarmRole::Manager, false, true),
            m("m2", SwarmRole::Manager, false, false),
        ];
        let steps = create_plan(&members, true);
        let ops: Vec<&Op> = steps.iter().map(|s| &s.op).collect();
        assert_eq!(
            ops,
            vec![
                &Op::Init {
                    node_id: "m1".into()
                },
                &Op::Join {
                    node_id: "m2".into()
                },
                &Op::Join {
                    node_id: "w1".into()
                },
                &Op::Label {
                    node_id: "w1".into()
                },
                &Op::Vips {
                    node_id: "m1".into()
                },
                &Op::Vips {
                    node_id: "w1".into()
                },
                &Op::Activate,
            ]
        );
        assert_eq!(steps[0].title, "Initialise the swarm on m1");
        assert!(steps.iter().all(|s| s.state == StepState::Pending));
    }

    #[test]
    fn delete_stops_vips_then_workers_then_managers_and_the_anchor_last() {
        let members = [
            m("m1", SwarmRole::Manager, false, true),
            m("m2", SwarmRole::Manager, false, true),
            m("w1", SwarmRole::Worker, false, false),
        ];
        let ops: Vec<Op> = delete_plan(&members, true)
            .into_iter()
            .map(|s| s.op)
            .collect();
        assert_eq!(
            ops,
            vec![
                Op::StopVips {
                    node_id: "m1".into()
                },
                Op::StopVips {
                    node_id: "m2".into()
                },
                Op::Leave {
                    node_id: "w1".into(),
                    force: false
                },
                Op::Demote {
                    node_id: "m2".into()
                },
                Op::Leave {
                    node_id: "m2".into(),
                    force: false
                },
                Op::Leave {
                    node_id: "m1".into(),
                    force: true
                },
                Op::Forget,
            ]
        );
        let without_vips: Vec<Op> = delete_plan(&members, false)
            .into_iter()
            .map(|s| s.op)
            .collect();
        assert!(
            !without_vips
                .iter()
                .any(|o| matches!(o, Op::StopVips { .. }))
        );
    }

    #[test]
    fn steps_round_trip_through_json() {
        let steps = create_plan(&[m("m1", SwarmRole::Manager, true, false)], false);
        let json = serde_json::to_string(&steps).expect("json");
        let back: Vec<Step> = serde_json::from_str(&json).expect("back");
        assert_eq!(back, steps);
        assert!(json.contains("\"op\":\"init\""));
    }
}

//! Cluster use cases: candidates, create, list, details, retry, delete, join tokens.
use domain::cluster::{
    Candidate, ClusterDetail, ClusterDraft, ClusterEdit, ClusterSummary, Definition, MemberDraft,
    MemberView, NodeAction, NodeLabel, SwarmRole, VipView,
};
use domain::event::UiEvent;
use domain::health::{self, Availability, Lifecycle, MemberState};
use domain::network::NetworkDraft;
use domain::node::{EngineFacts, SwarmState};
use domain::protocol::{
    Command, JoinTokens, NetworkCreate, NodeUpdate, Outcome, Reply, SwarmSnapshot,
};
use domain::{Permission, ValidationError};

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::observed::Observed;
use crate::orchestrator::{self, Orchestrator, PlanMember, Step, parse_role, token_context};
use crate::store::{ClusterRow, MemberRow, NewCluster, NodeRow, Store, VipRow, WorkflowRow};
use crate::vault::Vault;

#[derive(Clone)]
pub struct Clusters {
    store: Store,
    gateway: Gateway,
    observed: Observed,
    orchestrator: Orchestrator,
    events: Events,
    vault: Vault,
}

/// Everything known about one cluster, gathered once per request.
struct Gathered {
    cluster: ClusterRow,
    definition: Definition,
    members: Vec<(MemberRow, Option<NodeRow>)>,
    vips: Vec<VipRow>,
    workflow: Option<WorkflowRow>,
    snapshot: Option<SwarmSnapshot>,
}

impl Clusters {
    pub fn new(
        store: Store,
        gateway: Gateway,
        observed: Observed,
        orchestrator: Orchestrator,
        events: Events,
        vault: Vault,
    ) -> Self {
        Self {
            store,
            gateway,
            observed,
            orchestrator,
            events,
            vault,
        }
    }

    /// Every enrolled node with what the wizard needs to offer or refuse it.
    pub async fn candidates(&self, actor: &Actor) -> Result<Vec<Candidate>, ControlError> {
        actor.require(Permission::Read)?;
        let members = self.store.all_members().await?;
        let clusters = self.store.clusters().await?;
        let presence = self.gateway.presence();
        Ok(self
            .store
            .list_nodes()
            .await?
            .into_iter()
            .map(|n| {
                let facts = n.facts();
                let cluster = members
                    .iter()
                    .find(|m| m.node_id == n.id)
                    .and_then(|m| clusters.iter().find(|c| c.id == m.cluster_id))
                    .map(|c| c.name.clone());
                Candidate {
                    online: presence.contains_key(&n.id),
                    cluster,
                    swarm_state: facts
                        .as_ref()
                        .map(|f| f.engine.swarm_label())
                        .unwrap_or_else(|| "unknown".into()),
                    interfaces: facts.map(|f| f.interfaces).unwrap_or_default(),
                    node_id: n.id,
                    hostname: n.hostname,
                }
            })
            .collect())
    }

    /// Validates the wizard against fresh node facts, stores the cluster and starts building it.
    pub async fn create(&self, actor: &Actor, draft: ClusterDraft) -> Result<String, ControlError> {
        actor.require(Permission::Operate)?;
        let candidates = self.candidates(actor).await?;
        let spec = draft.validate(&candidates).map_err(ControlError::Invalid)?;
        let def = &spec.definition;
        if self.store.cluster_name_taken(&def.name).await? {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "name",
                format!("a cluster named {} exists", def.name),
            )]));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let cluster = ClusterRow {
            id: id.clone(),
            name: def.name.clone(),
            definition: serde_json::to_string(def)
                .map_err(|e| ControlError::Corrupt(e.to_string()))?,
            phase: "creating".into(),
            swarm_id: None,
            worker_token: None,
            manager_token: None,
            created_at: crate::secret::now_ms(),
        };
        let members: Vec<MemberRow> = spec
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberRow {
                node_id: m.node_id.clone(),
                cluster_id: id.clone(),
                position: i as i64,
                role: m.role.as_str().into(),
                labels: serde_json::to_string(&m.labels).unwrap_or_else(|_| "[]".into()),
                interface: m.interface.clone(),
                vip: m.vip,
                swarm_node_id: None,
                address: None,
            })
            .collect();
        let vips: Vec<VipRow> = def
            .vips
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let peers: Vec<String> = v.peers.iter().map(ToString::to_string).collect();
                VipRow {
                    cluster_id: id.clone(),
                    position: i as i64,
                    address: v.address.to_string(),
                    interface: v.interface.clone(),
                    peers: serde_json::to_string(&peers).unwrap_or_else(|_| "[]".into()),
                    vrid: 0,
                    track_port: v.track_port.map(i64::from),
                }
            })
            .collect();
        let names: Vec<(String, String)> = candidates
            .iter()
            .map(|c| (c.node_id.clone(), c.hostname.clone()))
            .collect();
        let plan: Vec<PlanMember<'_>> = spec
            .members
            .iter()
            .map(|m| PlanMember {
                node_id: &m.node_id,
                hostname: names
                    .iter()
                    .find(|(id, _)| *id == m.node_id)
                    .map(|(_, h)| h.as_str())
                    .unwrap_or(&m.node_id),
                role: m.role,
                has_labels: !m.labels.is_empty(),
                vip: m.vip,
            })
            .collect();
        let steps = orchestrator::create_plan(&plan, !def.vips.is_empty());
        let workflow = orchestrator::new_workflow(&id, "create", &steps);
        let inserted = self
            .store
            .insert_cluster(NewCluster {
                cluster: &cluster,
                created_by: &actor.username,
                members: &members,
                vips: &vips,
                workflow: &workflow,
            })
            .await;
        match inserted {
            Err(e) if e.is_unique_violation() => {
                return Err(ControlError::Conflict(
                    "A chosen node joined another cluster meanwhile, or the name was just taken."
                        .into(),
                ));
            }
            other => other?,
        }
        self.changed(actor, &id, "cluster.create", &id, Some(&def.name))
            .await?;
        self.orchestrator.spawn(workflow.id);
        Ok(id)
    }

    async fn gather(&self, cluster: ClusterRow) -> Result<Gathered, ControlError> {
        let definition: Definition = serde_json::from_str(&cluster.definition)
            .map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let mut members = vec![];
        for m in self.store.members(&cluster.id).await? {
            let node = self.store.node_by_id(&m.node_id).await?;
            members.push((m, node));
        }
        // Only this cluster's managers speak for its swarm.
        let managers = members
            .iter()
            .filter(|(m, _)| parse_role(&m.role) == SwarmRole::Manager)
            .map(|(m, _)| m.node_id.as_str());
        let snapshot = cluster
            .swarm_id
            .as_deref()
            .and_then(|s| self.observed.swarm(s, managers));
        Ok(Gathered {
            vips: self.store.vips(&cluster.id).await?,
            workflow: self.store.latest_workflow(&cluster.id).await?,
            snapshot,
            definition,
            members,
            cluster,
        })
    }

    fn summary(&self, g: &Gathered) -> ClusterSummary {
        let presence = self.gateway.presence();
        let hostname = |m: &MemberRow, n: &Option<NodeRow>| {
            n.as_ref()
                .map(|n| n.hostname.clone())
                .unwrap_or_else(|| m.node_id.clone())
        };
        let swarm_view = |m: &MemberRow| {
            g.snapshot.as_ref().and_then(|s| {
                s.nodes
                    .iter()
                    .find(|v| Some(&v.id) == m.swarm_node_id.as_ref())
                    .cloned()
            })
        };
        let states: Vec<MemberState> = g
            .members
            .iter()
            .map(|(m, n)| {
                let in_swarm = n
                    .as_ref()
                    .and_then(NodeRow::facts)
                    .is_some_and(|f| matches!(f.engine, EngineFacts::Up { ref swarm, .. } if swarm.state == SwarmState::Active));
                MemberState {
                    hostname: hostname(m, n),
                    role: parse_role(&m.role),
                    online: presence.contains_key(&m.node_id),
                    in_swarm,
                    availability: swarm_view(m).map(|v| v.availability),
                }
            })
            .collect();
        let vips: Vec<VipView> = g
            .vips
            .iter()
            .map(|v| VipView {
                address: v.address.clone(),
                vrid: v.vrid as u8,
                track_port: v.track_port.and_then(|p| u16::try_from(p).ok()),
                owners: g
                    .members
                    .iter()
                    .filter(|(m, _)| {
                        self.observed
                            .vips_of(&m.node_id)
                            .iter()
                            .any(|o| o.address == v.address && o.holds)
                    })
                    .map(|(m, n)| hostname(m, n))
                    .collect(),
            })
            .collect();
        let lifecycle = lifecycle(&g.cluster.phase, g.workflow.as_ref());
        let owners: Vec<(String, usize)> = vips
            .iter()
            .map(|v| (v.address.clone(), v.owners.len()))
            .collect();
        let (health, reason) = health::status(&lifecycle, &states, &owners);
        ClusterSummary {
            id: g.cluster.id.clone(),
            name: g.cluster.name.clone(),
            health,
            reason,
            online: states.iter().filter(|s| s.online).count(),
            available: g
                .members
                .iter()
                .filter_map(|(m, _)| swarm_view(m))
                .filter(|v| v.availability == Availability::Active && v.state == "ready")
                .count(),
            members: states.len(),
            managers: states
                .iter()
                .filter(|s| s.role == SwarmRole::Manager)
                .count(),
            workloads: 0,
            vips,
            created_at_ms: g.cluster.created_at,
        }
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<ClusterSummary>, ControlError> {
        actor.require(Permission::Read)?;
        let mut out = vec![];
        for c in self.store.clusters().await? {
            let g = self.gather(c).await?;
            out.push(self.summary(&g));
        }
        Ok(out)
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<ClusterDetail, ControlError> {
        actor.require(Permission::Read)?;
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        let g = self.gather(cluster).await?;
        let summary = self.summary(&g);
        let presence = self.gateway.presence();
        let members = g
            .members
            .iter()
            .map(|(m, n)| MemberView {
                node_id: m.node_id.clone(),
                hostname: n
                    .as_ref()
                    .map(|n| n.hostname.clone())
                    .unwrap_or_else(|| m.node_id.clone()),
                role: parse_role(&m.role),
                labels: serde_json::from_str::<Vec<NodeLabel>>(&m.labels).unwrap_or_default(),
                interface: m.interface.clone(),
                vip: m.vip,
                online: presence.contains_key(&m.node_id),
                address: m.address.clone(),
                swarm: g.snapshot.as_ref().and_then(|s| {
                    s.nodes
                        .iter()
                        .find(|v| Some(&v.id) == m.swarm_node_id.as_ref())
                        .cloned()
                }),
                vip_states: self.observed.vips_of(&m.node_id),
            })
            .collect::<Vec<_>>();
        let leader = g
            .snapshot
            .as_ref()
            .and_then(|s| s.nodes.iter().find(|v| v.leader))
            .map(|v| v.hostname.clone());
        Ok(ClusterDetail {
            summary,
            workflow: g.workflow.as_ref().map(orchestrator::view),
            leader,
            swarm_pools: g
                .snapshot
                .as_ref()
                .map(|s| s.default_addr_pool.clone())
                .unwrap_or_default(),
            swarm_subnet_size: g.snapshot.as_ref().map(|s| s.subnet_size),
            swarm_data_path_port: g.snapshot.as_ref().map(|s| s.data_path_port),
            has_tokens: g.cluster.worker_token.is_some(),
            networks: g
                .snapshot
                .as_ref()
                .map(|s| s.networks.clone())
                .unwrap_or_default(),
            without_ipvs: g
                .members
                .iter()
                .filter_map(|(_, n)| n.as_ref())
                .filter(|n| n.facts().is_some_and(|f| !f.ipvs))
                .map(|n| n.hostname.clone())
                .collect(),
            definition: g.definition,
            members,
        })
    }

    /// Restarts a failed workflow from its failed step.
    pub async fn retry(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        self.store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        let w = self
            .store
            .latest_workflow(id)
            .await?
            .filter(|w| w.status == "failed");
        let w = w.ok_or_else(|| {
            ControlError::Conflict("Nothing to retry: the last operation did not fail.".into())
        })?;
        self.store
            .audit(&actor.username, "cluster.retry", Some(id), Some(&w.kind))
            .await?;
        self.orchestrator.retry(&w).await
    }

    /// Takes the cluster apart on its nodes (nothing left behind), then forgets it.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if let Some(w) = self.store.latest_workflow(id).await?
            && w.status == "running"
        {
            return Err(ControlError::Conflict(format!(
                "Wait for the running {} operation to finish or fail.",
                w.kind
            )));
        }
        let g = self.gather(cluster).await?;
        let names: Vec<(String, String)> = g
            .members
            .iter()
            .map(|(m, n)| {
                (
                    m.node_id.clone(),
                    n.as_ref()
                        .map(|n| n.hostname.clone())
                        .unwrap_or_else(|| m.node_id.clone()),
                )
            })
            .collect();
        let plan: Vec<PlanMember<'_>> = g
            .members
            .iter()
            .zip(&names)
            .map(|((m, _), (_, hostname))| PlanMember {
                node_id: &m.node_id,
                hostname,
                role: parse_role(&m.role),
                has_labels: false,
                vip: m.vip,
            })
            .collect();
        let steps: Vec<Step> = orchestrator::delete_plan(&plan, !g.vips.is_empty());
        let workflow = orchestrator::new_workflow(id, "delete", &steps);
        self.store.set_cluster_phase(id, "deleting").await?;
        self.store.add_workflow(&workflow).await?;
        self.changed(actor, id, "cluster.delete", id, Some(&g.cluster.name))
            .await?;
        self.orchestrator.spawn(workflow.id);
        Ok(())
    }

    /// Changes one node: availability, role or labels. Refuses what would lose quorum, remove
    /// the last manager or leave no active node, with the reason.
    pub async fn node_action(
        &self,
        actor: &Actor,
        id: &str,
        node_id: &str,
        action: NodeAction,
    ) -> Result<(), ControlError> {
        // Demoting a manager weakens the swarm's fault tolerance: Supervisors and up.
        actor.require(if action == NodeAction::Demote {
            Permission::Supervise
        } else {
            Permission::Operate
        })?;
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if cluster.phase != "active" {
            return Err(ControlError::Conflict(
                "The cluster is not active (it is being built, deleted or failed).".into(),
            ));
        }
        let g = self.gather(cluster).await?;
        let (member, _) = g
            .members
            .iter()
            .find(|(m, _)| m.node_id == node_id)
            .ok_or(ControlError::NotFound("Cluster node"))?;
        let swarm_node_id = member
            .swarm_node_id
            .clone()
            .ok_or_else(|| ControlError::Conflict("The node has not joined the swarm.".into()))?;
        let snapshot = g.snapshot.as_ref().ok_or_else(|| {
            ControlError::Unavailable(
                "No manager has reported the swarm yet; try again in a moment.".into(),
            )
        })?;
        let refuse = |m: String| Err(ControlError::Conflict(m));
        let managers: Vec<_> = snapshot
            .nodes
            .iter()
            .filter(|n| n.role == SwarmRole::Manager)
            .collect();
        // Reachable by the swarm's own account and, to be safe with a report a few seconds old,
        // with its agent connected to the panel.
        let presence = self.gateway.presence();
        let agent_up = |swarm_id: &str| {
            g.members.iter().any(|(m, _)| {
                m.swarm_node_id.as_deref() == Some(swarm_id) && presence.contains_key(&m.node_id)
            })
        };
        let reachable = |n: &domain::protocol::SwarmNodeView| {
            (n.leader || n.reachability.as_deref() == Some("reachable")) && agent_up(&n.id)
        };
        let target = snapshot.nodes.iter().find(|n| n.id == swarm_node_id);
        let mut update = NodeUpdate {
            swarm_node_id: swarm_node_id.clone(),
            role: None,
            availability: None,
            labels: None,
        };
        let mut new_role = None;
        let mut new_labels = None;
        match &action {
            NodeAction::Availability { availability } => {
                let others_active = snapshot
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.id != swarm_node_id
                            && n.availability == Availability::Active
                            && n.state == "ready"
                    })
                    .count();
                if *availability != Availability::Active && others_active == 0 {
                    return refuse("At least one other ready node must stay active to run the cluster's tasks.".into());
                }
                update.availability = Some(*availability);
            }
            NodeAction::Promote => {
                if parse_role(&member.role) == SwarmRole::Manager {
                    return refuse("The node is already a manager.".into());
                }
                update.role = Some(SwarmRole::Manager);
                new_role = Some(SwarmRole::Manager);
            }
            NodeAction::Demote => {
                if parse_role(&member.role) != SwarmRole::Manager {
                    return refuse("The node is not a manager.".into());
                }
                let up = managers.iter().filter(|n| reachable(n)).count();
                health::check_manager_leaves(managers.len(), up, target.is_some_and(reachable))
                    .map_err(ControlError::Conflict)?;
                update.role = Some(SwarmRole::Worker);
                new_role = Some(SwarmRole::Worker);
            }
            NodeAction::Labels { labels } => {
                let parsed = domain::cluster::parse_labels(labels)
                    .map_err(|m| ControlError::Validation(ValidationError::new("labels", m)))?;
                update.labels = Some(parsed.clone());
                new_labels = Some(parsed);
            }
        }
        self.run_on_manager(&g, Some(node_id), Command::NodeUpdate(update))
            .await?;
        if let Some(role) = new_role {
            self.store.set_member_role(node_id, role.as_str()).await?;
        }
        if let Some(labels) = new_labels {
            self.store
                .set_member_labels(
                    node_id,
                    &serde_json::to_string(&labels).unwrap_or_else(|_| "[]".into()),
                )
                .await?;
        }
        self.changed(
            actor,
            id,
            "cluster.node",
            node_id,
            Some(&serde_json::to_string(&action).unwrap_or_default()),
        )
        .await
    }

    /// Adds an eligible node to a running cluster (join, labels, KeepAlived) as a workflow.
    pub async fn add_node(
        &self,
        actor: &Actor,
        id: &str,
        draft: MemberDraft,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let g = self.idle_active(id).await?;
        let candidates = self.candidates(actor).await?;
        let spec = draft
            .validate_addition(&candidates, &g.definition)
            .map_err(ControlError::Invalid)?;
        let hostname = candidates
            .iter()
            .find(|c| c.node_id == spec.node_id)
            .map(|c| c.hostname.clone())
            .unwrap_or_default();
        let row = MemberRow {
            node_id: spec.node_id.clone(),
            cluster_id: id.to_owned(),
            position: 0,
            role: spec.role.as_str().into(),
            labels: serde_json::to_string(&spec.labels).unwrap_or_else(|_| "[]".into()),
            interface: spec.interface.clone(),
            vip: spec.vip,
            swarm_node_id: None,
            address: None,
        };
        let plan = PlanMember {
            node_id: &spec.node_id,
            hostname: &hostname,
            role: spec.role,
            has_labels: !spec.labels.is_empty(),
            vip: spec.vip,
        };
        let workflow = orchestrator::new_workflow(
            id,
            "add-node",
            &orchestrator::add_plan(&plan, !g.vips.is_empty()),
        );
        match self.store.add_member(&row, &workflow).await {
            Err(e) if e.is_unique_violation() => {
                return Err(ControlError::Conflict(format!(
                    "{hostname} joined another cluster meanwhile."
                )));
            }
            other => other?,
        }
        self.changed(actor, id, "cluster.node.add", id, Some(&hostname))
            .await?;
        self.orchestrator.spawn(workflow.id);
        Ok(())
    }

    /// Removes a node from a running cluster. Refuses to remove the last node, the last manager
    /// or a manager whose departure would lose quorum.
    pub async fn remove_node(
        &self,
        actor: &Actor,
        id: &str,
        node_id: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let g = self.idle_active(id).await?;
        let (member, node) = g
            .members
            .iter()
            .find(|(m, _)| m.node_id == node_id)
            .ok_or(ControlError::NotFound("Cluster node"))?;
        if g.members.len() == 1 {
            return Err(ControlError::Conflict(
                "It is the cluster's only node: delete the cluster instead.".into(),
            ));
        }
        let presence = self.gateway.presence();
        let role = parse_role(&member.role);
        if role == SwarmRole::Manager {
            let managers: Vec<&MemberRow> = g
                .members
                .iter()
                .map(|(m, _)| m)
                .filter(|m| parse_role(&m.role) == SwarmRole::Manager)
                .collect();
            let up = |m: &MemberRow| {
                presence.contains_key(&m.node_id)
                    && g.snapshot.as_ref().is_some_and(|s| {
                        s.nodes.iter().any(|n| {
                            Some(&n.id) == m.swarm_node_id.as_ref()
                                && (n.leader || n.reachability.as_deref() == Some("reachable"))
                        })
                    })
            };
            let reachable = managers.iter().filter(|m| up(m)).count();
            health::check_manager_leaves(managers.len(), reachable, up(member))
                .map_err(ControlError::Conflict)?;
        }
        let hostname = node
            .as_ref()
            .map(|n| n.hostname.clone())
            .unwrap_or_else(|| node_id.to_owned());
        let plan = PlanMember {
            node_id,
            hostname: &hostname,
            role,
            has_labels: false,
            vip: member.vip,
        };
        let steps =
            orchestrator::remove_plan(&plan, presence.contains_key(node_id), !g.vips.is_empty());
        let workflow = orchestrator::new_workflow(id, "remove-node", &steps);
        self.store.add_workflow(&workflow).await?;
        self.changed(actor, id, "cluster.node.remove", id, Some(&hostname))
            .await?;
        self.orchestrator.spawn(workflow.id);
        Ok(())
    }

    /// Renames the cluster and changes its synctime (pushing the new KeepAlived configuration).
    pub async fn edit(
        &self,
        actor: &Actor,
        id: &str,
        edit: ClusterEdit,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let mut g = self.idle_active(id).await?;
        let (name, synctime_cs) = edit.validate().map_err(ControlError::Invalid)?;
        if !name.eq_ignore_ascii_case(&g.cluster.name)
            && self.store.cluster_name_taken(&name).await?
        {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "name",
                format!("a cluster named {name} exists"),
            )]));
        }
        let synctime_changed = synctime_cs != g.definition.synctime_cs;
        g.definition.name = name.clone();
        g.definition.synctime_cs = synctime_cs;
        let definition = serde_json::to_string(&g.definition)
            .map_err(|e| ControlError::Corrupt(e.to_string()))?;
        self.store.update_cluster(id, &name, &definition).await?;
        self.changed(actor, id, "cluster.edit", id, Some(&name))
            .await?;
        if synctime_changed && !g.vips.is_empty() {
            let names: Vec<String> = g
                .members
                .iter()
                .map(|(m, n)| {
                    n.as_ref()
                        .map(|n| n.hostname.clone())
                        .unwrap_or_else(|| m.node_id.clone())
                })
                .collect();
            let plan: Vec<PlanMember<'_>> = g
                .members
                .iter()
                .zip(&names)
                .map(|((m, _), h)| PlanMember {
                    node_id: &m.node_id,
                    hostname: h,
                    role: parse_role(&m.role),
                    has_labels: false,
                    vip: m.vip,
                })
                .collect();
            let workflow =
                orchestrator::new_workflow(id, "update-vips", &orchestrator::vips_plan(&plan));
            self.store.add_workflow(&workflow).await?;
            self.orchestrator.spawn(workflow.id);
        }
        Ok(())
    }

    /// An active cluster with no workflow running.
    /// Records a change made through the panel (audit log) and tells open browsers that the
    /// cluster changed.
    async fn changed(
        &self,
        actor: &Actor,
        cluster_id: &str,
        action: &str,
        target: &str,
        detail: Option<&str>,
    ) -> Result<(), ControlError> {
        self.store
            .audit(&actor.username, action, Some(target), detail)
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }

    async fn idle_active(&self, id: &str) -> Result<Gathered, ControlError> {
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if cluster.phase != "active" {
            return Err(ControlError::Conflict(
                "The cluster is not active (it is being built, deleted or failed).".into(),
            ));
        }
        if let Some(w) = self.store.latest_workflow(id).await?
            && w.status == "running"
        {
            return Err(ControlError::Conflict(format!(
                "Wait for the running {} operation to finish.",
                w.kind
            )));
        }
        self.gather(cluster).await
    }

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
            .validate(&g.definition.pools, &snapshot.networks)
            .map_err(ControlError::Invalid)?;
        let cmd = Command::NetworkCreate(NetworkCreate {
            name: spec.name.clone(),
            subnet: spec.subnet.map(|c| c.to_string()),
            attachable: spec.attachable,
            encrypted: spec.encrypted,
        });
        self.run_on_manager(&g, None, cmd).await?;
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
        let (g, snapshot) = self.active_with_swarm(id).await?;
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
        self.run_on_manager(
            &g,
            None,
            Command::NetworkRemove {
                name: name.to_owned(),
            },
        )
        .await?;
        self.changed(actor, id, "cluster.network.delete", id, Some(name))
            .await
    }

    async fn active_with_swarm(&self, id: &str) -> Result<(Gathered, SwarmSnapshot), ControlError> {
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if cluster.phase != "active" {
            return Err(ControlError::Conflict(
                "The cluster is not active (it is being built, deleted or failed).".into(),
            ));
        }
        let g = self.gather(cluster).await?;
        let snapshot = g.snapshot.clone().ok_or_else(|| {
            ControlError::Unavailable(
                "No manager has reported the swarm yet; try again in a moment.".into(),
            )
        })?;
        Ok((g, snapshot))
    }

    /// Runs a command on a reachable manager, preferring one other than `avoid`.
    async fn run_on_manager(
        &self,
        g: &Gathered,
        avoid: Option<&str>,
        cmd: Command,
    ) -> Result<Reply, ControlError> {
        let managers: Vec<&MemberRow> = g
            .members
            .iter()
            .map(|(m, _)| m)
            .filter(|m| {
                parse_role(&m.role) == SwarmRole::Manager
                    && self.gateway.is_online(&m.node_id).is_some()
            })
            .collect();
        let ordered = managers
            .iter()
            .filter(|m| Some(m.node_id.as_str()) != avoid)
            .chain(
                managers
                    .iter()
                    .filter(|m| Some(m.node_id.as_str()) == avoid),
            );
        let mut last = "no manager of this cluster is reachable".to_string();
        for m in ordered {
            match self
                .gateway
                .command(&m.node_id, cmd.clone(), orchestrator::STEP_TIMEOUT)
                .await
            {
                Ok(Outcome::Done { reply }) => return Ok(reply),
                Ok(Outcome::Failed { message }) => last = message,
                Err(e) => last = domain::AppError::from(e).to_string(),
            }
        }
        Err(ControlError::Unavailable(format!(
            "The change was not applied: {last}"
        )))
    }

    /// Reveals (or rotates, then reveals) the join tokens. Administrators and Supervisors only.
    pub async fn join_tokens(
        &self,
        actor: &Actor,
        id: &str,
        rotate: bool,
    ) -> Result<JoinTokens, ControlError> {
        actor.require(Permission::Supervise)?;
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if rotate {
            let members = self.store.members(id).await?;
            let mut fresh = None;
            for m in members.iter().filter(|m| {
                parse_role(&m.role) == SwarmRole::Manager
                    && self.gateway.is_online(&m.node_id).is_some()
            }) {
                if let Ok(Outcome::Done {
                    reply: Reply::Tokens(t),
                }) = self
                    .gateway
                    .command(
                        &m.node_id,
                        Command::JoinTokens { rotate: true },
                        orchestrator::STEP_TIMEOUT,
                    )
                    .await
                {
                    fresh = Some(t);
                    break;
                }
            }
            let t = fresh.ok_or_else(|| {
                ControlError::Unavailable(
                    "No manager of this cluster could rotate the tokens.".into(),
                )
            })?;
            let worker = self.vault.seal(&t.worker, &token_context(id, "worker"))?;
            let manager = self.vault.seal(&t.manager, &token_context(id, "manager"))?;
            self.store
                .set_cluster_swarm(
                    id,
                    cluster.swarm_id.as_deref().unwrap_or_default(),
                    &worker,
                    &manager,
                )
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
            worker: self.vault.open(w, &token_context(id, "worker"))?,
            manager: self.vault.open(m, &token_context(id, "manager"))?,
        })
    }
}

fn lifecycle(phase: &str, workflow: Option<&WorkflowRow>) -> Lifecycle {
    let progress = |w: &WorkflowRow| {
        let view = orchestrator::view(w);
        let n = view.steps.len();
        let i = (w.current as usize).min(n.saturating_sub(1));
        view.steps
            .get(i)
            .map(|s| format!("step {} of {n}: {}", i + 1, s.title))
            .unwrap_or_default()
    };
    match (phase, workflow) {
        ("failed", Some(w)) => Lifecycle::Failed {
            error: w.error.clone().unwrap_or_else(|| "creation failed".into()),
        },
        ("failed", None) => Lifecycle::Failed {
            error: "creation failed".into(),
        },
        ("deleting", Some(w)) if w.status == "failed" => Lifecycle::Failed {
            error: format!("deletion stopped: {}", w.error.clone().unwrap_or_default()),
        },
        ("deleting", Some(w)) => Lifecycle::Deleting { step: progress(w) },
        ("creating", Some(w)) => Lifecycle::Creating { step: progress(w) },
        ("creating" | "deleting", None) => Lifecycle::Creating {
            step: String::new(),
        },
        _ => Lifecycle::Active,
    }
}

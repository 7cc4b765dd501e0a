//! One node of a cluster: its availability, role and labels, and adding or removing it. Changes
//! that would lose quorum, remove the last manager or leave no node to run tasks are refused
//! with the reason.
use domain::cluster::{MemberDraft, NodeAction};
use domain::health;
use domain::protocol::{Command, NodeUpdate};
use domain::storage::{CopyOnLeave, VolumeMode};
use domain::swarm::{Availability, SwarmNodeView, SwarmRole, parse_labels};
use domain::workflow::WorkflowKind;
use domain::{Permission, ValidationError};

use super::managers::{self, Avoid};
use super::plans::{self, Leaving, PlanMember};
use super::{Clusters, Gathered};
use crate::ControlError;
use crate::auth::Actor;
use crate::store::{MemberRow, NodeRow};
use crate::volumes::{self, plans as volume_plans};

impl Clusters {
    /// Changes one node: availability, role or labels.
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
        let (g, snapshot) = self.active_with_swarm(id).await?;
        let (member, _) = g
            .members
            .iter()
            .find(|(m, _)| m.node_id == node_id)
            .ok_or(ControlError::NotFound("Cluster node"))?;
        let swarm_node_id = member
            .swarm_node_id
            .clone()
            .ok_or_else(|| ControlError::Conflict("The node has not joined the swarm.".into()))?;
        let refuse = |m: String| Err(ControlError::Conflict(m));
        let mut update = NodeUpdate {
            swarm_node_id: swarm_node_id.clone(),
            role: None,
            availability: None,
            labels: None,
        };
        match &action {
            NodeAction::Availability { availability } => {
                let others_active = snapshot
                    .nodes
                    .iter()
                    .filter(|n| n.id != swarm_node_id && n.schedulable())
                    .count();
                if *availability != Availability::Active && others_active == 0 {
                    return refuse(
                        "At least one other ready node must stay active to run the cluster's tasks."
                            .into(),
                    );
                }
                if *availability == Availability::Drain {
                    if self.is_async_primary(&g, node_id).await? {
                        return self.hand_over(actor, &g, node_id).await;
                    }
                    self.drain_gate(&g, node_id).await?;
                }
                update.availability = Some(*availability);
            }
            NodeAction::Promote => {
                if member.role == SwarmRole::Manager {
                    return refuse("The node is already a manager.".into());
                }
                update.role = Some(SwarmRole::Manager);
            }
            NodeAction::Demote => {
                if member.role != SwarmRole::Manager {
                    return refuse("The node is not a manager.".into());
                }
                let managers: Vec<&SwarmNodeView> = snapshot
                    .nodes
                    .iter()
                    .filter(|n| n.role == SwarmRole::Manager)
                    .collect();
                let up = managers.iter().filter(|n| self.reachable(&g, n)).count();
                let target_up = managers
                    .iter()
                    .any(|n| n.id == swarm_node_id && self.reachable(&g, n));
                health::check_manager_leaves(managers.len(), up, target_up)
                    .map_err(ControlError::Conflict)?;
                update.role = Some(SwarmRole::Worker);
            }
            NodeAction::Labels { labels } => {
                let parsed = parse_labels(labels)
                    .map_err(|m| ControlError::Validation(ValidationError::new("labels", m)))?;
                update.labels = Some(parsed);
            }
        }
        let members: Vec<MemberRow> = g.members.iter().map(|(m, _)| m.clone()).collect();
        // The async volume's primary keeps its label whatever the operator's are.
        let mut sent = update.clone();
        if let Some(labels) = update.labels.clone() {
            sent.labels =
                Some(volumes::standby::swarm_labels(&self.store, id, node_id, labels).await?);
        }
        managers::on_manager(
            &self.gateway,
            &members,
            Avoid::Prefer(node_id),
            Command::NodeUpdate(sent),
        )
        .await
        .map_err(managers::Failure::into_error)?;
        if let Some(role) = update.role {
            self.store.set_member_role(node_id, role).await?;
        }
        if let Some(labels) = &update.labels {
            self.store.set_member_labels(node_id, labels).await?;
        }
        let detail =
            serde_json::to_string(&action).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        self.changed(actor, id, "cluster.node", node_id, Some(&detail))
            .await
    }

    /// A manager counts as reachable only when the swarm says so *and* its agent is connected,
    /// so a report a few seconds old cannot let a dangerous change through.
    fn reachable(&self, g: &Gathered, n: &SwarmNodeView) -> bool {
        n.reachable_manager()
            && g.members.iter().any(|(m, _)| {
                m.swarm_node_id.as_deref() == Some(n.id.as_str())
                    && self.gateway.is_online(&m.node_id).is_some()
            })
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
            .validate_addition(&candidates, &g.cluster.definition)
            .map_err(ControlError::Invalid)?;
        if g.cluster.definition.volumes {
            // The node must be able to hold the volumes in the mode the cluster will have.
            let mut problems = vec![];
            let joining: Vec<_> = candidates
                .iter()
                .filter(|c| c.node_id == spec.node_id)
                .collect();
            domain::storage::check_nodes(g.members.len() + 1, &joining, &mut problems);
            if !problems.is_empty() {
                return Err(ControlError::Invalid(problems));
            }
        }
        let hostname = candidates
            .iter()
            .find(|c| c.node_id == spec.node_id)
            .map_or_else(|| spec.node_id.clone(), |c| c.hostname.clone());
        let row = MemberRow {
            node_id: spec.node_id.clone(),
            cluster_id: id.to_owned(),
            position: 0,
            role: spec.role,
            labels: spec.labels.clone(),
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
        // With volumes on, the node mounts the replicated volume; with the third node the
        // async volume of two becomes a replicated one: set up afresh, which only an unused
        // volume may (moving the data is not built).
        let def = &g.cluster.definition;
        let count = g.members.len();
        let before = volumes::mode(def, count);
        let mount = before == Some(VolumeMode::Replicated);
        let mut steps = vec![];
        if before == Some(VolumeMode::AsyncStandby) {
            let users = volumes::users(&self.store, id).await?;
            if !users.is_empty() {
                return Err(ControlError::Conflict(format!(
                    "A third node turns the cluster volume from async standby into a replicated \
                     one, and apps keep data on it ({}): uninstall them or turn cluster volumes \
                     off first (moving the data is not built yet).",
                    users.join(", ")
                )));
            }
            let names = g.hostnames();
            let online = |node_id: &str| self.gateway.is_online(node_id).is_some();
            steps.extend(volume_plans::teardown(
                &g.plan(&names),
                online,
                VolumeMode::AsyncStandby,
            ));
        }
        steps.extend(plans::add(&plan, !g.vips.is_empty(), mount));
        if !mount && volumes::replicated(def, count + 1) {
            let names = g.hostnames();
            let mut all = g.plan(&names);
            all.push(plan);
            steps.extend(volume_plans::setup(&all, VolumeMode::Replicated));
        }
        let workflow = plans::workflow(id, WorkflowKind::AddNode, &steps)?;
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
        self.engine.spawn(workflow.id);
        Ok(())
    }

    /// Whether the node is the async volume's primary, online (an offline one has stopped its
    /// writers already: the standby takes over by itself).
    async fn is_async_primary(&self, g: &Gathered, node_id: &str) -> Result<bool, ControlError> {
        Ok(
            volumes::mode(&g.cluster.definition, g.members.len()) == Some(VolumeMode::AsyncStandby)
                && self.gateway.is_online(node_id).is_some()
                && volumes::standby::primary(&self.store, &g.cluster.id)
                    .await?
                    .as_deref()
                    == Some(node_id),
        )
    }

    /// Draining the async volume's primary hands the volume over to the standby (a workflow:
    /// the drain, a last snapshot sent, the standby promoted with it), so that the apps on the
    /// volume go on there with every write. Refused while the standby is not online.
    async fn hand_over(
        &self,
        actor: &Actor,
        g: &Gathered,
        node_id: &str,
    ) -> Result<(), ControlError> {
        g.idle()?;
        let names = g.hostnames();
        let members = g.plan(&names);
        let (Some(primary), Some(standby)) = (
            members.iter().find(|m| m.node_id == node_id),
            members.iter().find(|m| m.node_id != node_id),
        ) else {
            return Err(ControlError::Conflict(
                "The async cluster volume needs its two nodes.".into(),
            ));
        };
        let standby_up = self
            .gateway
            .is_online(standby.node_id)
            .is_some_and(|seen| !self.gateway.is_silent(seen));
        if !standby_up {
            let (p, s) = (primary.hostname, standby.hostname);
            return Err(ControlError::Conflict(format!(
                "{p} is the async cluster volume's primary and its standby {s} is not online: \
                 drained, {p} would stop the apps on the volume with no node to run them. Bring \
                 {s} back first, or turn cluster volumes off."
            )));
        }
        let steps = volume_plans::hand_over(primary, standby);
        let workflow = plans::workflow(&g.cluster.id, WorkflowKind::HandOverVolume, &steps)?;
        self.store.add_workflow(&workflow).await?;
        self.changed(
            actor,
            &g.cluster.id,
            "cluster.volume.hand-over",
            node_id,
            Some(standby.hostname),
        )
        .await?;
        self.engine.spawn(workflow.id);
        Ok(())
    }

    /// A node that holds a copy of the replicated volume is drained (before maintenance takes it
    /// down) only while every copy is whole: two copies are never missing at once. An offline
    /// node's copy is down already: nothing to keep.
    async fn drain_gate(&self, g: &Gathered, node_id: &str) -> Result<(), ControlError> {
        let holds_copy = g
            .members
            .iter()
            .take(domain::storage::REPLICAS)
            .any(|(m, _)| m.node_id == node_id);
        if !volumes::replicated(&g.cluster.definition, g.members.len())
            || !holds_copy
            || self.gateway.is_online(node_id).is_none()
        {
            return Ok(());
        }
        let members: Vec<MemberRow> = g.members.iter().map(|(m, _)| m.clone()).collect();
        match volumes::gates::not_whole(&self.store, &self.gateway, &members).await? {
            None => Ok(()),
            Some(why) => Err(ControlError::Conflict(format!(
                "{} holds a copy of the cluster volume, and {why}: drain it once every copy is \
                 whole again.",
                g.hostname(node_id)
            ))),
        }
    }

    /// Whether the copy of the cluster volume on the leaving node may move to `to` now: `to` is
    /// online and has what a copy needs, and, while the leaving node is online, every copy is
    /// whole (so that the copies left fill the new one; a node that is gone has no copy to
    /// wait for).
    async fn copy_may_move(
        &self,
        g: &Gathered,
        hostname: &str,
        online: bool,
        to: &PlanMember<'_>,
    ) -> Result<(), ControlError> {
        let refuse = |why: String| {
            Err(ControlError::Conflict(format!(
                "{hostname} holds a copy of the cluster volume, which would move to {}, but {why}.",
                to.hostname
            )))
        };
        if self.gateway.is_online(to.node_id).is_none() {
            return refuse(format!("{} is not online", to.hostname));
        }
        let storage = g
            .members
            .iter()
            .find(|(m, _)| m.node_id == to.node_id)
            .and_then(|(_, n)| n.as_ref())
            .and_then(NodeRow::facts)
            .map(|f| f.storage)
            .unwrap_or_default();
        let lacks = domain::storage::missing(VolumeMode::Replicated, &storage);
        if !lacks.is_empty() {
            return refuse(format!("{} lacks: {}", to.hostname, lacks.join("; ")));
        }
        if online {
            let members: Vec<MemberRow> = g.members.iter().map(|(m, _)| m.clone()).collect();
            if let Some(why) =
                volumes::gates::not_whole(&self.store, &self.gateway, &members).await?
            {
                return refuse(format!("{why}: remove it once every copy is whole"));
            }
        }
        Ok(())
    }

    /// Removes a node from a running cluster. Refuses to remove the last node, the last manager
    /// or a manager whose departure would lose quorum. A node that holds a copy of the
    /// replicated volume first moves it to the first member that holds none.
    pub async fn remove_node(
        &self,
        actor: &Actor,
        id: &str,
        node_id: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let g = self.idle_active(id).await?;
        let (member, _) = g
            .members
            .iter()
            .find(|(m, _)| m.node_id == node_id)
            .ok_or(ControlError::NotFound("Cluster node"))?;
        if g.members.len() == 1 {
            return Err(ControlError::Conflict(
                "It is the cluster's only node: delete the cluster instead.".into(),
            ));
        }
        let hostname = g.hostname(node_id);
        let mode = volumes::mode(&g.cluster.definition, g.members.len());
        if mode == Some(VolumeMode::AsyncStandby) {
            return Err(ControlError::Conflict(format!(
                "{hostname} is one of the async cluster volume's two nodes: turn cluster volumes \
                 off before removing it."
            )));
        }
        let names = g.hostnames();
        let members = g.plan(&names);
        let online = self.gateway.is_online(node_id).is_some();
        let stay: Vec<PlanMember> = members
            .iter()
            .filter(|m| m.node_id != node_id && self.gateway.is_online(m.node_id).is_some())
            .copied()
            .collect();
        let position = members
            .iter()
            .position(|m| m.node_id == node_id)
            .ok_or(ControlError::NotFound("Cluster node"))?;
        let leaving = members[position];
        let volume = match (mode, CopyOnLeave::of(position, members.len())) {
            (Some(VolumeMode::Replicated), CopyOnLeave::MovesTo(at)) => {
                let to = members
                    .get(at)
                    .ok_or(ControlError::NotFound("Cluster node"))?;
                self.copy_may_move(&g, &hostname, online, to).await?;
                Leaving::HoldsCopy { to, stay: &stay }
            }
            (Some(VolumeMode::Replicated), CopyOnLeave::Nowhere) => {
                return Err(ControlError::Conflict(format!(
                    "{hostname} holds one of the cluster volume's {} copies and no other \
                     member can take it: add a node first, or turn cluster volumes off.",
                    domain::storage::REPLICAS
                )));
            }
            (Some(VolumeMode::Replicated), CopyOnLeave::NoCopy) => Leaving::Mounted,
            _ => Leaving::NoVolume,
        };
        if member.role == SwarmRole::Manager {
            let reachable = |m: &MemberRow| {
                g.snapshot.as_ref().is_some_and(|s| {
                    s.nodes
                        .iter()
                        .any(|n| Some(&n.id) == m.swarm_node_id.as_ref() && self.reachable(&g, n))
                })
            };
            let managers: Vec<&MemberRow> = g
                .members
                .iter()
                .map(|(m, _)| m)
                .filter(|m| m.role == SwarmRole::Manager)
                .collect();
            let up = managers.iter().filter(|m| reachable(m)).count();
            health::check_manager_leaves(managers.len(), up, reachable(member))
                .map_err(ControlError::Conflict)?;
        }
        let workflow = plans::workflow(
            id,
            WorkflowKind::RemoveNode,
            &plans::remove(&leaving, online, !g.vips.is_empty(), &volume),
        )?;
        self.store.add_workflow(&workflow).await?;
        self.changed(actor, id, "cluster.node.remove", id, Some(&hostname))
            .await?;
        self.engine.spawn(workflow.id);
        Ok(())
    }
}

//! A cluster's life: create it, edit it, delete it, and act on its workflows (pause, resume,
//! retry, abort). Every long change is a workflow on the engine.
use domain::cluster::{Candidate, ClusterDraft, ClusterEdit, ClusterPhase};
use domain::storage::VolumeMode;
use domain::workflow::{WorkflowAction, WorkflowKind};
use domain::{Permission, ValidationError};

use super::Clusters;
use super::plans::{self, PlanMember};
use crate::ControlError;
use crate::auth::Actor;
use crate::store::{ClusterRow, MemberRow, NewCluster, VipRow};
use crate::volumes::{self, plans as volume_plans};

impl Clusters {
    /// Validates the wizard against fresh node facts, stores the cluster with its creation
    /// workflow (one transaction) and starts building it.
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
            definition: def.clone(),
            phase: ClusterPhase::Creating,
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
                role: m.role,
                labels: m.labels.clone(),
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
            .map(|(i, v)| VipRow {
                cluster_id: id.clone(),
                position: i as i64,
                address: v.address.to_string(),
                interface: v.interface.clone(),
                peers: v.peers.iter().map(ToString::to_string).collect(),
                vrid: 0,
                track_port: v.track_port,
            })
            .collect();
        let hostname = |node_id: &str| {
            candidates
                .iter()
                .find(|c| c.node_id == node_id)
                .map_or(node_id, |c| c.hostname.as_str())
                .to_owned()
        };
        let names: Vec<String> = spec.members.iter().map(|m| hostname(&m.node_id)).collect();
        let plan: Vec<PlanMember<'_>> = spec
            .members
            .iter()
            .zip(&names)
            .map(|(m, hostname)| PlanMember {
                node_id: &m.node_id,
                hostname,
                role: m.role,
                has_labels: !m.labels.is_empty(),
                vip: m.vip,
            })
            .collect();
        let workflow = plans::workflow(
            &id,
            WorkflowKind::Create,
            &plans::create(&plan, !def.vips.is_empty(), volumes::mode(def, plan.len())),
        )?;
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
        self.engine.spawn(workflow.id);
        Ok(id)
    }

    /// Runs the cluster's failed workflow again from its failed step.
    pub async fn retry(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let g = self.gather(self.find(id).await?).await?;
        let w = g
            .workflow()
            .filter(|w| w.status.allows(WorkflowAction::Retry))
            .ok_or_else(|| {
                ControlError::Conflict("Nothing to retry: the last operation did not fail.".into())
            })?;
        self.workflow_action(actor, id, &w.id.clone(), WorkflowAction::Retry)
            .await
    }

    /// Pauses, resumes, retries or aborts one of the cluster's workflows.
    pub async fn workflow_action(
        &self,
        actor: &Actor,
        id: &str,
        workflow_id: &str,
        action: WorkflowAction,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let w = self
            .store
            .workflow(workflow_id)
            .await?
            .filter(|w| w.cluster_id == id)
            .ok_or(ControlError::NotFound("Workflow"))?;
        // A firmware rollout is a Supervisor's, like starting it.
        if w.kind == domain::workflow::WorkflowKind::FirmwareRollout {
            actor.require(Permission::Supervise)?;
        }
        self.engine.act(workflow_id, action).await?;
        let audit = format!("cluster.workflow.{}", action.label().to_lowercase());
        self.changed(actor, id, &audit, workflow_id, Some(w.kind.as_str()))
            .await
    }

    /// Takes the cluster apart on its nodes (nothing left behind), then forgets it.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let g = self.gather(self.find(id).await?).await?;
        if let Some(w) = g.workflow().filter(|w| w.status.is_open()) {
            return Err(ControlError::Conflict(format!(
                "Wait for \"{}\" to finish or fail (or abort it).",
                w.kind.label()
            )));
        }
        let names = g.hostnames();
        let plan = g.plan(&names);
        let online = |node_id: &str| self.gateway.is_online(node_id).is_some();
        let volumes = volumes::mode(&g.cluster.definition, plan.len());
        let workflow = plans::workflow(
            id,
            WorkflowKind::Delete,
            &plans::delete(
                &plan,
                !g.vips.is_empty(),
                volumes.map(|mode| (mode, &online as &dyn Fn(&str) -> bool)),
            ),
        )?;
        self.store
            .set_cluster_phase(id, ClusterPhase::Deleting)
            .await?;
        self.store.add_workflow(&workflow).await?;
        self.changed(actor, id, "cluster.delete", id, Some(&g.cluster.name))
            .await?;
        self.engine.spawn(workflow.id);
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
        let g = self.idle_active(id).await?;
        let spec = edit.validate().map_err(ControlError::Invalid)?;
        let (name, synctime_cs) = (spec.name, spec.synctime_cs);
        if spec.volumes {
            // The members as they are now must be able to hold the volumes.
            let candidates = self.candidates(actor).await?;
            let members: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| g.members.iter().any(|(m, _)| m.node_id == c.node_id))
                .collect();
            let mut problems = vec![];
            domain::storage::check_nodes(g.members.len(), &members, &mut problems);
            if !problems.is_empty() {
                return Err(ControlError::Invalid(problems));
            }
        }
        if !name.eq_ignore_ascii_case(&g.cluster.name)
            && self.store.cluster_name_taken(&name).await?
        {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "name",
                format!("a cluster named {name} exists"),
            )]));
        }
        let mut definition = g.cluster.definition.clone();
        let synctime_changed = synctime_cs != definition.synctime_cs;
        definition.name = name.clone();
        definition.synctime_cs = synctime_cs;
        definition.volumes = spec.volumes;
        if let Some(secs) = spec.volume_sync_secs {
            definition.volume_sync_secs = secs;
        }
        // One workflow for what changes on the nodes: the volume set up or taken down, then
        // KeepAlived's new configuration.
        let names = g.hostnames();
        let plan = g.plan(&names);
        let before = volumes::mode(&g.cluster.definition, plan.len());
        let after = volumes::mode(&definition, plan.len());
        let online = |node_id: &str| self.gateway.is_online(node_id).is_some();
        if before.is_some() && after.is_none() {
            let users = volumes::users(&self.store, id).await?;
            if !users.is_empty() {
                return Err(ControlError::Conflict(format!(
                    "Apps keep data on the cluster volume ({}): uninstall them before turning \
                     cluster volumes off.",
                    users.join(", ")
                )));
            }
        }
        let (kind, mut steps) = match (before, after) {
            (None, Some(mode)) => (WorkflowKind::SetupVolumes, volume_plans::setup(&plan, mode)),
            (Some(mode), None) => (
                WorkflowKind::RemoveVolumes,
                volume_plans::teardown(&plan, online, mode),
            ),
            // A new sync interval goes to the async volume's primary.
            (Some(VolumeMode::AsyncStandby), Some(_))
                if definition.volume_sync_secs != g.cluster.definition.volume_sync_secs =>
            {
                let primary = self.store.standby(id).await?.map(|r| r.primary_node_id);
                let steps = plan
                    .iter()
                    .filter(|m| primary.as_deref() == Some(m.node_id))
                    .map(volume_plans::primary_step)
                    .collect();
                (WorkflowKind::SetupVolumes, steps)
            }
            _ => (WorkflowKind::UpdateVips, vec![]),
        };
        if synctime_changed && !g.vips.is_empty() {
            steps.extend(plans::update_vips(&plan));
        }
        self.store.update_cluster(id, &name, &definition).await?;
        self.changed(actor, id, "cluster.edit", id, Some(&name))
            .await?;
        if !steps.is_empty() {
            let workflow = plans::workflow(id, kind, &steps)?;
            self.store.add_workflow(&workflow).await?;
            self.engine.spawn(workflow.id);
        }
        Ok(())
    }
}

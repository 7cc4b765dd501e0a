//! Installing an app version on a cluster, uninstalling it, and reading a service's logs.
use domain::Permission;
use domain::ValidationError;
use domain::cluster::ClusterPhase;
use domain::event::UiEvent;
use domain::protocol::{Command, Reply};
use domain::workflow::WorkflowKind;
use domain::workload::install::{
    InstallContext, InstallDraft, PublishedPort, ServiceDraft, WorkloadPhase,
};
use domain::workload::placement::PlacementNode;
use domain::workload::spec;

use super::Workloads;
use super::specs::{open_secrets, parsed, secrets_context, version_of};
use super::steps::{WorkloadStep, install_plan, scale_plan, update_plan};
use crate::ControlError;
use crate::auth::Actor;
use crate::clusters::managers::{self, Avoid};
use crate::secret::now_ms;
use crate::store::{WorkloadChange, WorkloadRow};
use crate::workflow::{self, Planned};

/// How many log lines the card shows.
const LOG_TAIL: u32 = 200;

impl Workloads {
    /// What the install wizard needs to know of an active cluster: its schedulable nodes (for
    /// the placement builder), the ports published on it and the names in use.
    pub async fn install_context(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<InstallContext, ControlError> {
        actor.require(Permission::Read)?;
        self.context(cluster_id).await
    }

    async fn context(&self, cluster_id: &str) -> Result<InstallContext, ControlError> {
        let (cluster, members, snapshot) = self.cluster(cluster_id).await?;
        let members = members.len();
        if cluster.phase != ClusterPhase::Active {
            return Err(ControlError::Conflict(
                "Apps are installed on active clusters only.".into(),
            ));
        }
        let snapshot = snapshot.ok_or_else(|| {
            ControlError::Unavailable(
                "No manager has reported the swarm yet; try again in a moment.".into(),
            )
        })?;
        Ok(InstallContext {
            nodes: snapshot
                .nodes
                .iter()
                .filter(|n| n.schedulable())
                .map(|n| PlacementNode {
                    id: n.id.clone(),
                    hostname: n.hostname.clone(),
                    role: n.role,
                    os: n.os.clone(),
                    arch: n.arch.clone(),
                    labels: n
                        .labels
                        .iter()
                        .map(|l| (l.key.clone(), l.value.clone()))
                        .collect(),
                    engine_labels: vec![],
                })
                .collect(),
            published: snapshot
                .services
                .iter()
                .flat_map(|s| {
                    s.ports.iter().filter_map(|p| {
                        Some(PublishedPort {
                            port: p.published?,
                            protocol: p.protocol,
                            service: s.name.clone(),
                        })
                    })
                })
                .collect(),
            taken: self
                .store
                .workloads_of(cluster_id)
                .await?
                .into_iter()
                .map(|w| w.name)
                .collect(),
            networks: snapshot.networks.iter().map(|n| n.name.clone()).collect(),
            cluster_volumes: crate::volumes::mode(&cluster.definition, members).is_some(),
        })
    }

    /// Checks the wizard's draft against the version and the cluster, stores the workload with
    /// its install workflow (one transaction) and starts it.
    pub async fn install(
        &self,
        actor: &Actor,
        cluster_id: &str,
        draft: InstallDraft,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Operate)?;
        let version = self
            .store
            .version_by_id(&draft.version_id)
            .await?
            .ok_or_else(|| {
                ControlError::Invalid(vec![ValidationError::new(
                    "version_id",
                    "Choose a version from the library",
                )])
            })?;
        let compose = parsed(&version)?;
        let ctx = self.context(cluster_id).await?;
        let install = draft
            .validate(&compose, &ctx)
            .map_err(ControlError::Invalid)?;
        let id = uuid::Uuid::new_v4().to_string();
        let secrets = serde_json::to_string(&install.secrets)
            .map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let row = WorkloadRow {
            secrets: self.vault.seal(&secrets, &secrets_context(&id))?,
            id: id.clone(),
            cluster_id: cluster_id.to_owned(),
            name: install.name.clone(),
            app_id: version.app_id.clone(),
            version_id: version.id.clone(),
            phase: WorkloadPhase::Deploying,
            stopped: false,
            choices: install.choices,
            created_by: actor.username.clone(),
            created_at: now_ms(),
            updated_at: now_ms(),
        };
        let flow = workflow::plan(
            cluster_id,
            WorkflowKind::Install,
            &install_plan(&id, &compose),
        )?;
        if !self.store.insert_workload(&row, &flow).await? {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "name",
                format!(
                    "{} was just installed on this cluster: choose another name",
                    row.name
                ),
            )]));
        }
        let app = self.store.app_by_id(&version.app_id).await?;
        let detail = format!(
            "{} {} as {}",
            app.map_or_else(|| version.app_id.clone(), |a| a.name),
            version.version,
            row.name
        );
        self.changed(
            actor,
            "workload.install",
            &id,
            Some(&detail),
            UiEvent::Cluster {
                id: cluster_id.to_owned(),
            },
        )
        .await?;
        self.engine.spawn(flow.id);
        Ok(id)
    }

    /// Moves an installed app to another version of the same app: the stored choices are kept
    /// for the services that remain (and checked again, like an install), new services get the
    /// version's defaults; Swarm rolls each service by its update_config (and rolls it back when
    /// the update fails, if the version says so).
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        version_id: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let w = self.workload(id).await?;
        let version = self
            .store
            .version_by_id(version_id)
            .await?
            .filter(|v| v.app_id == w.app_id)
            .ok_or_else(|| {
                ControlError::Invalid(vec![ValidationError::new(
                    "version_id",
                    "Choose another version of the same app",
                )])
            })?;
        if version.id == w.version_id {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "version_id",
                "The app runs this version already",
            )]));
        }
        let (_, old) = version_of(&self.store, &w).await?;
        let new = parsed(&version)?;
        // Swarm cannot change a service's mode.
        for (name, choice) in &w.choices {
            if let (Some(s), Some(mode)) = (new.service(name), choice.mode)
                && s.deploy.mode != mode
            {
                return Err(ControlError::Invalid(vec![ValidationError::new(
                    "version_id",
                    format!(
                        "Service {name} is {} in that version but runs {}: Swarm cannot change a service's mode, so uninstall and install it instead",
                        s.deploy.mode.as_str(),
                        mode.as_str()
                    ),
                )]));
            }
        }
        let mut ctx = self.context(&w.cluster_id).await?;
        // The app's own name and ports are its own.
        ctx.taken.retain(|t| *t != w.name);
        let prefix = format!("{}_", w.name);
        ctx.published.retain(|p| !p.service.starts_with(&prefix));
        let secrets = open_secrets(&self.vault, &w)?;
        let draft = InstallDraft {
            version_id: version.id.clone(),
            name: w.name.clone(),
            secrets,
            services: new
                .services
                .iter()
                .map(|s| match w.choices.iter().find(|(n, _)| *n == s.name) {
                    Some((_, c)) => ServiceDraft::chosen(s, c),
                    None => ServiceDraft::of(s),
                })
                .collect(),
        };
        let install = draft.validate(&new, &ctx).map_err(ControlError::Invalid)?;
        let watch = WorkloadStep::Watch {
            workload: w.id.clone(),
            version: version.version.clone(),
            from_version: w.version_id.clone(),
            from_choices: w.choices.clone(),
        };
        let flow = workflow::plan(
            &w.cluster_id,
            WorkflowKind::Update,
            &update_plan(&w.id, &old, &new, watch),
        )?;
        let change = WorkloadChange {
            from: &[WorkloadPhase::Deployed, WorkloadPhase::Failed],
            phase: WorkloadPhase::Deploying,
            version_id: Some(&version.id),
            choices: Some(&install.choices),
            stopped: None,
            workflow: &flow,
        };
        if !self.store.begin_workload_change(id, change).await? {
            return Err(busy(&w.name));
        }
        let detail = format!("{} to {}", w.name, version.version);
        self.changed(
            actor,
            "workload.update",
            id,
            Some(&detail),
            UiEvent::Cluster {
                id: w.cluster_id.clone(),
            },
        )
        .await?;
        self.engine.spawn(flow.id);
        Ok(())
    }

    /// Stops an installed app (its services scale to zero; jobs are left alone) or starts it
    /// again with the replicas it had.
    pub async fn set_running(
        &self,
        actor: &Actor,
        id: &str,
        run: bool,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let w = self.workload(id).await?;
        if w.stopped != run {
            return Err(ControlError::Conflict(format!(
                "{} is {} already.",
                w.name,
                if run { "running" } else { "stopped" }
            )));
        }
        let (_, c) = version_of(&self.store, &w).await?;
        let flow = workflow::plan(
            &w.cluster_id,
            WorkflowKind::Scale,
            &scale_plan(&w.id, &c, run),
        )?;
        let change = WorkloadChange {
            from: &[WorkloadPhase::Deployed, WorkloadPhase::Failed],
            phase: WorkloadPhase::Deploying,
            version_id: None,
            choices: None,
            stopped: Some(!run),
            workflow: &flow,
        };
        if !self.store.begin_workload_change(id, change).await? {
            return Err(busy(&w.name));
        }
        self.changed(
            actor,
            if run {
                "workload.start"
            } else {
                "workload.stop"
            },
            id,
            Some(&w.name),
            UiEvent::Cluster {
                id: w.cluster_id.clone(),
            },
        )
        .await?;
        self.engine.spawn(flow.id);
        Ok(())
    }

    /// Removes an installed app's services and the objects it declared (Supervisors).
    pub async fn uninstall(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let w = self.workload(id).await?;
        let flow = workflow::plan(
            &w.cluster_id,
            WorkflowKind::Uninstall,
            &[Planned::safe(
                WorkloadStep::Remove {
                    workload: w.id.clone(),
                },
                format!("Remove {} and what it declared", w.name),
                None,
            )],
        )?;
        let change = WorkloadChange {
            from: &[WorkloadPhase::Deployed, WorkloadPhase::Failed],
            phase: WorkloadPhase::Removing,
            version_id: None,
            choices: None,
            stopped: None,
            workflow: &flow,
        };
        if !self.store.begin_workload_change(id, change).await? {
            return Err(busy(&w.name));
        }
        self.changed(
            actor,
            "workload.uninstall",
            id,
            Some(&w.name),
            UiEvent::Cluster {
                id: w.cluster_id.clone(),
            },
        )
        .await?;
        self.engine.spawn(flow.id);
        Ok(())
    }

    /// The newest log lines of one of an installed app's services.
    pub async fn service_logs(
        &self,
        actor: &Actor,
        id: &str,
        service: &str,
    ) -> Result<Vec<String>, ControlError> {
        actor.require(Permission::Operate)?;
        let w = self.workload(id).await?;
        if !w.choices.iter().any(|(name, _)| name == service) {
            return Err(ControlError::NotFound("Service"));
        }
        let members = self.store.members(&w.cluster_id).await?;
        let cmd = Command::ServiceLogs {
            name: spec::scoped(&w.name, service),
            tail: LOG_TAIL,
        };
        match managers::on_manager(&self.gateway, &members, Avoid::Nobody, cmd)
            .await
            .map_err(managers::Failure::into_error)?
        {
            Reply::Logs { lines } => Ok(lines),
            _ => Err(ControlError::Unavailable(
                "The manager answered without logs.".into(),
            )),
        }
    }
}

fn busy(name: &str) -> ControlError {
    ControlError::Conflict(format!(
        "{name} is being installed, changed or removed: wait for that to finish (or abort it)."
    ))
}

impl Workloads {
    /// An installed app, or NotFound.
    async fn workload(&self, id: &str) -> Result<WorkloadRow, ControlError> {
        self.store
            .workload(id)
            .await?
            .ok_or(ControlError::NotFound("App"))
    }
}

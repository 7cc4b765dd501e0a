//! Installing an app version on a cluster, uninstalling it, and reading a service's logs.
use domain::Permission;
use domain::ValidationError;
use domain::cluster::ClusterPhase;
use domain::event::UiEvent;
use domain::protocol::{Command, Reply};
use domain::workflow::WorkflowKind;
use domain::workload::compose;
use domain::workload::install::{InstallContext, InstallDraft, PublishedPort, WorkloadPhase};
use domain::workload::placement::PlacementNode;
use domain::workload::spec;

use super::Workloads;
use super::steps::{WorkloadStep, install_plan, secrets_context};
use crate::ControlError;
use crate::auth::Actor;
use crate::clusters::managers::{self, Avoid};
use crate::secret::now_ms;
use crate::store::WorkloadRow;
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
        let (cluster, _, snapshot) = self.cluster(cluster_id).await?;
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
        let compose = compose::parse(&version.compose).map_err(|e| {
            ControlError::Corrupt(format!("compose file of version {}: {e:?}", version.id))
        })?;
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

    /// Removes an installed app's services and the objects it declared (Supervisors).
    pub async fn uninstall(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let w = self
            .store
            .workload(id)
            .await?
            .ok_or(ControlError::NotFound("App"))?;
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
        let from = [WorkloadPhase::Deployed, WorkloadPhase::Failed];
        if !self
            .store
            .begin_workload_change(id, &from, WorkloadPhase::Removing, &flow)
            .await?
        {
            return Err(ControlError::Conflict(format!(
                "{} is being installed or removed: wait for that to finish (or abort it).",
                w.name
            )));
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
        let w = self
            .store
            .workload(id)
            .await?
            .ok_or(ControlError::NotFound("App"))?;
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

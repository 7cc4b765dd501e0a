//! Running workload steps: each [`WorkloadStep`] builds the app's specs afresh from the stored
//! workload ([`super::specs`]: version, choices, sealed secrets) and sends them to a reachable manager, so a step
//! that runs again after a restart does the same thing. A workload's phase follows its workflows.
use std::time::Duration;

use domain::event::UiEvent;
use domain::protocol::Command;
use domain::storage::StorageCommand;
use domain::workflow::{WorkflowKind, WorkflowStatus};
use domain::workload::compose;
use domain::workload::install::WorkloadPhase;
use domain::workload::observe::{ServiceState, UpdateState};
use domain::workload::registry::CheckStatus;
use domain::workload::spec::{self, RegistryAuth, ServiceChoice, StackObjects};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::specs::{credential_context, current_secret_objects, specs};
use crate::ControlError;
use crate::clusters::managers::{self, Avoid, Failure, NODE_WAIT};
use crate::events::Events;
use crate::gateway::{Gateway, Observed};
use crate::store::{StepRow, Store, WorkflowRow, WorkloadRow};
use crate::vault::Vault;
use crate::workflow::{Outcome, Planned, Runner};

/// One step of an install or uninstall workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WorkloadStep {
    /// Create the app's own networks, secrets and configs.
    Objects { workload: String },
    /// Create or update one service (by its name in the compose file).
    Service { workload: String, service: String },
    /// Remove the app's services, then its objects.
    Remove { workload: String },
    /// Remove one service the app's new version no longer has.
    Retire { workload: String, service: String },
    /// Wait until Swarm finished rolling the new version out; when Swarm rolls it back, record
    /// the version before again and fail with Swarm's reason.
    Watch {
        workload: String,
        version: String,
        from_version: String,
        from_choices: Vec<(String, ServiceChoice)>,
    },
    /// `docker login` with a registry credential on one node; records what it said (a refused
    /// login is a result, not a failed step).
    Check { credential: String, node: String },
    /// Remove the versions of the cluster's Global Secrets that no service uses any more.
    PruneSecrets,
}

/// The steps that install `compose` as workload `id`.
pub fn install_plan(id: &str, compose: &compose::Compose) -> Vec<Planned<WorkloadStep>> {
    let mut steps = vec![Planned::safe(
        WorkloadStep::Objects {
            workload: id.to_owned(),
        },
        "Create networks, secrets and configs",
        None,
    )];
    steps.extend(compose.services.iter().map(|s| {
        Planned::safe(
            WorkloadStep::Service {
                workload: id.to_owned(),
                service: s.name.clone(),
            },
            format!("Deploy service {}", s.name),
            None,
        )
    }));
    steps
}

/// The steps that move workload `id` from `old` to `new` (another version of its app): new
/// objects, every service of `new` (Swarm rolls each one by its update_config), then the removal
/// of services `new` no longer has.
pub fn update_plan(
    id: &str,
    old: &compose::Compose,
    new: &compose::Compose,
    watch: WorkloadStep,
) -> Vec<Planned<WorkloadStep>> {
    let mut steps = install_plan(id, new);
    for s in old
        .services
        .iter()
        .filter(|s| new.service(&s.name).is_none())
    {
        steps.push(Planned::safe(
            WorkloadStep::Retire {
                workload: id.to_owned(),
                service: s.name.clone(),
            },
            format!("Remove service {}", s.name),
            None,
        ));
    }
    steps.push(Planned::safe(
        watch,
        "Wait for Swarm to roll the update out",
        None,
    ));
    steps
}

/// How long an update may take to roll out before the watch gives up.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How long Swarm may take to report that it started rolling.
const ROLLOUT_START: Duration = Duration::from_secs(90);
/// How far a manager's clock may be behind the panel's for an update to count as this one's.
const CLOCK_SKEW_MS: i64 = 2_000;
/// A service without any update status counts as rolled out after this long.
const NO_STATUS_GRACE: Duration = Duration::from_secs(20);

/// The steps that stop or start workload `id`: every service that is not a job, again.
pub fn scale_plan(id: &str, compose: &compose::Compose, run: bool) -> Vec<Planned<WorkloadStep>> {
    compose
        .services
        .iter()
        .filter(|s| !s.deploy.mode.is_job())
        .map(|s| {
            Planned::safe(
                WorkloadStep::Service {
                    workload: id.to_owned(),
                    service: s.name.clone(),
                },
                format!("{} service {}", if run { "Start" } else { "Stop" }, s.name),
                None,
            )
        })
        .collect()
}

/// How long a credential check waits for an offline node.
const CHECK_WAIT: Duration = Duration::from_secs(10);

/// The steps that move the services using changed Global Secrets to their new versions (each
/// service step creates the new object first; Swarm rolls the service), then remove the
/// versions no service uses.
pub fn secrets_plan(users: &[(WorkloadRow, Vec<String>)]) -> Vec<Planned<WorkloadStep>> {
    let mut steps: Vec<Planned<WorkloadStep>> = users
        .iter()
        .flat_map(|(w, services)| {
            services.iter().map(|s| {
                Planned::safe(
                    WorkloadStep::Service {
                        workload: w.id.clone(),
                        service: s.clone(),
                    },
                    format!("Roll {} to the new secret", spec::scoped(&w.name, s)),
                    None,
                )
            })
        })
        .collect();
    steps.push(Planned::safe(
        WorkloadStep::PruneSecrets,
        "Remove secret versions no service uses",
        None,
    ));
    steps
}

/// Runs workload steps for the workflow engine.
pub struct WorkloadSteps {
    pub store: Store,
    pub gateway: Gateway,
    pub vault: Vault,
    pub events: Events,
    pub observed: Observed,
}

/// A panel-side failure: logged with its cause; the step shows a pointer to the log.
fn internal(workflow: &str, e: ControlError) -> Failure {
    Failure::Refused(crate::error::in_step(workflow, e))
}

impl Runner for WorkloadSteps {
    fn run<'a>(&'a self, w: &'a WorkflowRow, step: &'a StepRow) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let result = match serde_json::from_str::<WorkloadStep>(&step.step) {
                Ok(op) => self.execute(w, &op).await,
                Err(e) => Err(internal(
                    &w.id,
                    ControlError::Corrupt(format!("step {} of {}: {e}", step.position, w.id)),
                )),
            };
            match result {
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
            // Credential and secret workflows change no workload's phase.
            if matches!(
                w.kind,
                WorkflowKind::ApplyCredentials | WorkflowKind::ApplySecrets
            ) {
                return Ok(());
            }
            let Some(workload) = self.workload_of(w).await? else {
                return Ok(());
            };
            match (w.kind, status) {
                (WorkflowKind::Uninstall, WorkflowStatus::Done) => {
                    self.store.delete_workload(&workload).await?;
                }
                (
                    WorkflowKind::Install | WorkflowKind::Update | WorkflowKind::Scale,
                    WorkflowStatus::Done,
                ) => {
                    self.store
                        .set_workload_phase(&workload, WorkloadPhase::Deployed)
                        .await?;
                }
                (
                    WorkflowKind::Install | WorkflowKind::Update | WorkflowKind::Scale,
                    WorkflowStatus::Running,
                ) => {
                    self.store
                        .set_workload_phase(&workload, WorkloadPhase::Deploying)
                        .await?;
                }
                (WorkflowKind::Uninstall, WorkflowStatus::Running) => {
                    self.store
                        .set_workload_phase(&workload, WorkloadPhase::Removing)
                        .await?;
                }
                (_, WorkflowStatus::Failed | WorkflowStatus::Aborted) => {
                    self.store
                        .set_workload_phase(&workload, WorkloadPhase::Failed)
                        .await?;
                }
                _ => return Ok(()),
            }
            self.events.publish(UiEvent::Cluster {
                id: w.cluster_id.clone(),
            });
            Ok(())
        })
    }
}

impl WorkloadSteps {
    /// The workload a workflow acts on (every step names it; the first one is enough).
    async fn workload_of(&self, w: &WorkflowRow) -> Result<Option<String>, ControlError> {
        let steps = self.store.steps(&w.id).await?;
        let Some(first) = steps.first() else {
            return Ok(None);
        };
        let op: WorkloadStep = serde_json::from_str(&first.step)
            .map_err(|e| ControlError::Corrupt(format!("step 0 of {}: {e}", w.id)))?;
        Ok(match op {
            WorkloadStep::Objects { workload }
            | WorkloadStep::Service { workload, .. }
            | WorkloadStep::Retire { workload, .. }
            | WorkloadStep::Watch { workload, .. }
            | WorkloadStep::Remove { workload } => Some(workload),
            WorkloadStep::Check { .. } | WorkloadStep::PruneSecrets => None,
        })
    }

    async fn execute(&self, w: &WorkflowRow, op: &WorkloadStep) -> Result<(), Failure> {
        let panel = |e: ControlError| internal(&w.id, e);
        let id = match op {
            WorkloadStep::Objects { workload }
            | WorkloadStep::Service { workload, .. }
            | WorkloadStep::Retire { workload, .. }
            | WorkloadStep::Remove { workload } => workload,
            WorkloadStep::Watch {
                workload,
                version,
                from_version,
                from_choices,
            } => {
                return self
                    .watch(w, workload, version, from_version, from_choices)
                    .await;
            }
            WorkloadStep::Check { credential, node } => {
                return self
                    .check(&w.cluster_id, credential, node)
                    .await
                    .map_err(panel);
            }
            WorkloadStep::PruneSecrets => return self.prune_secrets(w).await,
        };
        let workload = self
            .store
            .workload(id)
            .await
            .map_err(panel)?
            .ok_or_else(|| Failure::Refused("the app is no longer installed".into()))?;
        let members = self.store.members(&w.cluster_id).await.map_err(panel)?;
        let cmd = match op {
            WorkloadStep::Remove { .. } => {
                managers::on_manager(
                    &self.gateway,
                    &members,
                    Avoid::Nobody,
                    Command::StackRemove {
                        stack: workload.name.clone(),
                    },
                )
                .await?;
                // The versions of Global Secrets only this app used go with it.
                return self.prune_secrets(w).await;
            }
            WorkloadStep::Objects { .. } => {
                let (mut objects, _) = specs(&self.store, &self.vault, &workload)
                    .await
                    .map_err(panel)?;
                // On an async volume the apps' directories are made where its data is live.
                let primary = crate::volumes::standby::primary(&self.store, &w.cluster_id)
                    .await
                    .map_err(panel)?;
                if let Some(primary) = primary
                    && !objects.volume_dirs.is_empty()
                {
                    let dirs = std::mem::take(&mut objects.volume_dirs);
                    let cmd = Command::Storage(StorageCommand::MakeDirs { dirs });
                    managers::on_node(&self.gateway, &self.store, &primary, cmd, NODE_WAIT).await?;
                }
                Command::StackObjects(objects)
            }
            WorkloadStep::Check { .. }
            | WorkloadStep::Watch { .. }
            | WorkloadStep::PruneSecrets => return Ok(()),
            WorkloadStep::Retire { service, .. } => Command::ServiceRemove {
                name: spec::scoped(&workload.name, service),
            },
            WorkloadStep::Service { service, .. } => {
                let (objects, services) = specs(&self.store, &self.vault, &workload)
                    .await
                    .map_err(panel)?;
                let name = spec::scoped(&workload.name, service);
                let s = services
                    .into_iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| {
                        Failure::Refused(format!("the version has no service {service}"))
                    })?;
                // The Global Secrets' current versions first: a secret may have changed (or
                // an old version been pruned) since the objects step.
                let global = |r: &compose::FileRef| {
                    objects.global_secrets.iter().any(|g| g.object == r.source)
                };
                if s.secrets.iter().any(global) {
                    // The apps' directories were made by the objects step.
                    let objects = StackObjects {
                        volume_dirs: vec![],
                        ..objects
                    };
                    managers::on_manager(
                        &self.gateway,
                        &members,
                        Avoid::Nobody,
                        Command::StackObjects(objects),
                    )
                    .await?;
                }
                Command::ServiceApply(Box::new(s))
            }
        };
        managers::on_manager(&self.gateway, &members, Avoid::Nobody, cmd)
            .await
            .map(drop)
    }

    /// Removes the versions of the cluster's Global Secrets that no service uses.
    async fn prune_secrets(&self, w: &WorkflowRow) -> Result<(), Failure> {
        let panel = |e: ControlError| internal(&w.id, e);
        let keep = current_secret_objects(&self.store, &w.cluster_id)
            .await
            .map_err(panel)?;
        let members = self.store.members(&w.cluster_id).await.map_err(panel)?;
        managers::on_manager(
            &self.gateway,
            &members,
            Avoid::Nobody,
            Command::SecretsPrune { keep },
        )
        .await
        .map(drop)
    }

    /// Logs in with a credential on one node and records the answer.
    async fn check(
        &self,
        cluster_id: &str,
        credential: &str,
        node: &str,
    ) -> Result<(), ControlError> {
        let Some(c) = self
            .store
            .credentials_of(cluster_id)
            .await?
            .into_iter()
            .find(|c| c.id == credential)
        else {
            // Removed meanwhile: nothing to check.
            return Ok(());
        };
        let auth = RegistryAuth {
            password: self
                .vault
                .open(&c.password, &credential_context(cluster_id, &c.registry))?,
            server: c.registry,
            username: c.username,
        };
        let answer = managers::on_node(
            &self.gateway,
            &self.store,
            node,
            Command::RegistryLogin(auth),
            CHECK_WAIT,
        )
        .await;
        let (status, message) = match answer {
            Ok(_) => (CheckStatus::Valid, String::new()),
            Err(f) => (CheckStatus::Invalid, f.message().to_owned()),
        };
        self.store
            .set_credential_check(credential, node, status, &message)
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }

    /// Follows the rollout of `version` (a library version label) in the managers' reports.
    async fn watch(
        &self,
        w: &WorkflowRow,
        workload: &str,
        version: &str,
        from_version: &str,
        from_choices: &[(String, ServiceChoice)],
    ) -> Result<(), Failure> {
        let panel = |e: ControlError| internal(&w.id, e);
        let start = tokio::time::Instant::now();
        // Only an update Swarm started after this workflow began is this update's: right after
        // the new spec is applied a manager may still report the previous update (or a stop or
        // start) as completed. Needs the managers' clocks in step with the panel's (NTP).
        let began_ms = w.created_at - CLOCK_SKEW_MS;
        let ours = |u: &domain::workload::observe::UpdateObservation| {
            u.started_at_ms.is_none_or(|t| t >= began_ms)
        };
        // A rollback counts only once the new version was seen (older reports may still show an
        // earlier update's rollback).
        let mut started = false;
        loop {
            let Some(row) = self.store.workload(workload).await.map_err(panel)? else {
                return Err(Failure::Refused("the app is no longer installed".into()));
            };
            let cluster = self
                .store
                .cluster(&w.cluster_id)
                .await
                .map_err(panel)?
                .ok_or_else(|| Failure::Refused("the cluster no longer exists".into()))?;
            let members = self.store.members(&w.cluster_id).await.map_err(panel)?;
            let services: Vec<_> = self
                .observed
                .swarm_of(&cluster, &members)
                .map(|s| s.services)
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s.stack.as_deref() == Some(row.name.as_str()))
                .collect();
            started |= services
                .iter()
                .any(|s| s.version.as_deref() == Some(version));
            if let Some(s) = services.iter().find(|s| {
                s.update
                    .as_ref()
                    .is_some_and(|u| u.state.is_rollback() && (started || ours(u)))
            }) {
                self.store
                    .revert_workload(workload, from_version, from_choices)
                    .await
                    .map_err(panel)?;
                let why = s
                    .update
                    .as_ref()
                    .map(|u| u.message.clone())
                    .unwrap_or_default();
                return Err(Failure::Refused(format!(
                    "Swarm rolled {} back to the version before ({why})",
                    s.name
                )));
            }
            let done = !services.is_empty()
                && services.iter().all(|s| {
                    s.version.as_deref() == Some(version)
                        && match &s.update {
                            Some(u) => u.state == UpdateState::Completed && ours(u),
                            // Swarm keeps no update status for some services: accept after a while.
                            None => start.elapsed() > NO_STATUS_GRACE,
                        }
                        && matches!(
                            s.state(row.stopped),
                            ServiceState::Running | ServiceState::Completed | ServiceState::Stopped
                        )
                });
            if done {
                return Ok(());
            }
            let waited = start.elapsed();
            if (!started && waited > ROLLOUT_START) || waited > ROLLOUT_LIMIT {
                return Err(Failure::Refused(format!(
                    "Swarm did not finish rolling version {version} out within {} minutes",
                    waited.as_secs() / 60
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

//! A cluster's own rollout gates (`domain::firmware::gates`): Supervisors add and remove them;
//! a rollout runs them after each node serves again on its new firmware, before the commit and
//! before the next node goes down.
//!
//! An HTTP check is sent by the upgraded node's agent. A job check is a one-shot Swarm job
//! (`flotilla-gate-…`, a replicated job with one completion that is never restarted) placed on
//! the upgraded node, created through a manager; it passes when its task completes, fails with
//! Swarm's words when the task fails, and is removed either way. (On the upgraded node it checks
//! that node and leaves the others alone: a container started or removed on the VIP holder
//! makes its engine rewrite its packet filter while the holder serves.)
use std::time::Duration;

use domain::event::UiEvent;
use domain::firmware::gates::{Gate, GateCheck, GateDraft, MAX_GATES};
use domain::protocol::Command;
use domain::workload::compose::{EndpointMode, RestartCondition, RestartPolicy, ServiceMode};
use domain::workload::observe::TaskState;
use domain::workload::spec::ServiceSpec;
use domain::{Permission, ValidationError};

use super::Firmware;
use super::upgrade::UpgradeSteps;
use crate::ControlError;
use crate::auth::Actor;
use crate::clusters::managers::{self, Avoid};
use crate::workflow::Outcome;

const POLL: Duration = Duration::from_millis(500);
/// Time for the command itself on top of the gate's own timeout.
const SLACK: Duration = Duration::from_secs(10);

impl Firmware {
    /// A cluster's gates.
    pub async fn gates(&self, actor: &Actor, cluster_id: &str) -> Result<Vec<Gate>, ControlError> {
        actor.require(Permission::Read)?;
        self.store
            .cluster(cluster_id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        self.store.gates(cluster_id).await
    }

    /// Adds a gate to a cluster; it runs in the rollouts started from now on.
    pub async fn add_gate(
        &self,
        actor: &Actor,
        cluster_id: &str,
        draft: &GateDraft,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Supervise)?;
        let gate = draft.validate().map_err(ControlError::Invalid)?;
        let cluster = self
            .store
            .cluster(cluster_id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        if self.store.gates(cluster_id).await?.len() >= MAX_GATES {
            return Err(ControlError::Conflict(format!(
                "{} has {MAX_GATES} gates already: remove one first.",
                cluster.name
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if !self.store.insert_gate(cluster_id, &id, &gate).await? {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "name",
                format!("{} has a gate of that name already", cluster.name),
            )]));
        }
        let detail = format!("{}: {}", gate.name, gate.check.describe());
        self.store
            .audit(
                &actor.username,
                "cluster.gate.add",
                Some(cluster_id),
                Some(&detail),
            )
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(id)
    }

    pub async fn delete_gate(
        &self,
        actor: &Actor,
        cluster_id: &str,
        gate_id: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        if !self.store.delete_gate(cluster_id, gate_id).await? {
            return Err(ControlError::NotFound("Gate"));
        }
        self.store
            .audit(
                &actor.username,
                "cluster.gate.delete",
                Some(cluster_id),
                Some(gate_id),
            )
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }
}

impl UpgradeSteps {
    /// Runs the cluster's gates one after another, with `node_id` back on `version`; the first
    /// that does not pass is the reason. A node that rolled back has nothing to check.
    pub(super) async fn run_gates(
        &self,
        cluster_id: &str,
        node_id: &str,
        version: &str,
    ) -> Result<(), Outcome> {
        let seen = self
            .seen(node_id)
            .await
            .map_err(|e| Outcome::Transient(e.to_string()))?;
        if seen.version != version {
            return Ok(());
        }
        let gates = self
            .store
            .gates(cluster_id)
            .await
            .map_err(|e| Outcome::Transient(e.to_string()))?;
        for gate in gates {
            let timeout = Duration::from_secs(u64::from(gate.timeout_secs));
            let passed = match &gate.check {
                GateCheck::Http { url, status } => self
                    .gateway
                    .command(
                        node_id,
                        Command::HttpCheck {
                            url: url.clone(),
                            status: *status,
                            timeout_secs: gate.timeout_secs,
                        },
                        timeout + SLACK,
                    )
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|o| match o {
                        domain::protocol::Outcome::Done { .. } => Ok(()),
                        domain::protocol::Outcome::Failed { message } => Err(message),
                    }),
                GateCheck::Job { image, command } => {
                    let job = Job {
                        gate_id: &gate.id,
                        image,
                        command,
                        on: node_id,
                    };
                    self.job(cluster_id, job, timeout).await
                }
            };
            if let Err(e) = passed {
                return Err(Outcome::Gate(format!(
                    "gate \"{}\" did not pass with {} back: {e}",
                    gate.name, seen.hostname
                )));
            }
        }
        Ok(())
    }

    /// Runs a one-shot job on the upgraded node through a manager and waits for its task to
    /// end; removes it after.
    async fn job(&self, cluster_id: &str, job: Job<'_>, timeout: Duration) -> Result<(), String> {
        let short: String = job
            .gate_id
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .collect();
        let prefix = format!("flotilla-gate-{short}-");
        // A new name per run: what managers reported of an earlier run cannot pass for this one.
        let name = format!("{prefix}{}", crate::secret::now_ms() % 1_000_000_000);
        let (cluster, members) = (
            self.store.cluster(cluster_id).await.ok().flatten(),
            self.store
                .members(cluster_id)
                .await
                .map_err(|e| e.to_string())?,
        );
        let on_manager =
            |cmd: Command| managers::on_manager(&self.gateway, &members, Avoid::Nobody, cmd);
        // Jobs left over by an interrupted run go first.
        let leftovers: Vec<String> = cluster
            .and_then(|c| self.observed.swarm_of(&c, &members))
            .map(|s| s.services.into_iter().map(|svc| svc.name))
            .into_iter()
            .flatten()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        for old in leftovers {
            on_manager(Command::ServiceRemove { name: old })
                .await
                .map_err(|e| e.message().to_owned())?;
        }
        let swarm_node_id = members
            .iter()
            .find(|m| m.node_id == job.on)
            .and_then(|m| m.swarm_node_id.clone())
            .ok_or_else(|| "the node has not joined the swarm".to_string())?;
        on_manager(Command::ServiceApply(Box::new(job_spec(
            &name,
            &job,
            &swarm_node_id,
        ))))
        .await
        .map_err(|e| e.message().to_owned())?;
        let ended = self.job_end(cluster_id, &name, timeout).await;
        if let Err(e) = on_manager(Command::ServiceRemove { name: name.clone() }).await {
            tracing::warn!(job = %name, error = e.message(), "cannot remove a gate's job");
        }
        ended
    }

    /// Waits until the job's task completes (`Ok`) or fails (Swarm's words), or `timeout`.
    async fn job_end(&self, cluster_id: &str, name: &str, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let cluster = self.store.cluster(cluster_id).await.ok().flatten();
            let members = self.store.members(cluster_id).await.unwrap_or_default();
            let task = cluster
                .and_then(|c| self.observed.swarm_of(&c, &members))
                .and_then(|s| s.services.into_iter().find(|svc| svc.name == name))
                .and_then(|svc| svc.tasks.into_iter().next());
            if let Some(t) = task {
                if t.state == TaskState::Complete {
                    return Ok(());
                }
                if t.state.is_failure() {
                    let why = t.error.filter(|e| !e.is_empty()).unwrap_or(t.message);
                    return Err(format!("the job {}: {why}", t.state.as_str()));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the job did not complete within {} s",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A gate's job: which gate, what it runs, and the node (panel id) it runs on.
struct Job<'a> {
    gate_id: &'a str,
    image: &'a str,
    command: &'a [String],
    on: &'a str,
}

/// A replicated job with one completion, never restarted, outside any app, on the upgraded node
/// (it checks that node; the others, the VIP holder among them, are left alone).
fn job_spec(name: &str, job: &Job<'_>, swarm_node_id: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        stack: String::new(),
        image: job.image.to_owned(),
        command: (!job.command.is_empty()).then(|| job.command.to_vec()),
        entrypoint: None,
        environment: vec![],
        labels: vec![],
        container_labels: vec![],
        mode: ServiceMode::ReplicatedJob,
        replicas: Some(1),
        constraints: vec![format!("node.id == {swarm_node_id}")],
        spread: vec![],
        max_replicas_per_node: None,
        endpoint_mode: EndpointMode::Vip,
        ports: vec![],
        mounts: vec![],
        networks: vec![],
        secrets: vec![],
        configs: vec![],
        update: None,
        rollback: None,
        resources: Default::default(),
        restart: Some(RestartPolicy {
            condition: Some(RestartCondition::None),
            delay_ns: None,
            max_attempts: None,
            window_ns: None,
        }),
        healthcheck: None,
        registry_auth: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_job_runs_once_on_the_upgraded_node() {
        let command = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
        let job = Job {
            gate_id: "g",
            image: "busybox:1",
            command: &command,
            on: "n1",
        };
        let spec = job_spec("flotilla-gate-1", &job, "swarm-n1");
        assert_eq!(spec.mode, ServiceMode::ReplicatedJob);
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.constraints, ["node.id == swarm-n1"]);
        assert_eq!(spec.command, Some(command.clone()));
        assert_eq!(
            spec.restart.and_then(|r| r.condition),
            Some(RestartCondition::None)
        );
        let bare = Job {
            command: &[],
            ..job
        };
        assert_eq!(job_spec("x", &bare, "s").command, None);
    }
}

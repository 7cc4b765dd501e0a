//! The firmware upgrade of standalone nodes, a workflow on the engine: the nodes go in waves of
//! the chosen size, each wave through install → reboot → back healthy → commit.
//!
//! "Back healthy" is read from what the node's agent says after the reboot, never from stale
//! state: it is connected again, reports the new firmware version and its engine answers. A node
//! that is not back within the gate time is told to roll back (if it can be reached; if not, its
//! own trial deadline rolls it back) and the workflow pauses with the reason. Resumed, the wave
//! goes on with the nodes that made it; the rolled-back ones are left as they are.
use std::time::Duration;

use domain::firmware::{FirmwareState, TRIAL_MARGIN_SECS};
use domain::node::EngineFacts;
use domain::protocol::{Command, Outcome as Reply, Reply as Answer};
use domain::workflow::{WorkflowKind, WorkflowStatus};
use futures_util::future::{BoxFuture, join_all};
use serde::{Deserialize, Serialize};

use super::signed;
use crate::ControlError;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::store::{StepRow, Store, WorkflowRow};
use crate::workflow::{Outcome, Planned, Runner};

/// How long an install (download and installer) may take on a node.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UpgradeStep {
    Install {
        nodes: Vec<String>,
        artifact_id: String,
    },
    Reboot {
        nodes: Vec<String>,
        version: String,
        trial_secs: u32,
    },
    Back {
        nodes: Vec<String>,
        version: String,
        gate_secs: u32,
    },
    Commit {
        nodes: Vec<String>,
        version: String,
    },
    // The steps a cluster's rollout adds around a node's upgrade (see `rollout`).
    Precheck {
        node_id: String,
    },
    MoveVips {
        node_id: String,
    },
    Fence {
        node_id: String,
    },
    Drain {
        node_id: String,
    },
    /// `version`: the firmware being rolled out (empty in rollouts stored before it was kept).
    Activate {
        node_id: String,
        gate_secs: u32,
        #[serde(default)]
        version: String,
    },
    Unfence {
        node_id: String,
        gate_secs: u32,
        #[serde(default)]
        version: String,
    },
    /// The cluster's own gates (as they are when the step runs).
    Gates {
        node_id: String,
        version: String,
        gate_secs: u32,
    },
    /// With a replicated cluster volume: the node's copy has caught up (every copy whole).
    Healed {
        node_id: String,
    },
}

impl UpgradeStep {
    pub fn nodes(&self) -> &[String] {
        match self {
            UpgradeStep::Install { nodes, .. }
            | UpgradeStep::Reboot { nodes, .. }
            | UpgradeStep::Back { nodes, .. }
            | UpgradeStep::Commit { nodes, .. } => nodes,
            UpgradeStep::Precheck { node_id }
            | UpgradeStep::MoveVips { node_id }
            | UpgradeStep::Fence { node_id }
            | UpgradeStep::Drain { node_id }
            | UpgradeStep::Activate { node_id, .. }
            | UpgradeStep::Unfence { node_id, .. }
            | UpgradeStep::Gates { node_id, .. }
            | UpgradeStep::Healed { node_id } => std::slice::from_ref(node_id),
        }
    }
}

/// The steps of an upgrade of `nodes` (id, hostname) in waves of `concurrency`.
pub fn plan(
    nodes: &[(String, String)],
    artifact_id: &str,
    version: &str,
    concurrency: u32,
    gate_secs: u32,
) -> Vec<Planned<UpgradeStep>> {
    let mut steps = vec![];
    for wave in nodes.chunks(concurrency.max(1) as usize) {
        let ids: Vec<String> = wave.iter().map(|(id, _)| id.clone()).collect();
        let names = wave
            .iter()
            .map(|(_, h)| h.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let single = (ids.len() == 1).then(|| ids[0].clone());
        steps.push(Planned::safe(
            UpgradeStep::Install {
                nodes: ids.clone(),
                artifact_id: artifact_id.to_owned(),
            },
            format!("Download and install {version} on {names}"),
            single.as_deref(),
        ));
        steps.push(Planned::safe(
            UpgradeStep::Reboot {
                nodes: ids.clone(),
                version: version.to_owned(),
                trial_secs: gate_secs + TRIAL_MARGIN_SECS,
            },
            format!("Reboot {names} into {version}"),
            single.as_deref(),
        ));
        steps.push(Planned::safe(
            UpgradeStep::Back {
                nodes: ids.clone(),
                version: version.to_owned(),
                gate_secs,
            },
            format!("Wait until {names} run {version} healthy"),
            single.as_deref(),
        ));
        steps.push(Planned::safe(
            UpgradeStep::Commit {
                nodes: ids,
                version: version.to_owned(),
            },
            format!("Commit {version} on {names}"),
            single.as_deref(),
        ));
    }
    steps
}

#[derive(Clone)]
pub(super) struct UpgradeSteps {
    pub store: Store,
    pub gateway: Gateway,
    pub events: Events,
    pub observed: crate::gateway::Observed,
}

/// What the panel knows of a node right now.
pub(super) struct Seen {
    pub hostname: String,
    pub online: bool,
    pub version: String,
    pub state: FirmwareState,
    pub engine_up: bool,
}

impl Seen {
    /// The node reports that it runs `version`, or is rebooting into it on trial.
    fn rebooted_into(&self, version: &str) -> bool {
        self.version == version
            || matches!(&self.state, FirmwareState::Trial { version: v, .. } if v == version)
    }
}

impl UpgradeSteps {
    pub(super) async fn seen(&self, node_id: &str) -> Result<Seen, ControlError> {
        let row = self
            .store
            .node_by_id(node_id)
            .await?
            .ok_or(ControlError::NotFound("node"))?;
        let facts = row.facts();
        Ok(Seen {
            online: self.gateway.is_online(node_id).is_some(),
            version: facts
                .as_ref()
                .map(|f| f.firmware_version.clone())
                .unwrap_or_default(),
            state: facts
                .as_ref()
                .map(|f| f.firmware.clone())
                .unwrap_or_default(),
            engine_up: facts
                .as_ref()
                .is_some_and(|f| matches!(f.engine, EngineFacts::Up { .. })),
            hostname: row.hostname,
        })
    }

    /// Sends a firmware command; the node's state from its answer.
    async fn firmware(
        &self,
        node_id: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<FirmwareState, String> {
        match self.gateway.command(node_id, command, timeout).await {
            Ok(Reply::Done {
                reply: Answer::Firmware(state),
            }) => Ok(state),
            Ok(Reply::Done { .. }) => Err("the agent answered without its firmware state".into()),
            Ok(Reply::Failed { message }) => Err(message),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn install(&self, node_id: &str, artifact_id: &str) -> Result<(), Outcome> {
        let signed = signed(&self.store, artifact_id)
            .await
            .map_err(|e| Outcome::Failed(format!("the firmware artifact: {e}")))?;
        let seen = self.seen(node_id).await.map_err(transient)?;
        if seen.version == signed.manifest.version {
            return Ok(());
        }
        match self
            .firmware(node_id, Command::FirmwareInstall(signed), INSTALL_TIMEOUT)
            .await
        {
            Ok(FirmwareState::Installed { .. }) => Ok(()),
            Ok(other) => Err(Outcome::Failed(format!(
                "{}: unexpected firmware state {}",
                seen.hostname,
                other.label()
            ))),
            Err(e) if !seen.online => Err(Outcome::Transient(format!("{}: {e}", seen.hostname))),
            Err(e) => Err(Outcome::Failed(format!("{}: {e}", seen.hostname))),
        }
    }

    async fn reboot(&self, node_id: &str, version: &str, trial_secs: u32) -> Result<(), Outcome> {
        let seen = self.seen(node_id).await.map_err(transient)?;
        // Asked again after a panel restart: the node rebooted already.
        if seen.rebooted_into(version) {
            return Ok(());
        }
        match self
            .firmware(
                node_id,
                Command::FirmwareReboot { trial_secs },
                COMMAND_TIMEOUT,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                // The reboot can close the connection before the answer leaves the node: then
                // what the node reports since (on trial with the version) decides, and while it
                // is away the step is tried again.
                let now = self.seen(node_id).await.map_err(transient)?;
                if now.rebooted_into(version) {
                    Ok(())
                } else if !seen.online || !now.online {
                    Err(Outcome::Transient(format!("{}: {e}", seen.hostname)))
                } else {
                    Err(Outcome::Failed(format!("{}: {e}", seen.hostname)))
                }
            }
        }
    }

    /// Waits until the node runs `version` healthy; on time-out tells it to roll back. `Ok(None)`
    /// when it is back, `Ok(Some(reason))` when it was rolled back (or had been already). Once
    /// an operator resumed after that pause (`resumed`), a rolled-back node is left as it is.
    async fn back(
        &self,
        node_id: &str,
        version: &str,
        gate_secs: u32,
        resumed: bool,
    ) -> Result<Option<String>, ControlError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(gate_secs));
        loop {
            let seen = self.seen(node_id).await?;
            match &seen.state {
                FirmwareState::RolledBack { version: v, .. } if resumed && v == version => {
                    return Ok(None);
                }
                FirmwareState::RolledBack { reason, .. } => {
                    return Ok(Some(format!("{}: rolled back ({reason})", seen.hostname)));
                }
                FirmwareState::Committed { version: v } if v == version => return Ok(None),
                _ => {}
            }
            if seen.online && seen.engine_up && seen.version == version {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= deadline {
                let why = if !seen.online {
                    "did not reconnect".to_string()
                } else if seen.version != version {
                    format!("came back on {}", seen.version)
                } else {
                    "runs it, but its engine does not answer".to_string()
                };
                let reason = format!("not healthy on {version} within {gate_secs} s: {why}");
                let told = if seen.online {
                    self.roll_back(node_id, &reason).await
                } else {
                    "its agent rolls back by itself when its trial ends".to_string()
                };
                return Ok(Some(format!("{}: {reason}; {told}", seen.hostname)));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Tells a node to give the new firmware up (installer roll-back, reboot); says how it went.
    pub(super) async fn roll_back(&self, node_id: &str, reason: &str) -> String {
        let command = Command::FirmwareRollback {
            reason: reason.to_owned(),
        };
        match self.firmware(node_id, command, COMMAND_TIMEOUT).await {
            Ok(_) => "rolled back".to_string(),
            Err(e) => format!("roll-back refused: {e}"),
        }
    }

    async fn commit(&self, node_id: &str, version: &str) -> Result<(), Outcome> {
        let seen = self.seen(node_id).await.map_err(transient)?;
        match &seen.state {
            FirmwareState::Committed { version: v } if v == version => return Ok(()),
            FirmwareState::Trial { version: v, .. } if v == version => {}
            // Rolled back at the gate: left as it is.
            _ => return Ok(()),
        }
        self.firmware(node_id, Command::FirmwareCommit, COMMAND_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| Outcome::Transient(format!("{}: {e}", seen.hostname)))
    }

    /// Runs one step of a standalone upgrade (`cluster_id` is [`super::FLEET`]) or of a
    /// cluster's rollout. `resumed`: the step paused before and an operator resumed it.
    async fn run_step(&self, cluster_id: &str, step: &UpgradeStep, resumed: bool) -> Outcome {
        let done = |r: Result<(), Outcome>| r.err().unwrap_or(Outcome::Done);
        match step {
            UpgradeStep::Precheck { node_id } => done(self.precheck(cluster_id, node_id).await),
            UpgradeStep::MoveVips { node_id } => done(self.move_vips(cluster_id, node_id).await),
            UpgradeStep::Fence { node_id } => done(self.fence(cluster_id, node_id).await),
            UpgradeStep::Drain { node_id } => done(self.drain(cluster_id, node_id).await),
            UpgradeStep::Healed { node_id } => done(self.healed(cluster_id, node_id).await),
            // A gate that fails after the reboot rolls the node back (see `fall_back`).
            UpgradeStep::Activate {
                node_id,
                gate_secs,
                version,
            } => {
                let r = self.activate(cluster_id, node_id, *gate_secs).await;
                self.fall_back(cluster_id, node_id, version, *gate_secs, r)
                    .await
            }
            UpgradeStep::Unfence {
                node_id,
                gate_secs,
                version,
            } => {
                let r = self.unfence(cluster_id, node_id, *gate_secs).await;
                self.fall_back(cluster_id, node_id, version, *gate_secs, r)
                    .await
            }
            UpgradeStep::Gates {
                node_id,
                version,
                gate_secs,
            } => {
                let r = self.run_gates(cluster_id, node_id, version).await;
                self.fall_back(cluster_id, node_id, version, *gate_secs, r)
                    .await
            }
            UpgradeStep::Install { nodes, artifact_id } => {
                first_failure(join_all(nodes.iter().map(|n| self.install(n, artifact_id))).await)
            }
            UpgradeStep::Reboot {
                nodes,
                version,
                trial_secs,
            } => first_failure(
                join_all(nodes.iter().map(|n| self.reboot(n, version, *trial_secs))).await,
            ),
            UpgradeStep::Back {
                nodes,
                version,
                gate_secs,
            } => {
                let results = join_all(
                    nodes
                        .iter()
                        .map(|n| self.back(n, version, *gate_secs, resumed)),
                )
                .await;
                let mut failed = vec![];
                for (node_id, r) in nodes.iter().zip(results) {
                    match r {
                        Ok(None) => {}
                        // In a cluster, the rolled-back node serves again before the pause.
                        Ok(Some(reason)) if cluster_id != super::FLEET => failed.push(format!(
                            "{reason}; {}",
                            self.restore(cluster_id, node_id, version, *gate_secs).await
                        )),
                        Ok(Some(reason)) => failed.push(reason),
                        Err(e) => return transient(e),
                    }
                }
                if failed.is_empty() {
                    Outcome::Done
                } else {
                    Outcome::Gate(failed.join("; "))
                }
            }
            UpgradeStep::Commit { nodes, version } => {
                first_failure(join_all(nodes.iter().map(|n| self.commit(n, version))).await)
            }
        }
    }
}

fn transient(e: ControlError) -> Outcome {
    Outcome::Transient(e.to_string())
}

fn first_failure(results: Vec<Result<(), Outcome>>) -> Outcome {
    results
        .into_iter()
        .find_map(Result::err)
        .unwrap_or(Outcome::Done)
}

impl Runner for UpgradeSteps {
    fn run<'a>(&'a self, w: &'a WorkflowRow, step: &'a StepRow) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match serde_json::from_str::<UpgradeStep>(&step.step) {
                Ok(op) => {
                    // A paused step keeps its reason until it starts again.
                    let resumed = step.error.is_some();
                    self.run_step(&w.cluster_id, &op, resumed).await
                }
                Err(e) => {
                    tracing::error!(workflow = %w.id, position = step.position, error = %e, "unreadable firmware step");
                    Outcome::Failed("the step is unreadable (see the panel's log)".into())
                }
            }
        })
    }

    fn status_changed<'a>(
        &'a self,
        w: &'a WorkflowRow,
        status: WorkflowStatus,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            if matches!(
                w.kind,
                WorkflowKind::FirmwareUpgrade | WorkflowKind::FirmwareRollout
            ) {
                tracing::info!(workflow = %w.id, status = status.as_str(), "firmware upgrade");
                self.events.publish(domain::event::UiEvent::Firmware);
            }
            if w.kind == WorkflowKind::FirmwareRollout && status == WorkflowStatus::Aborted {
                // The node being upgraded must not stay drained or fenced.
                if let Some(node_id) = self
                    .store
                    .steps(&w.id)
                    .await?
                    .get(w.current)
                    .and_then(|s| s.node_id.clone())
                {
                    let steps = self.clone();
                    let cluster_id = w.cluster_id.clone();
                    tokio::spawn(async move { steps.release(&cluster_id, &node_id).await });
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_rebooted_into_a_version_when_it_runs_it_or_is_on_trial_with_it() {
        let seen = |version: &str, state: FirmwareState| Seen {
            hostname: "edge-1".into(),
            online: true,
            version: version.into(),
            state,
            engine_up: true,
        };
        let trial = |v: &str| FirmwareState::Trial {
            version: v.into(),
            deadline_ms: 0,
        };
        assert!(seen("2.0", FirmwareState::default()).rebooted_into("2.0"));
        assert!(seen("1.0", trial("2.0")).rebooted_into("2.0"));
        assert!(!seen("1.0", trial("3.0")).rebooted_into("2.0"));
        let installed = FirmwareState::Installed {
            version: "2.0".into(),
        };
        assert!(
            !seen("1.0", installed).rebooted_into("2.0"),
            "installed is not rebooted"
        );
    }

    #[test]
    fn waves_of_the_chosen_size_each_install_reboot_wait_commit() {
        let nodes: Vec<(String, String)> = (1..=3)
            .map(|i| (format!("id{i}"), format!("edge-{i}")))
            .collect();
        let steps = plan(&nodes, "a1", "2.0", 2, 60);
        let titles: Vec<_> = steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Download and install 2.0 on edge-1, edge-2",
                "Reboot edge-1, edge-2 into 2.0",
                "Wait until edge-1, edge-2 run 2.0 healthy",
                "Commit 2.0 on edge-1, edge-2",
                "Download and install 2.0 on edge-3",
                "Reboot edge-3 into 2.0",
                "Wait until edge-3 run 2.0 healthy",
                "Commit 2.0 on edge-3",
            ]
        );
        assert_eq!(steps[4].node_id.as_deref(), Some("id3"));
        assert_eq!(steps[0].node_id, None);
        assert!(matches!(
            steps[1].step,
            UpgradeStep::Reboot {
                trial_secs: 120,
                ..
            }
        ));
    }
}

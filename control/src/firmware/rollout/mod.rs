//! The rolling firmware upgrade of a cluster, one node at a time, while the services behind its
//! virtual IPs keep answering. The sequence is the one measured with zero failed requests in the
//! lab (docs/firmware.md): workers first, then managers, the VIP holder last; per node
//! pre-checks → VIPs handed over make-before-break (a chosen target is raised, it preempts the
//! holder; then priorities are equal again) → the node fenced from VRRP → drained → no task left
//! → install → reboot → back (new version from its agent, engine and swarm up, a Raft leader) →
//! active again with its tasks running → commit → unfenced, KeepAlived healthy → next node.
//!
//! Every wait reads what agents report now; nothing trusts a stale "Ready" (a manager keeps
//! saying Ready for a node that is rebooting). Every step checks whether its effect holds
//! already, so a panel restart at any point resumes at the right step.
use std::time::Duration;

use domain::firmware::{FirmwareState, TRIAL_MARGIN_SECS};
use domain::health;
use domain::protocol::{Command, NodeUpdate};
use domain::swarm::{Availability, SwarmNodeState, SwarmRole, SwarmSnapshot};
use domain::workload::compose::ServiceMode;
use domain::workload::observe::TaskState;

use super::upgrade::{UpgradeStep, UpgradeStep as S, UpgradeSteps};
use crate::ControlError;
use crate::clusters::managers::{self, Avoid};
use crate::store::{ClusterRow, MemberRow};
use crate::volumes;
use crate::workflow::{Outcome, Planned};

mod handover;

const POLL: Duration = Duration::from_millis(250);
const DRAIN_WAIT: Duration = Duration::from_secs(120);
/// How long the pre-checks of a node may take to hold (the swarm settling after the previous one).
const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// How long a rolled-back node may take to boot its old firmware and reconnect.
const RESTORE_BOOT: Duration = Duration::from_secs(120);
/// How long a returning node's copy of the cluster volume may take to catch up (then the rollout
/// pauses with what is left; resumed, it waits again).
const HEAL_WAIT: Duration = Duration::from_secs(600);

/// How long a node runs the new firmware on trial: the waits until its commit (back, active,
/// unfenced: each at most the gate time), the cluster's gates, and a margin, so that the panel
/// decides before the node's own deadline.
pub fn trial_secs(gate_secs: u32, gates_secs: u32) -> u32 {
    3 * gate_secs + gates_secs + TRIAL_MARGIN_SECS
}

/// The steps of a rollout over `order` (node id, hostname), already in upgrade order; the
/// cluster's gates run after each node when `gates` (their number, and their time in all) has
/// any; with a replicated cluster `volume`, each node's copy catches up after its commit.
pub fn plan(
    order: &[(String, String)],
    (artifact_id, version): (&str, &str),
    gate_secs: u32,
    (gates, gates_secs): (usize, u32),
    volume: bool,
) -> Vec<Planned<UpgradeStep>> {
    let mut steps = vec![];
    for (id, host) in order {
        let node_id = id.clone();
        let on = |step: UpgradeStep, title: String| Planned::safe(step, title, Some(id.as_str()));
        let v = version.to_owned();
        steps.extend([
            on(
                S::Precheck {
                    node_id: node_id.clone(),
                },
                format!("Check that {host} can go down"),
            ),
            on(
                S::MoveVips {
                    node_id: node_id.clone(),
                },
                format!("Hand {host}'s virtual IPs over"),
            ),
            on(
                S::Fence {
                    node_id: node_id.clone(),
                },
                format!("Fence {host} from VRRP"),
            ),
            on(
                S::Drain {
                    node_id: node_id.clone(),
                },
                format!("Drain {host} until it runs no task"),
            ),
            on(
                S::Install {
                    nodes: vec![node_id.clone()],
                    artifact_id: artifact_id.to_owned(),
                },
                format!("Download and install {version} on {host}"),
            ),
            on(
                S::Reboot {
                    nodes: vec![node_id.clone()],
                    version: v.clone(),
                    trial_secs: trial_secs(gate_secs, gates_secs),
                },
                format!("Reboot {host} into {version}"),
            ),
            on(
                S::Back {
                    nodes: vec![node_id.clone()],
                    version: v.clone(),
                    gate_secs,
                },
                format!("Wait until {host} runs {version} healthy"),
            ),
            on(
                S::Activate {
                    node_id: node_id.clone(),
                    gate_secs,
                    version: v.clone(),
                },
                format!("Set {host} active; its tasks run again"),
            ),
            on(
                S::Unfence {
                    node_id: node_id.clone(),
                    gate_secs,
                    version: v.clone(),
                },
                format!("Unfence {host}; its KeepAlived is healthy"),
            ),
        ]);
        if gates > 0 {
            let plural = if gates == 1 { "" } else { "s" };
            steps.push(on(
                S::Gates {
                    node_id: node_id.clone(),
                    version: v.clone(),
                    gate_secs,
                },
                format!("Pass the cluster's {gates} gate{plural} with {host} back"),
            ));
        }
        steps.push(on(
            S::Commit {
                nodes: vec![node_id.clone()],
                version: v,
            },
            format!("Commit {version} on {host}"),
        ));
        if volume {
            steps.push(on(
                S::Healed { node_id },
                format!("Wait until {host}'s copy of the cluster volume has caught up"),
            ));
        }
    }
    steps
}

/// What a step needs to know of the cluster now.
struct Now {
    cluster: ClusterRow,
    members: Vec<MemberRow>,
    swarm: Option<SwarmSnapshot>,
}

impl Now {
    fn member(&self, node_id: &str) -> Result<&MemberRow, Outcome> {
        self.members
            .iter()
            .find(|m| m.node_id == node_id)
            .ok_or_else(|| Outcome::Failed("the node is no longer a member of the cluster".into()))
    }

    fn swarm_node(&self, m: &MemberRow) -> Option<&domain::swarm::SwarmNodeView> {
        let id = m.swarm_node_id.as_deref()?;
        self.swarm.as_ref()?.nodes.iter().find(|n| n.id == id)
    }

    /// Tasks Swarm wants running on a node, and how many of them run.
    fn tasks_on(&self, swarm_node_id: &str) -> (usize, usize) {
        let Some(s) = &self.swarm else {
            return (0, 0);
        };
        let wanted: Vec<_> = s
            .services
            .iter()
            .flat_map(|svc| svc.tasks.iter())
            .filter(|t| t.node_id == swarm_node_id && t.desired == TaskState::Running)
            .collect();
        let running = wanted
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        (wanted.len(), running)
    }
}

impl UpgradeSteps {
    async fn now(&self, cluster_id: &str) -> Result<Now, Outcome> {
        let cluster = self
            .store
            .cluster(cluster_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| Outcome::Failed("the cluster no longer exists".into()))?;
        let members = self.store.members(cluster_id).await.map_err(transient)?;
        let swarm = self.observed.swarm_of(&cluster, &members);
        Ok(Now {
            cluster,
            members,
            swarm,
        })
    }

    async fn hostname(&self, node_id: &str) -> String {
        self.store
            .node_by_id(node_id)
            .await
            .ok()
            .flatten()
            .map_or_else(|| node_id.to_owned(), |n| n.hostname)
    }

    async fn availability(&self, now: &Now, m: &MemberRow, a: Availability) -> Result<(), Outcome> {
        let Some(swarm_node_id) = m.swarm_node_id.clone() else {
            return Err(Outcome::Failed("the node has not joined the swarm".into()));
        };
        managers::on_manager(
            &self.gateway,
            &now.members,
            Avoid::Exclude(&m.node_id),
            Command::NodeUpdate(NodeUpdate {
                swarm_node_id,
                role: None,
                availability: Some(a),
                labels: None,
            }),
        )
        .await
        .map(|_| ())
        .map_err(|e| Outcome::Transient(e.message().to_owned()))
    }

    /// The pre-checks, given [`SETTLE_WAIT`] to hold: right after the previous node came back,
    /// a manager may still report another member as not ready for a moment.
    pub(super) async fn precheck(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            match self.can_go_down(cluster_id, node_id).await {
                Err(Outcome::Gate(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                other => return other,
            }
        }
    }

    /// Quorum holds without the node, a leader exists, every other member is up and active,
    /// and every service with a task on it also runs elsewhere (or is global).
    async fn can_go_down(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        let me = now.member(node_id)?;
        let host = self.hostname(node_id).await;
        let swarm = now
            .swarm
            .as_ref()
            .ok_or_else(|| Outcome::Gate("no manager reports the swarm".into()))?;
        if !swarm.nodes.iter().any(|n| n.leader) {
            return Err(Outcome::Gate("the swarm has no Raft leader".into()));
        }
        for m in now.members.iter().filter(|m| m.node_id != node_id) {
            let name = self.hostname(&m.node_id).await;
            let online = self
                .gateway
                .is_online(&m.node_id)
                .is_some_and(|seen| !self.gateway.is_silent(seen));
            if !online {
                return Err(Outcome::Gate(format!("{name} is not online")));
            }
            match now.swarm_node(m) {
                Some(n)
                    if n.state == SwarmNodeState::Ready
                        && n.availability == Availability::Active => {}
                _ => {
                    return Err(Outcome::Gate(format!(
                        "{name} is not ready and active in the swarm"
                    )));
                }
            }
        }
        let managers: Vec<&MemberRow> = now
            .members
            .iter()
            .filter(|m| m.role == SwarmRole::Manager)
            .collect();
        if me.role == SwarmRole::Manager {
            let reachable = managers
                .iter()
                .filter(|m| self.gateway.is_online(&m.node_id).is_some())
                .count();
            health::check_manager_down(managers.len(), reachable, true)
                .map_err(|e| Outcome::Gate(format!("{host} cannot go down: {e}")))?;
        }
        // With a replicated cluster volume, every copy is whole before one goes down.
        if crate::volumes::replicated(&now.cluster.definition, now.members.len())
            && let Some(why) = volumes::gates::not_whole(&self.store, &self.gateway, &now.members)
                .await
                .map_err(transient)?
        {
            return Err(Outcome::Gate(format!("{host} cannot go down: {why}")));
        }
        if let Some(me_swarm) = me.swarm_node_id.as_deref() {
            for svc in &swarm.services {
                // A writer on the cluster volume moves with the drain (stopped first, its data on
                // every node); several writers run elsewhere anyway.
                if matches!(svc.mode, ServiceMode::Global | ServiceMode::GlobalJob)
                    || svc.mode.is_job()
                    || svc.cluster_volume
                {
                    continue;
                }
                let running = |on_me: bool| {
                    svc.tasks
                        .iter()
                        .any(|t| t.state == TaskState::Running && (t.node_id == me_swarm) == on_me)
                };
                if running(true) && !running(false) {
                    return Err(Outcome::Gate(format!(
                        "{} runs only on {host}: it would stop (give it more replicas)",
                        svc.name
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn drain(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        let me = now.member(node_id)?.clone();
        let host = self.hostname(node_id).await;
        if now.swarm_node(&me).map(|n| n.availability) != Some(Availability::Drain) {
            self.availability(&now, &me, Availability::Drain).await?;
        }
        let swarm_id = me.swarm_node_id.clone().unwrap_or_default();
        self.wait_for(DRAIN_WAIT, || async {
            let now = self.now(cluster_id).await.ok()?;
            let drained = now
                .swarm_node(&me)
                .is_some_and(|n| n.availability == Availability::Drain);
            (drained && now.tasks_on(&swarm_id).1 == 0).then_some(())
        })
        .await
        .ok_or_else(|| {
            Outcome::Gate(format!(
                "{host} still runs tasks after {} s",
                DRAIN_WAIT.as_secs()
            ))
        })
    }

    /// Active again; waits until the swarm has a leader, the node is Ready and every task Swarm
    /// places back on it runs.
    pub(super) async fn activate(
        &self,
        cluster_id: &str,
        node_id: &str,
        gate_secs: u32,
    ) -> Result<(), Outcome> {
        let host = self.hostname(node_id).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(gate_secs));
        loop {
            let now = self.now(cluster_id).await?;
            let me = now.member(node_id)?.clone();
            let view = now.swarm_node(&me).cloned();
            let leader = now
                .swarm
                .as_ref()
                .is_some_and(|s| s.nodes.iter().any(|n| n.leader));
            if let Some(v) = &view
                && leader
                && v.state == SwarmNodeState::Ready
            {
                if v.availability != Availability::Active {
                    // Managers may refuse while the swarm elects a leader: try again next round.
                    let _ = self.availability(&now, &me, Availability::Active).await;
                } else {
                    let (wanted, running) =
                        now.tasks_on(me.swarm_node_id.as_deref().unwrap_or_default());
                    if running == wanted {
                        return Ok(());
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Outcome::Gate(format!(
                    "{host} is not active with its tasks running within {gate_secs} s (leader: {leader}, swarm state: {})",
                    view.map_or("unknown", |v| v.state.as_str())
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the copies of the cluster volume are whole with the node back, for at most
    /// [`HEAL_WAIT`] (the holders asked for their newest reading every few seconds).
    pub(super) async fn healed(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        let why = volumes::gates::wait_whole(&self.store, &self.gateway, &now.members, HEAL_WAIT)
            .await
            .map_err(transient)?;
        match why {
            None => Ok(()),
            Some(why) => Err(Outcome::Gate(format!(
                "{}'s copy of the cluster volume has not caught up within {} min: {why}",
                self.hostname(node_id).await,
                HEAL_WAIT.as_secs() / 60
            ))),
        }
    }

    /// Whether the node gave `version` up (rolled back) in this rollout.
    async fn rolled_back(&self, node_id: &str, version: &str) -> bool {
        self.seen(node_id).await.is_ok_and(
            |s| matches!(s.state, FirmwareState::RolledBack { version: v, .. } if v == version),
        )
    }

    /// A gate after the reboot did not pass (`result`): the node gives the new firmware up
    /// (installer roll-back and reboot), is returned to service on its old one, and the rollout
    /// pauses with the reason. A node that rolled back already (the operator resumed after such
    /// a pause) just pauses.
    pub(super) async fn fall_back(
        &self,
        cluster_id: &str,
        node_id: &str,
        version: &str,
        gate_secs: u32,
        result: Result<(), Outcome>,
    ) -> Outcome {
        let reason = match result {
            Ok(()) => return Outcome::Done,
            Err(Outcome::Gate(reason)) => reason,
            Err(other) => return other,
        };
        if version.is_empty() || self.rolled_back(node_id, version).await {
            return Outcome::Gate(reason);
        }
        let host = self.hostname(node_id).await;
        let told = format!("{host}: {}", self.roll_back(node_id, &reason).await);
        let restored = self.restore(cluster_id, node_id, version, gate_secs).await;
        Outcome::Gate(format!("{reason}; {told}; {restored}"))
    }

    /// After a node rolled back at its gate: waits until it runs its old firmware again, then
    /// returns it to service (active with its tasks, unfenced), so that the paused rollout leaves
    /// the cluster whole. Says what happened, for the pause's reason.
    pub(super) async fn restore(
        &self,
        cluster_id: &str,
        node_id: &str,
        version: &str,
        gate_secs: u32,
    ) -> String {
        let host = self.hostname(node_id).await;
        // A node out of reach rolls back by itself when its trial ends.
        let limit = Duration::from_secs(u64::from(trial_secs(gate_secs, 0))) + RESTORE_BOOT;
        let back = self
            .wait_for(limit, || async {
                let seen = self.seen(node_id).await.ok()?;
                let fresh = self
                    .gateway
                    .is_online(node_id)
                    .is_some_and(|heard| !self.gateway.is_silent(heard));
                (fresh && seen.engine_up && seen.version != version).then_some(seen.version)
            })
            .await;
        let Some(old) = back else {
            return format!(
                "{host} is not back on its old firmware yet: it stays drained and fenced"
            );
        };
        let served = match self.activate(cluster_id, node_id, gate_secs).await {
            Ok(()) => self.unfence(cluster_id, node_id, gate_secs).await,
            Err(e) => Err(e),
        };
        match served {
            Ok(()) => format!("{host} runs {old} again, active and unfenced"),
            Err(e) => format!(
                "{host} runs {old} again but does not serve yet: {}",
                e.reason().unwrap_or("unknown")
            ),
        }
    }

    /// After an operator aborted the rollout: the node it was upgrading goes back to service
    /// (offset 0, active), best effort; whatever fails is logged.
    pub(super) async fn release(&self, cluster_id: &str, node_id: &str) {
        let Ok(now) = self.now(cluster_id).await else {
            return;
        };
        let Ok(me) = now.member(node_id).cloned() else {
            return;
        };
        if me.vip
            && let Err(e) = self.offset(node_id, 0).await
        {
            tracing::warn!(node = %node_id, error = e.reason(), "aborted rollout: cannot unfence the node");
        }
        if now.swarm_node(&me).map(|n| n.availability) == Some(Availability::Drain)
            && let Err(e) = self.availability(&now, &me, Availability::Active).await
        {
            tracing::warn!(node = %node_id, error = e.reason(), "aborted rollout: cannot set the node active");
        }
        tracing::info!(node = %node_id, "aborted rollout: node released");
    }

    /// Polls `check` until it gives a value or `limit` passes.
    async fn wait_for<T, F, Fut>(&self, limit: Duration, check: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(v) = check().await {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn transient(e: ControlError) -> Outcome {
    Outcome::Transient(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_a_cluster_volume_each_node_waits_for_its_copy_after_its_commit() {
        let order = [("1".to_owned(), "edge-1".to_owned())];
        let titles = |volume| -> Vec<String> {
            plan(&order, ("a1", "2.0"), 60, (0, 0), volume)
                .into_iter()
                .map(|p| p.title)
                .collect()
        };
        let plain = titles(false);
        let with_volume = titles(true);
        assert_eq!(
            plain.last().map(String::as_str),
            Some("Commit 2.0 on edge-1")
        );
        assert_eq!(with_volume[..plain.len()], plain[..]);
        assert_eq!(
            with_volume[plain.len()..],
            ["Wait until edge-1's copy of the cluster volume has caught up"]
        );
    }
}

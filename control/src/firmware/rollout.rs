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

use domain::firmware::FirmwareState;
use domain::health::{self, VipTruth};
use domain::protocol::{Command, NodeUpdate, VIP_BOOST, VIP_FENCE, VrrpState};
use domain::swarm::{Availability, SwarmNodeState, SwarmRole, SwarmSnapshot};
use domain::workload::compose::ServiceMode;
use domain::workload::observe::TaskState;

use super::upgrade::UpgradeSteps;
use crate::ControlError;
use crate::clusters::managers::{self, Avoid};
use crate::store::{ClusterRow, MemberRow};
use crate::workflow::{Outcome, Planned};

const POLL: Duration = Duration::from_millis(250);
/// A VIP hand-off takes about 3 advertisement intervals; this is the bound for any interval.
const HANDOFF_WAIT: Duration = Duration::from_secs(20);
/// Requests already on the old holder finish meanwhile.
const SETTLE: Duration = Duration::from_secs(2);
const DRAIN_WAIT: Duration = Duration::from_secs(120);

/// The steps of a rollout over `order` (node id, hostname), already in upgrade order.
pub fn plan(
    order: &[(String, String)],
    artifact_id: &str,
    version: &str,
    gate_secs: u32,
) -> Vec<Planned<super::upgrade::UpgradeStep>> {
    use super::upgrade::UpgradeStep as S;
    let mut steps = vec![];
    for (id, host) in order {
        let n = Some(id.as_str());
        steps.push(Planned::safe(
            S::Precheck {
                node_id: id.clone(),
            },
            format!("Check that {host} can go down"),
            n,
        ));
        steps.push(Planned::safe(
            S::MoveVips {
                node_id: id.clone(),
            },
            format!("Hand {host}'s virtual IPs over"),
            n,
        ));
        steps.push(Planned::safe(
            S::Fence {
                node_id: id.clone(),
            },
            format!("Fence {host} from VRRP"),
            n,
        ));
        steps.push(Planned::safe(
            S::Drain {
                node_id: id.clone(),
            },
            format!("Drain {host} until it runs no task"),
            n,
        ));
        for p in super::upgrade::plan(
            &[(id.clone(), host.clone())],
            artifact_id,
            version,
            1,
            gate_secs,
        ) {
            // The commit comes after the node serves again.
            if !matches!(p.step, S::Commit { .. }) {
                steps.push(p);
            }
        }
        steps.push(Planned::safe(
            S::Activate {
                node_id: id.clone(),
                gate_secs,
            },
            format!("Set {host} active; its tasks run again"),
            n,
        ));
        steps.push(Planned::safe(
            S::Commit {
                nodes: vec![id.clone()],
                version: version.to_owned(),
            },
            format!("Commit {version} on {host}"),
            n,
        ));
        steps.push(Planned::safe(
            S::Unfence {
                node_id: id.clone(),
                gate_secs,
            },
            format!("Unfence {host}; its KeepAlived is healthy"),
            n,
        ));
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

    /// Who holds each of the cluster's VIPs, by live reports (the truth the status shows).
    async fn vip_truths(&self, now: &Now) -> Result<Vec<(String, VipTruth)>, Outcome> {
        let vips = self.store.vips(&now.cluster.id).await.map_err(transient)?;
        let presence = self.gateway.presence();
        let mut out = vec![];
        for v in vips {
            let mut claims = vec![];
            for m in now.members.iter().filter(|m| m.vip) {
                let Some(heard_ms) = presence.get(&m.node_id).copied() else {
                    continue;
                };
                claims.push(health::VipClaim {
                    hostname: m.node_id.clone(),
                    holds: self
                        .observed
                        .vips_of(&m.node_id)
                        .iter()
                        .any(|o| o.address == v.address && o.holds),
                    reported_ms: self.observed.vips_reported_at(&m.node_id),
                    heard_ms,
                    silent: self.gateway.is_silent(heard_ms),
                });
            }
            out.push((v.address, health::vip_truth(&claims)));
        }
        Ok(out)
    }

    async fn offset(&self, node_id: &str, value: i16) -> Result<(), Outcome> {
        managers::on_node(
            &self.gateway,
            &self.store,
            node_id,
            Command::VipOffset { value },
            managers::NODE_WAIT,
        )
        .await
        .map(|_| ())
        .map_err(|e| Outcome::Transient(e.message().to_owned()))
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

    /// Quorum holds without the node, a leader exists, every other member is up and active,
    /// and every service with a task on it also runs elsewhere (or is global).
    pub(super) async fn precheck(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
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
        if let Some(me_swarm) = me.swarm_node_id.as_deref() {
            for svc in &swarm.services {
                if matches!(svc.mode, ServiceMode::Global | ServiceMode::GlobalJob)
                    || svc.mode.is_job()
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

    /// Each VIP the node holds goes to a chosen target first (raised: it preempts, so the new
    /// holder answers before the old one lets go), then priorities are equal again.
    pub(super) async fn move_vips(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        let host = self.hostname(node_id).await;
        let truths = self.vip_truths(&now).await?;
        for (address, truth) in truths {
            if !truth.holders.iter().any(|h| h == node_id) {
                continue;
            }
            let target = self.vip_target(&now, node_id).await.ok_or_else(|| {
                Outcome::Gate(format!(
                    "no other healthy VIP node can take {address} from {host}"
                ))
            })?;
            let target_host = self.hostname(&target).await;
            self.offset(&target, VIP_BOOST).await?;
            let moved = self
                .wait_for(HANDOFF_WAIT, || async {
                    let now = self.now(cluster_id).await.ok()?;
                    let t = self.vip_truths(&now).await.ok()?;
                    t.iter()
                        .find(|(a, _)| *a == address)
                        .is_some_and(|(_, t)| t.holders == [target.clone()])
                        .then_some(())
                })
                .await;
            // Equal priorities again whatever happened: nothing moves by itself afterwards.
            self.offset(&target, 0).await?;
            if moved.is_none() {
                return Err(Outcome::Gate(format!(
                    "{target_host} did not take {address} over from {host} in time"
                )));
            }
            tokio::time::sleep(SETTLE).await;
        }
        Ok(())
    }

    /// A VIP node other than `node_id` that is online, active and whose KeepAlived is healthy;
    /// preferably one that runs the new firmware already.
    async fn vip_target(&self, now: &Now, node_id: &str) -> Option<String> {
        let mut best: Option<(bool, String)> = None;
        for m in now.members.iter().filter(|m| m.vip && m.node_id != node_id) {
            let online = self
                .gateway
                .is_online(&m.node_id)
                .is_some_and(|seen| !self.gateway.is_silent(seen));
            let active = now.swarm_node(m).is_some_and(|n| {
                n.availability == Availability::Active && n.state == SwarmNodeState::Ready
            });
            let states = self.observed.vips_of(&m.node_id);
            let healthy = !states.is_empty()
                && states.iter().all(|o| {
                    matches!(o.state, VrrpState::Backup | VrrpState::Master) && o.offset == 0
                });
            if !(online && active && healthy) {
                continue;
            }
            let upgraded = matches!(
                self.store
                    .node_by_id(&m.node_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|n| n.facts())
                    .map(|f| f.firmware),
                Some(FirmwareState::Committed { .. })
            );
            if best.as_ref().is_none_or(|(u, _)| upgraded && !u) {
                best = Some((upgraded, m.node_id.clone()));
            }
        }
        best.map(|(_, id)| id)
    }

    pub(super) async fn fence(&self, cluster_id: &str, node_id: &str) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        if !now.member(node_id)?.vip {
            return Ok(());
        }
        self.offset(node_id, VIP_FENCE).await?;
        let host = self.hostname(node_id).await;
        self.wait_for(HANDOFF_WAIT, || async {
            let states = self.observed.vips_of(node_id);
            (!states.is_empty()
                && states
                    .iter()
                    .all(|o| o.state == VrrpState::Fault && !o.holds))
            .then_some(())
        })
        .await
        .ok_or_else(|| Outcome::Gate(format!("{host}'s KeepAlived did not go to FAULT")))
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

    /// Priorities equal again; waits until the node's KeepAlived is healthy (its track script
    /// passes: the services it checks answer on the node) and every VIP has one live holder.
    pub(super) async fn unfence(
        &self,
        cluster_id: &str,
        node_id: &str,
        gate_secs: u32,
    ) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        if !now.member(node_id)?.vip {
            return Ok(());
        }
        self.offset(node_id, 0).await?;
        let host = self.hostname(node_id).await;
        self.wait_for(Duration::from_secs(u64::from(gate_secs)), || async {
            let states = self.observed.vips_of(node_id);
            let healthy = !states.is_empty()
                && states.iter().all(|o| {
                    o.offset == 0 && matches!(o.state, VrrpState::Backup | VrrpState::Master)
                });
            let now = self.now(cluster_id).await.ok()?;
            let owned = self
                .vip_truths(&now)
                .await
                .ok()?
                .iter()
                .all(|(_, t)| t.holders.len() == 1);
            (healthy && owned).then_some(())
        })
        .await
        .ok_or_else(|| {
            Outcome::Gate(format!(
                "{host}'s KeepAlived is not healthy within {gate_secs} s (its health check fails)"
            ))
        })
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

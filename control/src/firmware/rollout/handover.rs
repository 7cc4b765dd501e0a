//! The VIPs of a node under upgrade: handed over make-before-break to a chosen target (raised,
//! it preempts the holder), the node fenced from VRRP while it is away, and unfenced once back
//! (its KeepAlived healthy, every VIP with one live holder). Part of the rollout's sequence
//! (see the parent module).
use std::time::Duration;

use domain::firmware::FirmwareState;
use domain::health::{self, VipTruth};
use domain::protocol::{Command, VIP_BOOST, VIP_FENCE, VrrpState};
use domain::swarm::{Availability, SwarmNodeState};

use super::{Now, transient};
use crate::clusters::managers;
use crate::firmware::upgrade::UpgradeSteps;
use crate::workflow::Outcome;

/// A VIP hand-off takes about 3 advertisement intervals; this is the bound for any interval.
const HANDOFF_WAIT: Duration = Duration::from_secs(20);
/// Requests already on the old holder finish meanwhile.
const SETTLE: Duration = Duration::from_secs(2);

impl UpgradeSteps {
    /// Who holds each of the cluster's VIPs (node ids), by live reports: the truth the status
    /// shows, weighed over the VIP members.
    pub(super) async fn vip_truths(&self, now: &Now) -> Result<Vec<(String, VipTruth)>, Outcome> {
        let vips = self.store.vips(&now.cluster.id).await.map_err(transient)?;
        Ok(vips
            .into_iter()
            .map(|v| {
                let claims: Vec<health::VipClaim> = now
                    .members
                    .iter()
                    .filter(|m| m.vip)
                    .filter_map(|m| {
                        self.gateway
                            .vip_claim(&m.node_id, m.node_id.clone(), &v.address)
                    })
                    .collect();
                (v.address, health::vip_truth(&claims))
            })
            .collect())
    }

    pub(super) async fn offset(&self, node_id: &str, value: i16) -> Result<(), Outcome> {
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

    /// Each VIP the node holds goes to a chosen target first (raised: it preempts, so the new
    /// holder answers before the old one lets go), then priorities are equal again.
    pub(in crate::firmware) async fn move_vips(
        &self,
        cluster_id: &str,
        node_id: &str,
    ) -> Result<(), Outcome> {
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

    /// Whether the node takes part in VRRP: a VIP member of a cluster that has VIPs (without
    /// any, KeepAlived does not run and there is nothing to fence).
    async fn in_vrrp(&self, now: &Now, node_id: &str) -> Result<bool, Outcome> {
        if !now.member(node_id)?.vip {
            return Ok(false);
        }
        let vips = self.store.vips(&now.cluster.id).await.map_err(transient)?;
        Ok(!vips.is_empty())
    }

    pub(in crate::firmware) async fn fence(
        &self,
        cluster_id: &str,
        node_id: &str,
    ) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        if !self.in_vrrp(&now, node_id).await? {
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

    /// Priorities equal again; waits until the node's KeepAlived is healthy (its track script
    /// passes: the services it checks answer on the node) and every VIP has one live holder.
    pub(in crate::firmware) async fn unfence(
        &self,
        cluster_id: &str,
        node_id: &str,
        gate_secs: u32,
    ) -> Result<(), Outcome> {
        let now = self.now(cluster_id).await?;
        if !self.in_vrrp(&now, node_id).await? {
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
}

//! The async volume's failover, decided by the panel (the one party both nodes report to):
//! every [`CHECK_EVERY`] each two-node cluster with an async volume is looked at.
//! * The primary out of reach (disconnected, or connected but silent) for [`PROMOTE_AFTER`]
//!   while the standby is connected and holds a complete snapshot of the current epoch: the
//!   standby takes over (a `promote-volume` workflow: a new epoch, its newest complete snapshot
//!   live, the primary's label moved so that Swarm starts the services on the volume there).
//!   The old primary stops its tasks on the volume by itself first: it reaches neither the panel
//!   nor the standby (its agent's fence, `agent/src/storage/fence.rs`).
//! * A member that reports itself primary of an older epoch (the old primary, back): it becomes
//!   the standby (a `demote-volume` workflow), keeping what it wrote alone as a conflict
//!   snapshot.
//!
//! Nothing is decided while one of the cluster's workflows runs. With panel replicas, only the
//! replica holding the standby's session (for a promotion) or the old primary's (for a
//! demotion) decides.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::standby::{StandbyFacts, StandbyRole};
use domain::workflow::{WorkflowKind, WorkflowStatus};

use super::plans;
use crate::ControlError;
use crate::clusters::plans::PlanMember;
use crate::error::chain;
use crate::gateway::Gateway;
use crate::store::{MemberRow, StandbyRow, Store};
use crate::workflow::Engine;

/// How often the async volumes are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long the primary must have been out of reach before the standby takes over: its agent
/// fences itself after 3 s without the panel and the standby, and the panel only calls an agent
/// silent after three missed heartbeats, so the old writer is stopped well before.
pub const PROMOTE_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Failover {
    store: Store,
    gateway: Gateway,
    engine: Engine,
    /// Since when each cluster's primary is out of reach (as this panel process saw it).
    out_since: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Failover {
    pub fn new(store: Store, gateway: Gateway, engine: Engine) -> Self {
        Self {
            store,
            gateway,
            engine,
            out_since: Arc::default(),
        }
    }

    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let rows = match this.store.standbys().await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!(error = %chain(&e), "async volume failover check failed");
                        continue;
                    }
                };
                for row in rows {
                    if let Err(e) = this.check(&row).await {
                        tracing::error!(cluster = %row.cluster_id, error = %chain(&e), "async volume failover check failed");
                    }
                }
            }
        })
    }

    fn live(&self, node_id: &str) -> bool {
        self.gateway
            .is_online(node_id)
            .is_some_and(|seen| !self.gateway.is_silent(seen))
    }

    /// The node's async volume as it reported it last: its heartbeat's when current (three
    /// heartbeats), else its stored facts'.
    async fn reported(&self, node_id: &str) -> Result<Option<StandbyFacts>, ControlError> {
        let since = self.gateway.current_since();
        if let Some(beat) = self.gateway.observed().volume_of(node_id, since) {
            return Ok(beat.standby);
        }
        Ok(self
            .store
            .node_by_id(node_id)
            .await?
            .and_then(|n| n.facts())
            .and_then(|f| f.storage.standby))
    }

    /// Since when the cluster's primary is out of reach; `None` while it is reachable.
    fn out_of_reach(&self, cluster_id: &str, out: bool) -> Option<Duration> {
        let mut since = self.out_since.lock().unwrap_or_else(|p| p.into_inner());
        if out {
            Some(
                since
                    .entry(cluster_id.to_owned())
                    .or_insert_with(Instant::now)
                    .elapsed(),
            )
        } else {
            since.remove(cluster_id);
            None
        }
    }

    async fn check(&self, row: &StandbyRow) -> Result<(), ControlError> {
        let members = self.store.members(&row.cluster_id).await?;
        let [a, b] = members.as_slice() else {
            return Ok(());
        };
        let running = self
            .store
            .workflows_of(&row.cluster_id, 1)
            .await?
            .first()
            .is_some_and(|w| w.status == WorkflowStatus::Running);
        if running {
            return Ok(());
        }
        let (primary, standby) = if a.node_id == row.primary_node_id {
            (a, b)
        } else {
            (b, a)
        };
        // The old primary, back: it still says it is the primary, of an older epoch.
        if self.gateway.holds(&standby.node_id) && self.live(&standby.node_id) {
            let returned = self
                .reported(&standby.node_id)
                .await?
                .is_some_and(|f| f.role == StandbyRole::Primary && f.epoch < row.epoch);
            if returned {
                let name = self.hostname(standby).await?;
                let plan = plans::demote(&plan_member(standby, &name));
                return self.start(row, WorkflowKind::DemoteVolume, plan).await;
            }
        }
        let Some(out_for) = self.out_of_reach(&row.cluster_id, !self.live(&primary.node_id)) else {
            return Ok(());
        };
        if out_for < PROMOTE_AFTER
            || !self.gateway.holds(&standby.node_id)
            || !self.live(&standby.node_id)
        {
            return Ok(());
        }
        // Only a standby of this epoch with a complete snapshot can take over.
        let ready = self.reported(&standby.node_id).await?.is_some_and(|f| {
            f.role == StandbyRole::Standby && f.epoch == row.epoch && f.synced_at_ms.is_some()
        });
        if !ready {
            return Ok(());
        }
        let (standby_name, primary_name) =
            (self.hostname(standby).await?, self.hostname(primary).await?);
        let plan = plans::promote(
            &plan_member(standby, &standby_name),
            &plan_member(primary, &primary_name),
        );
        self.out_of_reach(&row.cluster_id, false);
        self.start(row, WorkflowKind::PromoteVolume, plan).await
    }

    async fn hostname(&self, m: &MemberRow) -> Result<String, ControlError> {
        Ok(self
            .store
            .node_by_id(&m.node_id)
            .await?
            .map_or_else(|| m.node_id.clone(), |n| n.hostname))
    }

    async fn start(
        &self,
        row: &StandbyRow,
        kind: WorkflowKind,
        plan: Vec<crate::workflow::Planned<crate::clusters::plans::ClusterStep>>,
    ) -> Result<(), ControlError> {
        tracing::warn!(cluster = %row.cluster_id, epoch = row.epoch, kind = kind.as_str(), "async volume failover");
        let workflow = crate::clusters::plans::workflow(&row.cluster_id, kind, &plan)?;
        self.store.add_workflow(&workflow).await?;
        self.engine.spawn(workflow.id);
        Ok(())
    }
}

fn plan_member<'a>(m: &'a MemberRow, hostname: &'a str) -> PlanMember<'a> {
    PlanMember {
        node_id: &m.node_id,
        hostname,
        role: m.role,
        has_labels: !m.labels.is_empty(),
        vip: m.vip,
    }
}

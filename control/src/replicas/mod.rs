//! Panel replicas: several panel processes on one PostgreSQL serve the same UI and accept agents.
//! (SQLite serves one process; there is no [`Replicas`] then.)
//!
//! Each replica holds the sessions of the agents connected to it and shares, through the
//! database, what the others need:
//! * **Presence**: `node_presence` says which replica holds each session (written on connect,
//!   disconnect and silent/audible transitions); every replica mirrors the rows of the live
//!   others ([`mirror`]), so a node is online wherever a browser looks. A replica beats every
//!   [`BEAT_EVERY`]; one silent for [`DEAD_AFTER`] is dead, and its nodes are offline until
//!   their agents reconnect (to another replica: they take several panel URLs).
//! * **Observations** (swarm reports, VIP states) in `node_observed`, for cluster status and
//!   rollouts driven on another replica.
//! * **Commands** for an agent held elsewhere ([`commands`]).
//! * **Browser events**: what one publishes, every replica's browsers get.
//!
//! Wake-ups travel by PostgreSQL `LISTEN`/`NOTIFY` (one bus channel for all, one channel per
//! replica for its commands and answers); the data stays in tables, as a notification's payload
//! is at most 8 kB and is lost when nobody listens. A replica whose listening connection drops
//! re-reads what it may have missed when it is back. Notifications rather than a table polled
//! with `FOR UPDATE SKIP LOCKED`: a command reaches the other replica within milliseconds and
//! idle replicas do not query the database several times a second to find out nothing happened.
//! Workflows need none of this: the engine's lease in the database already makes exactly one
//! replica drive each one.
mod commands;
mod listener;
mod mirror;
mod relay;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::event::UiEvent;
use domain::protocol::VipObservation;
use domain::swarm::SwarmSnapshot;
use tokio::sync::{Notify, mpsc};

use crate::ControlError;
use crate::events::Events;
use crate::gateway::{Gateway, Observed};
use crate::secret::now_ms;
use crate::store::{SharedWrite, Store};
use crate::vault::Vault;
use mirror::Mirror;
use relay::{Bus, Out};

/// How often a replica says it is alive and re-reads the others' sessions.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);
/// A replica that has not beaten for this long is dead: its sessions no longer count.
pub const DEAD_AFTER: Duration = Duration::from_secs(10);
/// A dead replica's rows (and commands nobody took) are deleted after this long.
const REAP_AFTER: Duration = Duration::from_secs(60);
/// The channel every replica listens to.
const BUS: &str = "flotilla_bus";

/// The channel of replica `id` (commands for its agents, answers for its callers).
fn channel(id: &str) -> String {
    format!("flotilla_{id}")
}

#[derive(Clone)]
pub struct Replicas {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    store: Store,
    vault: Vault,
    database_url: String,
    outbox: mpsc::UnboundedSender<Out>,
    queued: Mutex<Option<mpsc::UnboundedReceiver<Out>>>,
    mirror: Mutex<Mirror>,
    waiting: Mutex<commands::Waiting>,
    /// Another replica's sessions changed: refresh the mirror now.
    stale: Notify,
    /// The relay, beat and listener tasks (stopped by [`Replicas::leave`]).
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Replicas {
    /// This process as one replica of the panel on `store`, registered at once; `None` on
    /// SQLite (one process).
    pub async fn join(
        store: &Store,
        vault: &Vault,
        database_url: &str,
    ) -> Result<Option<Replicas>, ControlError> {
        if store.single_process() {
            return Ok(None);
        }
        let id = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..15]);
        store.beat_replica(&id, now_ms()).await?;
        let (outbox, queued) = mpsc::unbounded_channel();
        tracing::info!(replica = %id, "joined the panel's replicas");
        Ok(Some(Replicas {
            inner: Arc::new(Inner {
                id,
                store: store.clone(),
                vault: vault.clone(),
                database_url: database_url.to_owned(),
                outbox,
                queued: Mutex::new(Some(queued)),
                mirror: Mutex::default(),
                waiting: Mutex::default(),
                stale: Notify::new(),
                tasks: Mutex::default(),
            }),
        }))
    }

    /// This replica's name (in logs and in the database).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Starts relaying changes and browser events, beating, and listening to the others.
    pub fn start(&self, gateway: &Gateway, observed: &Observed, events: &Events) {
        let outbox = self.inner.outbox.clone();
        events.relay_to(move |e| {
            let _ = outbox.send(Out::Ui(e.clone()));
        });
        let queued = self
            .inner
            .queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut tasks = Vec::new();
        if let Some(queued) = queued {
            tasks.push(tokio::spawn(self.clone().relay(queued)));
        }
        tasks.push(tokio::spawn(self.clone().beat(
            gateway.clone(),
            observed.clone(),
            events.clone(),
        )));
        tasks.push(tokio::spawn(self.clone().listen(
            gateway.clone(),
            observed.clone(),
            events.clone(),
        )));
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks);
    }

    /// Stops beating, relaying and listening and leaves every row behind, as a killed process
    /// does (tests of what the other replicas make of it).
    #[cfg(feature = "testing")]
    pub fn halt(&self) {
        self.stop_tasks();
    }

    fn stop_tasks(&self) {
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Graceful shutdown: stops sharing, and the others see this replica's nodes offline at
    /// once.
    pub async fn leave(&self) {
        self.stop_tasks();
        let bus = serde_json::to_string(&Bus {
            from: self.inner.id.clone(),
            left: true,
            ..Bus::default()
        })
        .unwrap_or_default();
        if let Err(e) = self
            .inner
            .store
            .leave_replica(&self.inner.id, (BUS, &bus))
            .await
        {
            tracing::error!(error = %crate::error::chain(&e), "could not leave the replicas");
        }
    }

    // --- what the gateway shares about the sessions it holds ---

    pub(crate) fn present(&self, node_id: &str, conn: u64) {
        self.share(SharedWrite::Present {
            node_id: node_id.to_owned(),
            conn: conn as i64,
            at: now_ms(),
        });
    }

    pub(crate) fn gone(&self, node_id: &str, conn: u64) {
        self.share(SharedWrite::Gone {
            node_id: node_id.to_owned(),
            conn: conn as i64,
        });
    }

    pub(crate) fn silent(&self, node_id: &str, conn: u64, silent: bool, last_seen_ms: i64) {
        self.share(SharedWrite::Silent {
            node_id: node_id.to_owned(),
            conn: conn as i64,
            silent,
            at: last_seen_ms,
        });
    }

    pub(crate) fn swarm(&self, node_id: &str, snapshot: &SwarmSnapshot) {
        if let Ok(json) = serde_json::to_string(snapshot) {
            self.share(SharedWrite::Swarm {
                node_id: node_id.to_owned(),
                json,
            });
        }
    }

    pub(crate) fn vips(&self, node_id: &str, vips: &[VipObservation]) {
        if let Ok(json) = serde_json::to_string(vips) {
            self.share(SharedWrite::Vips {
                node_id: node_id.to_owned(),
                json,
                at: now_ms(),
            });
        }
    }

    fn share(&self, write: SharedWrite) {
        let _ = self.inner.outbox.send(Out::Shared(write));
    }

    // --- what the gateway asks about the others' sessions ---

    /// When a node another replica holds was last heard of (see [`Mirror::heard`]).
    pub(crate) fn heard(&self, node_id: &str) -> Option<i64> {
        self.lock_mirror().heard(node_id, now_ms())
    }

    /// Every node other replicas hold, with [`Replicas::heard`]'s time.
    pub(crate) fn all_heard(&self) -> Vec<(String, i64)> {
        let now = now_ms();
        self.lock_mirror()
            .all_heard(now)
            .map(|(id, at)| (id.clone(), at))
            .collect()
    }

    // --- the tasks ---

    /// Writes what is queued, a batch at a time, with its notifications.
    async fn relay(self, mut queued: mpsc::UnboundedReceiver<Out>) {
        let mut batch = Vec::new();
        while queued.recv_many(&mut batch, relay::BATCH_MAX).await > 0 {
            let (writes, notices) = relay::plan(&self.inner.id, std::mem::take(&mut batch));
            let notices: Vec<(String, String)> =
                notices.into_iter().map(|p| (BUS.to_owned(), p)).collect();
            // A failed write is tried again once the database answers: what the others must
            // know would otherwise stay wrong until the node reconnects.
            let mut delay = Duration::from_millis(200);
            while let Err(e) = self
                .inner
                .store
                .write_shared(&self.inner.id, &writes, &notices)
                .await
            {
                tracing::warn!(error = %crate::error::chain(&e), "could not share session changes; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }

    /// Beats, re-reads the others' sessions (every beat and when told they changed) and
    /// forgets replicas dead for long.
    async fn beat(self, gateway: Gateway, observed: Observed, events: Events) {
        let mut tick = tokio::time::interval(BEAT_EVERY);
        let mut beats: u64 = 0;
        loop {
            let beat = tokio::select! {
                _ = tick.tick() => true,
                _ = self.inner.stale.notified() => false,
            };
            let store = &self.inner.store;
            if beat {
                beats += 1;
                if let Err(e) = store.beat_replica(&self.inner.id, now_ms()).await {
                    tracing::warn!(error = %crate::error::chain(&e), "replica beat failed");
                }
                if beats.is_multiple_of(REAP_AFTER.as_secs() / BEAT_EVERY.as_secs())
                    && let Err(e) = store
                        .reap_replicas(now_ms() - REAP_AFTER.as_millis() as i64)
                        .await
                {
                    tracing::warn!(error = %crate::error::chain(&e), "could not forget dead replicas");
                }
            }
            self.refresh(&gateway, &observed, &events).await;
        }
    }

    /// Re-reads which nodes the other live replicas hold; browsers hear of every change.
    async fn refresh(&self, gateway: &Gateway, observed: &Observed, events: &Events) {
        let alive_since = now_ms() - DEAD_AFTER.as_millis() as i64;
        match self
            .inner
            .store
            .remote_presence(&self.inner.id, alive_since)
            .await
        {
            Ok(rows) => {
                let changes = self.lock_mirror().replace(rows);
                self.tell(changes, gateway, observed, events);
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not read the other replicas' sessions");
            }
        }
    }

    /// Re-reads the sessions of nodes `ids` only (another replica said they changed).
    async fn refresh_nodes(
        &self,
        ids: &[String],
        gateway: &Gateway,
        observed: &Observed,
        events: &Events,
    ) {
        let alive_since = now_ms() - DEAD_AFTER.as_millis() as i64;
        match self
            .inner
            .store
            .remote_presence_of(&self.inner.id, alive_since, ids)
            .await
        {
            Ok(rows) => {
                let changes = self.lock_mirror().apply(ids, rows);
                self.tell(changes, gateway, observed, events);
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not read the other replicas' sessions");
            }
        }
    }

    /// Forgets what gone nodes observed (unless their session is here now) and tells browsers.
    fn tell(
        &self,
        changes: mirror::Changes,
        gateway: &Gateway,
        observed: &Observed,
        events: &Events,
    ) {
        for id in &changes.gone {
            if !gateway.holds(id) {
                observed.forget_node(id);
            }
        }
        if !changes.changed.is_empty() {
            for id in changes.changed {
                events.publish_here(UiEvent::Node { id });
            }
            events.publish_here(UiEvent::Cluster { id: String::new() });
        }
    }

    /// Loads what a node another replica holds observes (all of them when `None`): only rows
    /// written by the replica that holds the node's session now (a row of one it left, or of a
    /// node held here now, is stale).
    async fn load_observed(&self, gateway: &Gateway, observed: &Observed, node: Option<&str>) {
        let rows = match self.inner.store.remote_observed(&self.inner.id, node).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not read the other replicas' observations");
                return;
            }
        };
        for row in rows {
            let current = !gateway.holds(&row.node_id)
                && self.lock_mirror().holder(&row.node_id) == Some(row.replica.as_str());
            if !current {
                continue;
            }
            if let Some(swarm) = row
                .swarm
                .as_deref()
                .and_then(|j| serde_json::from_str::<SwarmSnapshot>(j).ok())
            {
                observed.set_swarm(&row.node_id, swarm);
            }
            if let Some(vips) = row
                .vips
                .as_deref()
                .and_then(|j| serde_json::from_str::<Vec<VipObservation>>(j).ok())
            {
                observed.set_vips_at(&row.node_id, row.vips_at, vips);
            }
        }
    }

    fn lock_mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.inner.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, commands::Waiting> {
        self.inner.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

//! Presence: which nodes are connected (here or on another panel replica) and when each was
//! last heard of, the sweep that closes silent sessions, shutdown, and the batched last-seen
//! flush (the heartbeat path never writes to the database).
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use domain::event::UiEvent;

use super::{
    FLUSH_EVERY, Gateway, KICK_REVOKED, KICK_SHUTDOWN, KICK_SILENT, Live, MISSED_HEARTBEATS,
};
use crate::ControlError;
use crate::secret::now_ms;

impl Gateway {
    /// Last frame time of every connected node, here or on another replica.
    pub fn presence(&self) -> HashMap<String, i64> {
        let mut all = self.local_presence();
        if let Some(r) = &self.replicas {
            for (id, heard) in r.all_heard() {
                all.entry(id).or_insert(heard);
            }
        }
        all
    }

    /// How many nodes are connected and not silent, here or on another replica (without
    /// copying this process's sessions).
    pub fn online_count(&self) -> u64 {
        let remote = self
            .replicas
            .as_ref()
            .map(|r| r.all_heard())
            .unwrap_or_default();
        let live = self.lock_live();
        let here = live
            .values()
            .filter(|l| !self.is_silent(l.last_seen_ms.load(Ordering::Relaxed)))
            .count();
        let there = remote
            .iter()
            .filter(|(id, heard)| !live.contains_key(id) && !self.is_silent(*heard))
            .count();
        (here + there) as u64
    }

    /// Last frame time of every node whose session this process holds.
    fn local_presence(&self) -> HashMap<String, i64> {
        self.lock_live()
            .iter()
            .map(|(id, l)| (id.clone(), l.last_seen_ms.load(Ordering::Relaxed)))
            .collect()
    }

    /// Whether this process holds the node's session.
    pub fn holds(&self, node_id: &str) -> bool {
        self.lock_live().contains_key(node_id)
    }

    /// Whether a connected node's heartbeat is overdue (see [`domain::health::silent_after_ms`]).
    pub fn is_silent(&self, last_seen_ms: i64) -> bool {
        now_ms() - last_seen_ms > domain::health::silent_after_ms(self.heartbeat.as_millis() as i64)
    }

    /// What `node_id` says of VIP `address` now, under `name` — `None` when it is not
    /// connected. The cluster status and a rollout's hand-offs weigh these claims alike
    /// ([`domain::health::vip_truth`]).
    pub fn vip_claim(
        &self,
        node_id: &str,
        name: String,
        address: &str,
    ) -> Option<domain::health::VipClaim> {
        let heard_ms = self.is_online(node_id)?;
        Some(domain::health::VipClaim {
            name,
            holds: self
                .observed
                .vips_of(node_id)
                .iter()
                .any(|o| o.address == address && o.holds),
            reported_ms: self.observed.vips_reported_at(node_id),
            heard_ms,
            silent: self.is_silent(heard_ms),
        })
    }

    /// When a connected node was last heard of (here or on another replica); `None` offline.
    pub fn is_online(&self, node_id: &str) -> Option<i64> {
        let here = self
            .lock_live()
            .get(node_id)
            .map(|l| l.last_seen_ms.load(Ordering::Relaxed));
        here.or_else(|| self.replicas.as_ref().and_then(|r| r.heard(node_id)))
    }

    /// Closes sessions that missed [`MISSED_HEARTBEATS`] heartbeats, and tells browsers about
    /// nodes that turned silent or spoke again; returns how many sessions it closed.
    pub fn sweep(&self) -> usize {
        let deadline = now_ms() - (self.heartbeat * MISSED_HEARTBEATS).as_millis() as i64;
        let live = self.lock_live();
        for (node_id, l) in live.iter() {
            let seen = l.last_seen_ms.load(Ordering::Relaxed);
            let silent = self.is_silent(seen);
            if l.silent.swap(silent, Ordering::Relaxed) != silent {
                tracing::info!(node = %node_id, silent, "node heartbeat");
                if let Some(r) = &self.replicas {
                    r.silent(node_id, l.conn_id, silent, seen);
                }
                self.events.publish(UiEvent::Node {
                    id: node_id.clone(),
                });
            }
        }
        let silent: Vec<&Live> = live
            .values()
            .filter(|l| l.last_seen_ms.load(Ordering::Relaxed) < deadline)
            .collect();
        for l in &silent {
            l.kick(KICK_SILENT);
        }
        silent.len()
    }

    /// Ends the node's session now (removed, re-enrolled or its token revoked); a new
    /// connection with a token that is no longer valid is refused.
    pub fn disconnect(&self, node_id: &str) {
        if let Some(l) = self.lock_live().get(node_id) {
            l.kick(KICK_REVOKED);
        }
    }

    /// Ends every session (graceful shutdown); agents reconnect with backoff.
    pub fn close_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for l in self.lock_live().values() {
            l.kick(KICK_SHUTDOWN);
        }
    }

    /// Waits until every session has ended (after [`Gateway::close_all`]), at most `limit`;
    /// answers how many are still running.
    pub async fn sessions_ended(&self, limit: Duration) -> usize {
        let mut count = self.sessions.subscribe();
        let _ = tokio::time::timeout(limit, count.wait_for(|n| *n == 0)).await;
        *count.borrow()
    }

    /// Writes the last-seen time of every connected node, and of every session that ended
    /// during shutdown, in one transaction.
    pub async fn flush(&self) -> Result<(), ControlError> {
        let mut seen: Vec<(String, i64)> =
            std::mem::take(&mut *self.ended.lock().unwrap_or_else(|p| p.into_inner()));
        seen.extend(self.local_presence());
        self.store.save_last_seen(&seen).await
    }

    /// Sweeps every second and flushes last-seen times every [`FLUSH_EVERY`], until dropped.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let flush_every = FLUSH_EVERY.as_secs().max(1);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                gw.sweep();
                if n.is_multiple_of(flush_every)
                    && let Err(e) = gw.flush().await
                {
                    tracing::error!(error = %crate::error::chain(&e), "last-seen flush failed");
                }
            }
        })
    }
}

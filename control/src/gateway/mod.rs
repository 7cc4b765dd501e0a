//! Agent sessions: authentication, the per-connection loop, presence and command dispatch.
//!
//! The gateway is transport-agnostic: the server adapts its WebSocket into a stream of
//! [`Inbound`] frames and a sink of text frames, so tests can drive a session with channels.
//!
//! Presence lives in memory. A heartbeat only stores a timestamp in an atomic; the database sees
//! facts (on hello and when they change), the disconnect time, and a batched last-seen flush every
//! [`FLUSH_EVERY`], so the heartbeat path never writes to the database.
//!
//! With panel replicas ([`crate::replicas`]) a node may be held by another replica: presence
//! queries include the nodes the others hold, and a command for one goes through its replica.
//!
//! An agent speaks only for its own node: its facts must carry the machine id it enrolled with
//! and are capped in size, its observations are kept per node (one swarm report, a bounded list
//! of VIPs) and read only where that node is entitled to report, it can answer only commands sent
//! to it, and facts/swarm/VIP frames are rate-limited per connection ([`FrameBudget`]).
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::event::UiEvent;
use domain::node::NodeFacts;
use domain::protocol::{self, AgentMessage, Envelope, MAX_REPORTED_VIPS, PanelMessage, Welcome};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{Notify, mpsc, watch};

mod budget;
mod commands;
mod observed;
mod presence;

pub use budget::{FrameBudget, Overrun};
use commands::Pending;
pub use observed::Observed;

use crate::ControlError;
use crate::events::Events;
use crate::replicas::Replicas;
use crate::secret::{self, now_ms};
use crate::store::{AgentIdentity, Store};

/// How long a new connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A node is offline after this many heartbeat periods without a frame.
pub const MISSED_HEARTBEATS: u32 = 3;
/// How often live last-seen times are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// One frame from the agent, as the transport saw it.
#[derive(Debug)]
pub enum Inbound {
    Text(String),
    /// Binary frames are not part of the protocol.
    Binary,
}

/// Why a session ended; the transport sends it as the WebSocket close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

impl Close {
    const NORMAL: Close = Close {
        code: 1000,
        reason: "bye",
    };
    const REPLACED: Close = Close {
        code: 1000,
        reason: "replaced by a newer connection",
    };
    const SILENT: Close = Close {
        code: 1001,
        reason: "missed heartbeats",
    };
    const MALFORMED: Close = Close {
        code: 1008,
        reason: "malformed frame",
    };
    const NO_HELLO: Close = Close {
        code: 1008,
        reason: "expected hello first",
    };
    const INTERNAL: Close = Close {
        code: 1011,
        reason: "panel error",
    };
    const RESTARTING: Close = Close {
        code: 1012,
        reason: "panel restarting",
    };
    const REVOKED: Close = Close {
        code: 1008,
        reason: "node removed, re-enrolled or its token revoked",
    };
    const WRONG_MACHINE: Close = Close {
        code: 1008,
        reason: "facts name another machine than the one this node enrolled from",
    };
    const FLOODING: Close = Close {
        code: 1008,
        reason: "too many frames",
    };
}

const KICK_REPLACED: u8 = 1;
const KICK_SILENT: u8 = 2;
const KICK_SHUTDOWN: u8 = 3;
const KICK_REVOKED: u8 = 4;

struct Live {
    conn_id: u64,
    last_seen_ms: Arc<AtomicI64>,
    tx: mpsc::Sender<String>,
    kick: Arc<Notify>,
    kick_reason: Arc<AtomicU8>,
    /// Its heartbeat was overdue at the last sweep (browsers were told when this changed).
    silent: AtomicBool,
}

impl Live {
    fn kick(&self, reason: u8) {
        self.kick_reason.store(reason, Ordering::Relaxed);
        self.kick.notify_one();
    }
}

/// What one established connection carries along.
struct Session<'a> {
    agent: &'a AgentIdentity,
    last_seen: &'a AtomicI64,
    budget: FrameBudget,
}

#[derive(Clone)]
pub struct Gateway {
    store: Store,
    events: Events,
    observed: Observed,
    heartbeat: Duration,
    live: Arc<Mutex<HashMap<String, Live>>>,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    next_conn: Arc<AtomicU64>,
    /// Frames dropped by [`FrameBudget`]s or for exceeding bounds, since start.
    dropped: Arc<AtomicU64>,
    /// Sessions past their hello (registered, not yet unregistered).
    sessions: Arc<watch::Sender<usize>>,
    /// Set by [`Gateway::close_all`]: ending sessions leave their last-seen time for the final
    /// [`Gateway::flush`] (one transaction) instead of writing it each.
    closing: Arc<AtomicBool>,
    ended: Arc<Mutex<Vec<(String, i64)>>>,
    /// The other panel processes on the same PostgreSQL, if any.
    replicas: Option<Replicas>,
}

impl Gateway {
    pub fn new(
        store: Store,
        events: Events,
        observed: Observed,
        heartbeat: Duration,
        replicas: Option<Replicas>,
    ) -> Self {
        Self {
            store,
            events,
            observed,
            heartbeat,
            live: Arc::default(),
            pending: Arc::default(),
            next_conn: Arc::new(AtomicU64::new(1)),
            dropped: Arc::default(),
            sessions: Arc::new(watch::Sender::new(0)),
            closing: Arc::default(),
            ended: Arc::default(),
            replicas,
        }
    }

    /// How many agent frames were dropped (rate limit or bounds) since the panel started.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The time (Unix ms) after which a report is current: three heartbeats ago.
    pub fn current_since(&self) -> i64 {
        let heartbeat = i64::try_from(self.heartbeat.as_millis()).unwrap_or(i64::MAX / 4);
        now_ms() - 3 * heartbeat
    }

    /// What the connected agents observe (shared with the capabilities that read it).
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// The node behind a bearer token; unknown or revoked tokens are refused and logged.
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        peer: &str,
    ) -> Result<AgentIdentity, ControlError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256);
        let found = match token {
            Some(t) => self.store.agent_by_token(&secret::hash(t)).await?,
            None => None,
        };
        found.ok_or_else(|| {
            tracing::warn!(
                peer,
                presented = token.is_some(),
                "agent connection refused: unknown or revoked node token"
            );
            ControlError::Unauthenticated
        })
    }

    /// Runs one agent connection until it ends, and says why it ended.
    pub async fn serve<I, O>(&self, agent: AgentIdentity, mut incoming: I, mut outgoing: O) -> Close
    where
        I: Stream<Item = Inbound> + Unpin,
        O: Sink<String> + Unpin,
    {
        let node_id = agent.node_id.clone();
        let mut facts = match tokio::time::timeout(HELLO_TIMEOUT, incoming.next()).await {
            Err(_) => return Close::NO_HELLO,
            Ok(None) => return Close::NORMAL,
            Ok(Some(frame)) => match decode(&node_id, frame) {
                Ok(Envelope {
                    msg: AgentMessage::Hello(facts),
                    ..
                }) => facts,
                Ok(_) => return Close::NO_HELLO,
                Err(close) => return close,
            },
        };
        if let Err(close) = self.accept_facts(&agent, &mut facts).await {
            return close;
        }
        let (conn_id, last_seen, mut rx, kick, kick_reason) = self.register(&node_id);
        tracing::info!(node = %node_id, hostname = %facts.hostname, conn = conn_id, "agent connected");
        let welcome = Envelope::new(
            "welcome",
            PanelMessage::Welcome(Welcome {
                node_id: node_id.clone(),
                heartbeat_secs: self.heartbeat.as_secs().max(1) as u32,
            }),
        );
        let close = if outgoing.send(welcome.encode()).await.is_err() {
            Close::NORMAL
        } else {
            self.events.publish(UiEvent::Node {
                id: node_id.clone(),
            });
            let mut session = Session {
                agent: &agent,
                last_seen: &last_seen,
                budget: FrameBudget::new(now_ms()),
            };
            self.session_loop(
                &mut session,
                &mut incoming,
                &mut outgoing,
                &mut rx,
                &kick,
                &kick_reason,
            )
            .await
        };
        self.unregister(&node_id, conn_id, last_seen.load(Ordering::Relaxed))
            .await;
        tracing::info!(node = %node_id, conn = conn_id, reason = close.reason, "agent disconnected");
        close
    }

    /// Caps the facts, checks that they come from the machine the node enrolled from, and stores
    /// them.
    async fn accept_facts(
        &self,
        agent: &AgentIdentity,
        facts: &mut NodeFacts,
    ) -> Result<(), Close> {
        if facts.cap() {
            tracing::warn!(node = %agent.node_id, "facts over the size limits were cut");
        }
        if facts.machine_id.trim() != agent.machine_id {
            tracing::warn!(
                node = %agent.node_id,
                reported = %facts.machine_id,
                "facts name another machine; closing this connection"
            );
            return Err(Close::WRONG_MACHINE);
        }
        if let Err(e) = self.store.save_facts(&agent.node_id, facts, now_ms()).await {
            tracing::error!(node = %agent.node_id, error = %crate::error::chain(&e), "could not store facts");
            return Err(Close::INTERNAL);
        }
        Ok(())
    }

    /// Whether a facts/swarm/VIP frame may pass the connection's budget; counts what does not.
    fn within_budget(&self, session: &mut Session<'_>, what: &str) -> Result<bool, Close> {
        match session.budget.take(now_ms()) {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %session.agent.node_id, what, "frame over the rate limit dropped");
                Ok(false)
            }
            Err(Overrun) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(node = %session.agent.node_id, "agent keeps exceeding its frame budget; closing");
                Err(Close::FLOODING)
            }
        }
    }

    async fn session_loop<I, O>(
        &self,
        session: &mut Session<'_>,
        incoming: &mut I,
        outgoing: &mut O,
        rx: &mut mpsc::Receiver<String>,
        kick: &Notify,
        kick_reason: &AtomicU8,
    ) -> Close
    where
        I: Stream<Item = Inbound> + Unpin,
        O: Sink<String> + Unpin,
    {
        let node_id = session.agent.node_id.clone();
        loop {
            tokio::select! {
                frame = incoming.next() => {
                    let Some(frame) = frame else { return Close::NORMAL };
                    let envelope = match decode(&node_id, frame) {
                        Ok(e) => e,
                        Err(close) => return close,
                    };
                    session.last_seen.store(now_ms(), Ordering::Relaxed);
                    if let Err(close) = self.handle(session, envelope).await {
                        return close;
                    }
                }
                Some(out) = rx.recv() => {
                    if outgoing.send(out).await.is_err() {
                        return Close::NORMAL;
                    }
                }
                _ = kick.notified() => {
                    return match kick_reason.load(Ordering::Relaxed) {
                        KICK_REPLACED => Close::REPLACED,
                        KICK_SHUTDOWN => Close::RESTARTING,
                        KICK_REVOKED => Close::REVOKED,
                        _ => Close::SILENT,
                    };
                }
            }
        }
    }

    /// Acts on one frame of an established session.
    async fn handle(
        &self,
        session: &mut Session<'_>,
        envelope: Envelope<AgentMessage>,
    ) -> Result<(), Close> {
        let node_id = session.agent.node_id.as_str();
        match envelope.msg {
            AgentMessage::Heartbeat => {}
            AgentMessage::CommandResult(outcome) => self.resolve(node_id, &envelope.id, outcome),
            AgentMessage::Hello(mut facts) | AgentMessage::Facts(mut facts) => {
                if self.within_budget(session, "facts")? {
                    self.accept_facts(session.agent, &mut facts).await?;
                    self.events.publish(UiEvent::Node {
                        id: node_id.to_owned(),
                    });
                }
            }
            AgentMessage::Swarm(snapshot) => {
                if !snapshot.within_bounds() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(node = %node_id, "oversized swarm report dropped");
                } else if self.within_budget(session, "swarm")? {
                    if let Some(r) = &self.replicas {
                        r.swarm(node_id, &snapshot);
                    }
                    self.observed.set_swarm(node_id, snapshot);
                    self.events.publish(UiEvent::Cluster { id: String::new() });
                }
            }
            AgentMessage::Volume(beat) => {
                if self.within_budget(session, "volume")? {
                    let mut beat = *beat;
                    if beat.cap() {
                        tracing::warn!(node = %node_id, "oversized volume beat cut to size");
                    }
                    if self
                        .observed
                        .set_volume(node_id, crate::secret::now_ms(), beat)
                    {
                        self.events.publish(UiEvent::Cluster { id: String::new() });
                    }
                }
            }
            AgentMessage::Vips(vips) => {
                if vips.len() > MAX_REPORTED_VIPS {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(node = %node_id, count = vips.len(), "oversized VIP report dropped");
                } else if self.within_budget(session, "vips")? {
                    if let Some(r) = &self.replicas {
                        r.vips(node_id, &vips);
                    }
                    self.observed.set_vips(node_id, vips);
                    self.events.publish(UiEvent::Cluster { id: String::new() });
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn register(
        &self,
        node_id: &str,
    ) -> (
        u64,
        Arc<AtomicI64>,
        mpsc::Receiver<String>,
        Arc<Notify>,
        Arc<AtomicU8>,
    ) {
        let conn_id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let last_seen = Arc::new(AtomicI64::new(now_ms()));
        let (tx, rx) = mpsc::channel(64);
        let kick = Arc::new(Notify::new());
        let kick_reason = Arc::new(AtomicU8::new(0));
        let live = Live {
            conn_id,
            last_seen_ms: last_seen.clone(),
            tx,
            kick: kick.clone(),
            kick_reason: kick_reason.clone(),
            silent: AtomicBool::new(false),
        };
        if let Some(old) = self.lock_live().insert(node_id.to_owned(), live) {
            old.kick(KICK_REPLACED);
        }
        if let Some(r) = &self.replicas {
            r.present(node_id, conn_id);
        }
        self.sessions.send_modify(|n| *n += 1);
        (conn_id, last_seen, rx, kick, kick_reason)
    }

    async fn unregister(&self, node_id: &str, conn_id: u64, last_seen_ms: i64) {
        let removed = {
            let mut live = self.lock_live();
            match live.get(node_id) {
                Some(l) if l.conn_id == conn_id => live.remove(node_id).is_some(),
                _ => false,
            }
        };
        if removed && let Some(r) = &self.replicas {
            r.gone(node_id, conn_id);
        }
        if self.closing.load(Ordering::SeqCst) {
            // Shutting down: the final flush writes it with every other one.
            self.ended
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((node_id.to_owned(), last_seen_ms));
            self.observed.forget_node(node_id);
            self.sessions.send_modify(|n| *n = n.saturating_sub(1));
            return;
        }
        if let Err(e) = self
            .store
            .save_last_seen(&[(node_id.to_owned(), last_seen_ms)])
            .await
        {
            tracing::error!(node = %node_id, error = %crate::error::chain(&e), "could not store last seen");
        }
        self.sessions.send_modify(|n| *n = n.saturating_sub(1));
        if removed {
            self.observed.forget_node(node_id);
            self.events.publish(UiEvent::Node {
                id: node_id.to_owned(),
            });
            self.events.publish(UiEvent::Cluster { id: String::new() });
        }
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn decode(node_id: &str, frame: Inbound) -> Result<Envelope<AgentMessage>, Close> {
    let text = match frame {
        Inbound::Text(t) => t,
        Inbound::Binary => {
            tracing::warn!(node = %node_id, "binary frame from agent; closing this connection");
            return Err(Close::MALFORMED);
        }
    };
    protocol::decode(&text).map_err(|e| {
        tracing::warn!(node = %node_id, error = %e, "malformed frame from agent; closing this connection");
        Close::MALFORMED
    })
}

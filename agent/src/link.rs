//! The link to the panel: enrol once, then one WebSocket with hello, heartbeats and commands,
//! reconnecting with jittered exponential backoff.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use domain::protocol::{
    self, AgentMessage, CONNECT_PATH, Command, ENROL_PATH, EnrolRequest, EnrolResponse, Envelope,
    Outcome, PROTOCOL_VERSION, PanelMessage,
};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::docker::Engine;
pub use crate::endpoint::{PanelEndpoint, Socket};
use crate::firmware::Firmware;
use crate::state::{self, Identity};
use crate::vip::Keepalived;
use crate::{AgentError, Config, facts, storage};

const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
const FACTS_EVERY: Duration = Duration::from_secs(30);
/// Managers report their swarm's node list when it changes, checked this often.
const SWARM_EVERY: Duration = Duration::from_secs(3);
/// VIP ownership is checked this often (a failover takes a few hundred milliseconds).
const VIP_OBSERVE_EVERY: Duration = Duration::from_millis(200);
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// On a graceful stop, how long the agent waits for the outcomes of commands still running.
const STOP_FLUSH: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Exchanges an enrolment key for a node identity.
pub async fn enrol(
    panel: &PanelEndpoint,
    key: &str,
    hostname: &str,
    machine_id: &str,
) -> Result<Identity, AgentError> {
    let request = panel
        .url(ENROL_PATH)
        .into_client_request()
        .map_err(|e| AgentError::BadUrl(e.to_string()))?;
    let mut ws = panel
        .connect(request)
        .await
        .map_err(|e| AgentError::Connect(e.to_string()))?;
    let request = EnrolRequest {
        v: PROTOCOL_VERSION,
        key: key.trim().to_owned(),
        hostname: hostname.to_owned(),
        machine_id: machine_id.to_owned(),
        node_token: None,
    };
    let json = serde_json::to_string(&request).map_err(|e| AgentError::Protocol(e.to_string()))?;
    ws.send(Message::text(json))
        .await
        .map_err(|e| AgentError::Connect(e.to_string()))?;
    let answer = loop {
        match tokio::time::timeout(WELCOME_TIMEOUT, ws.next()).await {
            Err(_) => return Err(AgentError::Protocol("no enrolment answer in time".into())),
            Ok(Some(Ok(Message::Text(t)))) => break t,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => {
                return Err(AgentError::Protocol(
                    "panel closed the enrolment connection".into(),
                ));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(AgentError::Connect(e.to_string())),
        }
    };
    let _ = ws.close(None).await;
    match serde_json::from_str::<EnrolResponse>(answer.as_str())
        .map_err(|e| AgentError::Protocol(e.to_string()))?
    {
        EnrolResponse::Enrolled {
            node_id,
            token,
            firmware_key,
        } => Ok(Identity {
            node_id,
            token,
            firmware_key,
        }),
        EnrolResponse::Refused { reason } => Err(AgentError::EnrolRefused(reason)),
    }
}

/// Opens the authenticated session socket.
pub async fn open(panel: &PanelEndpoint, token: &str) -> Result<Socket, AgentError> {
    let mut request = panel
        .url(CONNECT_PATH)
        .into_client_request()
        .map_err(|e| AgentError::BadUrl(e.to_string()))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| AgentError::Protocol("token is not a valid header".into()))?;
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, bearer);
    match panel.connect(request).await {
        Ok(ws) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) if resp.status() == http::StatusCode::UNAUTHORIZED => {
            Err(AgentError::TokenRefused)
        }
        Err(e) => Err(AgentError::Connect(e.to_string())),
    }
}

/// Runs until `shutdown` turns true: enrols if needed, then keeps a session up.
pub async fn run(config: &Config, mut shutdown: watch::Receiver<bool>) -> Result<(), AgentError> {
    let identity = match state::load(&config.state_dir)? {
        Some(id) => id,
        None => {
            let key = config.enrolment_key.as_deref().ok_or(AgentError::NoKey)?;
            let identity = loop {
                let hostname = facts::hostname()?;
                let machine_id = facts::machine_id(&config.machine_id_file)?;
                match enrol(config.panel.current(), key, &hostname, &machine_id).await {
                    Ok(id) => break id,
                    Err(e @ (AgentError::EnrolRefused(_) | AgentError::BadUrl(_))) => {
                        return Err(e);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "enrolment failed; retrying");
                        config.panel.fail_over();
                        if sleep_or_shutdown(BACKOFF_MIN * 5, &mut shutdown).await {
                            return Ok(());
                        }
                    }
                }
            };
            state::save(&config.state_dir, &identity)?;
            tracing::info!(node = %identity.node_id, "enrolled");
            identity
        }
    };
    // KeepAlived is supervised whether or not the panel is reachable: VIPs must keep working.
    let vips = std::sync::Arc::new(Keepalived::new(
        &config.state_dir,
        &config.docker_host,
        &facts::hostname()?,
    ));
    let _supervisor = AbortOnDrop({
        let vips = vips.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SUPERVISE_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = vips.ensure_running() {
                    tracing::error!(error = %e, "cannot keep keepalived running");
                }
            }
        })
    });
    // One client for the engine, for the agent's lifetime.
    let engine = std::sync::Arc::new(Engine::new(&config.docker_host));
    // Fencing works whether or not the panel is reachable: a partition cuts the panel off too.
    let _fence = AbortOnDrop(tokio::spawn(storage::fence::watch(
        config.state_dir.clone(),
        engine.clone(),
        config.panel.addresses(),
    )));
    // The volume's copies, read in the background (with a brick out of reach it takes seconds),
    // and the apps' volumes' sizes where this node holds their data.
    let _copies = AbortOnDrop(tokio::spawn(storage::copies::watch()));
    let _sizes = AbortOnDrop(tokio::spawn(storage::sizes::watch()));
    // The volume's state for every heartbeat, read in the background.
    let _beat = AbortOnDrop(tokio::spawn(storage::beat::watch(config.state_dir.clone())));
    // The async volume's sync goes on node to node whether the panel is reachable or not.
    let _sync = AbortOnDrop(tokio::spawn(storage::standby::run(
        config.state_dir.clone(),
    )));
    let firmware = std::sync::Arc::new(Firmware::new(
        &config.state_dir,
        config.firmware_installer.clone(),
        Some(identity.firmware_key.as_str()).filter(|k| !k.is_empty()),
        config.panel.clone(),
        &identity.token,
        &config.firmware_version_file,
    ));
    // A firmware trial rolls back by itself unless the panel commits it in time (reachable or not).
    let _trial = firmware.on_start().map(|trial| {
        let firmware = firmware.clone();
        AbortOnDrop(tokio::spawn(
            async move { firmware.watch_trial(trial).await },
        ))
    });
    let mut backoff = Backoff::default();
    let mut recent = RecentCommands::default();
    loop {
        let started = Instant::now();
        match session(
            config,
            &identity,
            &engine,
            &vips,
            &firmware,
            &mut recent,
            &mut shutdown,
        )
        .await
        {
            Ok(()) if *shutdown.borrow() => return Ok(()),
            Ok(()) => tracing::warn!("panel closed the connection"),
            Err(AgentError::TokenRefused) => tracing::error!("{}", AgentError::TokenRefused),
            Err(e @ AgentError::BadUrl(_)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "link down"),
        }
        if started.elapsed() >= STABLE_AFTER {
            backoff = Backoff::default();
        }
        // With several panel URLs (replicas), the next one is tried: the one just lost may be
        // the replica that went down.
        if config.panel.fail_over() {
            tracing::info!(panel = ?config.panel.current(), "trying the next panel URL");
        }
        let wait = backoff.next_delay();
        tracing::info!(retry_in_ms = wait.as_millis() as u64, "reconnecting");
        if sleep_or_shutdown(wait, &mut shutdown).await {
            return Ok(());
        }
    }
}

/// Sleeps; true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

async fn session(
    config: &Config,
    identity: &Identity,
    engine: &std::sync::Arc<Engine>,
    vips: &std::sync::Arc<Keepalived>,
    firmware: &std::sync::Arc<Firmware>,
    recent: &mut RecentCommands,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AgentError> {
    // The Global Config's volume and file exist before the cluster's tasks mount them.
    if let Err(e) = crate::appconfig::ensure(engine, &config.state_dir).await {
        tracing::warn!(error = %e, "cannot prepare the global config volume");
    }
    let ws = open(config.panel.current(), &identity.token).await?;
    let (mut tx, mut rx) = ws.split();
    let send_err = |e: tungstenite::Error| AgentError::Connect(e.to_string());
    let mut seq: u64 = 0;
    let mut frame = |msg: AgentMessage| {
        seq += 1;
        Message::text(Envelope::new(seq.to_string(), msg).encode())
    };
    let mut last_facts = facts::collect(
        config,
        engine.facts().await,
        storage::facts(&config.state_dir).await,
    )?;
    tx.send(frame(AgentMessage::Hello(Box::new(last_facts.clone()))))
        .await
        .map_err(send_err)?;
    let heartbeat = match tokio::time::timeout(WELCOME_TIMEOUT, next_panel_message(&mut rx)).await {
        Err(_) => return Err(AgentError::Protocol("no welcome in time".into())),
        Ok(None) => return Ok(()),
        Ok(Some(Envelope {
            msg: PanelMessage::Welcome(w),
            ..
        })) => {
            tracing::info!(node = %w.node_id, heartbeat_secs = w.heartbeat_secs, "connected to the panel");
            Duration::from_secs(u64::from(w.heartbeat_secs.max(1)))
        }
        Ok(Some(_)) => return Err(AgentError::Protocol("expected welcome".into())),
    };
    // Commands run one at a time in a worker, so heartbeats continue during a slow swarm join.
    let (work_tx, mut work_rx) = mpsc::channel::<(String, Command)>(32);
    let (done_tx, mut done_rx) = mpsc::channel::<(String, Outcome, bool)>(32);
    let worker = {
        let (engine, vips, firmware) = (engine.clone(), vips.clone(), firmware.clone());
        let state_dir = config.state_dir.clone();
        tokio::spawn(async move {
            while let Some((id, command)) = work_rx.recv().await {
                let (outcome, changed) =
                    crate::commands::execute(&engine, &vips, &firmware, &state_dir, &command).await;
                if done_tx.send((id, outcome, changed)).await.is_err() {
                    break;
                }
            }
        })
    };
    let _stop_worker = AbortOnDrop(worker);
    // The engine and the host are read off this loop: a manager whose swarm is electing a leader
    // can leave API calls unanswered for many seconds, and heartbeats must go on meanwhile.
    let (seen_tx, mut seen_rx) = mpsc::channel::<Observed>(8);
    // A command that changed the node asks for a fresh reading (generation n); its result is
    // held until facts read after that request have been sent.
    let (refresh, refresh_rx) = watch::channel(0u64);
    let _stop_observer = AbortOnDrop(tokio::spawn(observe(
        config.clone(),
        engine.clone(),
        refresh_rx,
        seen_tx,
    )));
    let mut generation = 0u64;
    let mut in_flight: Vec<String> = vec![];
    let mut last_swarm = None;
    let mut last_vips = vec![];
    let mut held_results: Vec<(u64, Message)> = vec![];
    let now = tokio::time::Instant::now();
    let mut beat = tokio::time::interval_at(now + heartbeat, heartbeat);
    let mut vip_tick = tokio::time::interval(VIP_OBSERVE_EVERY);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                tx.send(frame(AgentMessage::Heartbeat)).await.map_err(send_err)?;
                // The volume's state goes with every heartbeat while the node takes part in one.
                if let Some(v) = storage::beat::latest() {
                    tx.send(frame(AgentMessage::Volume(Box::new(v)))).await.map_err(send_err)?;
                }
            }
            Some(seen) = seen_rx.recv() => match seen {
                Observed::Facts { read, answers } => {
                    let released = held_results.iter().filter(|(g, _)| *g <= answers).count();
                    match read {
                        Ok(now) => {
                            if released > 0 || facts::stable(&now) != facts::stable(&last_facts) {
                                tx.send(frame(AgentMessage::Facts(now.clone()))).await.map_err(send_err)?;
                            }
                            last_facts = *now;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the node's facts"),
                    }
                    for (_, result) in held_results.drain(..released) {
                        tx.send(result).await.map_err(send_err)?;
                    }
                }
                Observed::Swarm(snapshot) => {
                    if let Some(s) = &snapshot && last_swarm.as_ref() != Some(s) {
                        tx.send(frame(AgentMessage::Swarm(s.clone()))).await.map_err(send_err)?;
                    }
                    last_swarm = snapshot;
                }
            },
            _ = vip_tick.tick() => {
                let now = vips.observe();
                if now != last_vips {
                    tx.send(frame(AgentMessage::Vips(now.clone()))).await.map_err(send_err)?;
                    last_vips = now;
                }
            }
            message = next_panel_message(&mut rx) => {
                let Some(envelope) = message else { return Ok(()) };
                let PanelMessage::Command(command) = envelope.msg else { continue };
                if let Some(done) = recent.get(&envelope.id) {
                    let result = Envelope::new(envelope.id, AgentMessage::CommandResult(done)).encode();
                    tx.send(Message::text(result)).await.map_err(send_err)?;
                } else if !in_flight.contains(&envelope.id) {
                    in_flight.push(envelope.id.clone());
                    let _ = work_tx.send((envelope.id, command)).await;
                }
            }
            Some((id, outcome, changed)) = done_rx.recv() => {
                in_flight.retain(|i| *i != id);
                recent.remember(&id, outcome.clone());
                let result = Message::text(Envelope::new(id, AgentMessage::CommandResult(outcome)).encode());
                if changed {
                    // The panel gets the node's new facts before the result (it may validate
                    // the next change against them), so the result waits for a fresh reading.
                    generation += 1;
                    held_results.push((generation, result));
                    refresh.send_replace(generation);
                } else {
                    tx.send(result).await.map_err(send_err)?;
                }
            }
            _ = shutdown.changed() => {
                // A command that reboots the node (firmware) is answered just before the reboot
                // stops the agent: its result must not be lost with the connection. Results held
                // for a fresh facts reading go now; commands still running get a moment.
                for (_, result) in held_results.drain(..) {
                    let _ = tx.send(result).await;
                }
                let deadline = tokio::time::Instant::now() + STOP_FLUSH;
                while !in_flight.is_empty() {
                    let Ok(Some((id, outcome, _))) = tokio::time::timeout_at(deadline, done_rx.recv()).await else {
                        break;
                    };
                    in_flight.retain(|i| *i != id);
                    let result = Envelope::new(id, AgentMessage::CommandResult(outcome)).encode();
                    let _ = tx.send(Message::text(result)).await;
                }
                let bye = CloseFrame { code: CloseCode::Away, reason: "agent stopping".into() };
                let _ = tx.send(Message::Close(Some(bye))).await;
                return Ok(());
            }
        }
    }
}

/// What the observer read, for the session loop to report when it changed.
enum Observed {
    /// `answers` is the refresh generation asked for before this reading began (0: periodic).
    Facts {
        read: Result<Box<domain::node::NodeFacts>, AgentError>,
        answers: u64,
    },
    Swarm(Option<domain::swarm::SwarmSnapshot>),
}

/// Reads facts every [`FACTS_EVERY`] and, on managers, the swarm every [`SWARM_EVERY`]; both at
/// once when `refresh` moves to a new generation (a command changed the node). Ends with the
/// session.
async fn observe(
    config: Config,
    engine: std::sync::Arc<Engine>,
    mut refresh: watch::Receiver<u64>,
    seen: mpsc::Sender<Observed>,
) {
    let now = tokio::time::Instant::now();
    let mut facts_tick = tokio::time::interval_at(now + FACTS_EVERY, FACTS_EVERY);
    let mut swarm_tick = tokio::time::interval(SWARM_EVERY);
    // The cluster volume is mounted again at start (after a boot) and on every facts tick, in a
    // task of its own: a mount whose servers are out of reach must not hold the readings up.
    let keep = (config.state_dir.clone(), engine.clone());
    let mut keeping = tokio::spawn(async move { storage::keep_mounted(&keep.0, &keep.1).await });
    loop {
        let (read_facts, read_swarm, answers) = tokio::select! {
            _ = facts_tick.tick() => (true, false, 0),
            _ = swarm_tick.tick() => (false, true, 0),
            changed = refresh.changed() => {
                if changed.is_err() {
                    return;
                }
                swarm_tick.reset();
                (true, true, *refresh.borrow_and_update())
            }
        };
        if read_facts && keeping.is_finished() {
            let keep = (config.state_dir.clone(), engine.clone());
            keeping = tokio::spawn(async move { storage::keep_mounted(&keep.0, &keep.1).await });
        }
        if read_facts {
            let read = facts::collect(
                &config,
                engine.facts().await,
                storage::facts(&config.state_dir).await,
            )
            .map(Box::new);
            if seen.send(Observed::Facts { read, answers }).await.is_err() {
                return;
            }
        }
        if read_swarm {
            match engine.snapshot().await {
                Ok(snapshot) => {
                    if seen.send(Observed::Swarm(snapshot)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "no swarm snapshot"),
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The next panel frame; `None` when the connection ended. Malformed frames are logged and skipped.
async fn next_panel_message<S>(rx: &mut S) -> Option<Envelope<PanelMessage>>
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await? {
            Ok(Message::Text(t)) => match protocol::decode::<PanelMessage>(t.as_str()) {
                Ok(e) => return Some(e),
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed frame from the panel"),
            },
            Ok(Message::Close(frame)) => {
                if let Some(f) = frame {
                    tracing::info!(code = u16::from(f.code), reason = %f.reason, "panel closed the session");
                }
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "link error");
                return None;
            }
        }
    }
}

/// Results of the last commands, so a command resent after a reconnect is answered, not redone.
#[derive(Default)]
pub struct RecentCommands {
    done: VecDeque<(String, Outcome)>,
}

impl RecentCommands {
    const CAPACITY: usize = 256;

    pub fn get(&self, id: &str) -> Option<Outcome> {
        self.done
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, o)| o.clone())
    }

    pub fn remember(&mut self, id: &str, outcome: Outcome) {
        if self.done.len() == Self::CAPACITY {
            self.done.pop_front();
        }
        self.done.push_back((id.to_owned(), outcome));
    }
}

/// Exponential backoff from 1 s to 60 s with ±50 % jitter, so a fleet does not reconnect in step.
#[derive(Debug)]
pub struct Backoff {
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            current: BACKOFF_MIN,
        }
    }
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(BACKOFF_MAX);
        base.mul_f64(rand::rng().random_range(0.5..1.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(
            first >= Duration::from_millis(500) && first < Duration::from_millis(1500),
            "{first:?}"
        );
        for _ in 0..10 {
            b.next_delay();
        }
        let late = b.next_delay();
        assert!(
            late >= Duration::from_secs(30) && late < Duration::from_secs(90),
            "{late:?}"
        );
    }

    #[test]
    fn recent_commands_are_remembered_and_bounded() {
        let mut r = RecentCommands::default();
        r.remember("c-1", Outcome::DONE);
        assert_eq!(r.get("c-1"), Some(Outcome::DONE));
        for i in 0..RecentCommands::CAPACITY {
            r.remember(&format!("x-{i}"), Outcome::DONE);
        }
        assert_eq!(r.get("c-1"), None);
        assert_eq!(r.done.len(), RecentCommands::CAPACITY);
    }
}

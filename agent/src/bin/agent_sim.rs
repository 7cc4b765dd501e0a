//! flotilla-agent-sim: holds many lightweight simulated agents in one process, for load tests of
//! the panel. Each one enrols (once), says hello with synthetic facts and heartbeats on the
//! interval the panel asks for, for a bounded time.
//!
//! With `--answer-commands` each one is also a **fake node** (no Docker, no KeepAlived, nothing
//! written): it answers the commands of cluster workflows as a node would (swarm init and join
//! answer a made-up swarm member; the rest are done) and acknowledges a Global Config version like
//! the real agent (its facts with the version it now holds, then the result), printing
//! `config-acked cluster=… version=… at_ms=…` for the fan-out benchmark.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent::link;
use clap::Parser;
use domain::config::global::HeldConfig;
use domain::node::{EngineFacts, NetInterface, NodeFacts, SwarmFacts, SwarmState};
use domain::protocol::{
    AgentMessage, Command, Envelope, JoinTokens, Outcome, PanelMessage, Reply, SwarmMember,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-agent-sim",
    version,
    about = "Simulates many Flotilla agents against one panel (bounded in count and time)."
)]
struct Args {
    #[arg(long)]
    panel: String,
    /// CA certificate(s) for an https:// panel.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    #[arg(long)]
    enrolment_key: String,
    /// Number of simulated agents (at most 10000).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// How long to hold the connections, in seconds (at most 3600).
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 200)]
    ramp_per_sec: u64,
    /// Prefix of the simulated hostnames and machine ids.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Answer the panel's commands as a fake node (see above) instead of ignoring them.
    #[arg(long)]
    answer_commands: bool,
    /// Connect each simulated agent from its own loopback address (127.1.x.y), as real nodes
    /// each have their own: the panel limits enrolments per source address.
    #[arg(long)]
    loopback_sources: bool,
}

/// The bound on simulated agents (one process, loopback sources 127.1.0.1 … 127.1.39.250).
const MAX_AGENTS: usize = 10_000;

/// What every simulated agent adds to.
#[derive(Default)]
struct Counters {
    connected: AtomicUsize,
    failed: AtomicUsize,
    beats: AtomicUsize,
    reconnects: AtomicUsize,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let panel = match link::PanelEndpoint::new(&args.panel, args.ca_file.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("flotilla-agent-sim: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let count = args.count.min(MAX_AGENTS);
    let answer = args.answer_commands;
    let hold = Duration::from_secs(args.duration_secs.min(3600));
    let counters = Arc::new(Counters::default());
    let deadline = tokio::time::Instant::now() + hold;
    let pause = Duration::from_micros(1_000_000 / args.ramp_per_sec.max(1));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (mut panel, key) = (panel.clone(), args.enrolment_key.clone());
        if args.loopback_sources {
            // i < 10000: 127.1.0.1 … 127.1.39.250.
            let (hi, lo) = ((i / 250) as u8, (i % 250 + 1) as u8);
            panel = panel.from_local(std::net::IpAddr::from([127, 1, hi, lo]));
        }
        let name = format!("{}-{i:05}", args.prefix);
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = simulate(&panel, &key, &name, deadline, &counters, answer).await {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("{name}: {e}");
            }
        }));
        tokio::time::sleep(pause).await;
    }
    let report = {
        let c = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                println!(
                    "connected={} failed={} heartbeats={} reconnects={}",
                    c.connected.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    c.beats.load(Ordering::Relaxed),
                    c.reconnects.load(Ordering::Relaxed)
                );
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    report.abort();
    let failed = counters.failed.load(Ordering::Relaxed);
    println!(
        "done: agents={count} failed={failed} heartbeats={} reconnects={}",
        counters.beats.load(Ordering::Relaxed),
        counters.reconnects.load(Ordering::Relaxed)
    );
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// One simulated agent: enrols once, then holds a session until the deadline; when the panel
/// closes it (a restart) or cannot be reached, it reconnects after the real agent's jittered
/// backoff. Fails only when it cannot enrol.
async fn simulate(
    panel: &link::PanelEndpoint,
    key: &str,
    name: &str,
    deadline: tokio::time::Instant,
    counters: &Counters,
    answer: bool,
) -> Result<(), String> {
    let identity = link::enrol(panel, key, name, name)
        .await
        .map_err(|e| e.to_string())?;
    let mut backoff = link::Backoff::default();
    let mut held = facts(name);
    let mut said = false;
    loop {
        let started = tokio::time::Instant::now();
        let ended = session(
            panel,
            &identity.token,
            name,
            deadline,
            counters,
            answer,
            &mut held,
        )
        .await;
        if tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        // Expected during a panel restart: said once per agent.
        if let Err(e) = ended
            && !said
        {
            eprintln!("{name}: {e}; reconnecting");
            said = true;
        }
        if started.elapsed() >= Duration::from_secs(60) {
            backoff = link::Backoff::default();
        }
        counters.reconnects.fetch_add(1, Ordering::Relaxed);
        let wait = backoff.next_delay();
        if tokio::time::Instant::now() + wait >= deadline {
            return Ok(());
        }
        tokio::time::sleep(wait).await;
    }
}

/// One session: hello, welcome, heartbeats (and answers) until the deadline or the panel closes.
async fn session(
    panel: &link::PanelEndpoint,
    token: &str,
    name: &str,
    deadline: tokio::time::Instant,
    counters: &Counters,
    answer: bool,
    held: &mut NodeFacts,
) -> Result<(), String> {
    let ws = link::open(panel, token).await.map_err(|e| e.to_string())?;
    let (mut tx, mut rx) = ws.split();
    let hello = Envelope::new("1", AgentMessage::Hello(Box::new(held.clone())));
    tx.send(Message::text(hello.encode()))
        .await
        .map_err(|e| e.to_string())?;
    let heartbeat = loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                match domain::protocol::decode::<PanelMessage>(t.as_str()) {
                    Ok(Envelope {
                        msg: PanelMessage::Welcome(w),
                        ..
                    }) => break Duration::from_secs(u64::from(w.heartbeat_secs.max(1))),
                    _ => return Err("expected welcome".into()),
                }
            }
            Some(Ok(_)) => continue,
            _ => return Err("closed before welcome".into()),
        }
    };
    counters.connected.fetch_add(1, Ordering::Relaxed);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut seq = 1u64;
    let result = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Ok(()),
            _ = tick.tick() => {
                seq += 1;
                let frame = Envelope::new(seq.to_string(), AgentMessage::Heartbeat).encode();
                if let Err(e) = tx.send(Message::text(frame)).await {
                    break Err(e.to_string());
                }
                counters.beats.fetch_add(1, Ordering::Relaxed);
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Err("panel closed the connection".into()),
                Some(Ok(Message::Text(t))) if answer => {
                    let Ok(Envelope { id, msg: PanelMessage::Command(cmd), .. }) =
                        domain::protocol::decode::<PanelMessage>(t.as_str())
                    else {
                        continue;
                    };
                    let mut frames = vec![];
                    let reply = fake_answer(name, &cmd, held, &mut frames);
                    frames.push(Envelope::new(id, AgentMessage::CommandResult(reply)).encode());
                    let mut failed = None;
                    for f in frames {
                        if let Err(e) = tx.send(Message::text(f)).await {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                    if let Some(e) = failed {
                        break Err(e);
                    }
                    if let Command::GlobalConfig { cluster_id, version, .. } = &cmd {
                        println!("config-acked cluster={cluster_id} version={version} at_ms={}", now_ms());
                    }
                }
                _ => {}
            },
        }
    };
    counters.connected.fetch_sub(1, Ordering::Relaxed);
    let _ = tx.send(Message::Close(None)).await;
    result
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// What a fake node answers to `cmd`; frames to send before the answer go to `before` (the facts
/// with a newly held Global Config version, as the real agent sends them).
fn fake_answer(
    name: &str,
    cmd: &Command,
    held: &mut NodeFacts,
    before: &mut Vec<String>,
) -> Outcome {
    let member = |tokens| Outcome::Done {
        reply: Reply::Member(SwarmMember {
            swarm_node_id: format!("swarm-{name}"),
            cluster_id: format!("sim-swarm-{name}"),
            address: "192.0.2.1".into(),
            tokens,
        }),
    };
    let tokens = || JoinTokens {
        worker: "SWMTKN-1-sim-worker".into(),
        manager: "SWMTKN-1-sim-manager".into(),
    };
    match cmd {
        Command::SwarmInit(_) => member(Some(tokens())),
        Command::SwarmJoin(_) => member(None),
        Command::JoinTokens { .. } => Outcome::Done {
            reply: Reply::Tokens(tokens()),
        },
        Command::GlobalConfig {
            cluster_id,
            version,
            ..
        } => {
            held.global_config = Some(HeldConfig {
                cluster_id: cluster_id.clone(),
                version: *version,
            });
            before
                .push(Envelope::new("facts", AgentMessage::Facts(Box::new(held.clone()))).encode());
            Outcome::DONE
        }
        Command::RefreshFacts => {
            before
                .push(Envelope::new("facts", AgentMessage::Facts(Box::new(held.clone()))).encode());
            Outcome::DONE
        }
        _ => Outcome::DONE,
    }
}

fn facts(name: &str) -> NodeFacts {
    NodeFacts {
        hostname: name.to_owned(),
        machine_id: name.to_owned(),
        os: "Simulated".into(),
        kernel: "sim".into(),
        arch: "x86_64".into(),
        cpu_model: "simulated".into(),
        cpu_count: 4,
        memory_total_bytes: 8 << 30,
        memory_available_bytes: 4 << 30,
        disk_path: "/".into(),
        disk_total_bytes: 64 << 30,
        disk_available_bytes: 32 << 30,
        interfaces: vec![NetInterface {
            name: "eth0".into(),
            mac: None,
            up: true,
            addresses: vec!["192.0.2.1/24".into()],
        }],
        engine: EngineFacts::Up {
            version: "simulated".into(),
            api_version: "1.41".into(),
            swarm: SwarmFacts {
                state: SwarmState::Inactive,
                node_id: None,
                is_manager: false,
                cluster_id: None,
            },
        },
        agent_version: agent::facts::AGENT_VERSION.into(),
        firmware_version: "sim".into(),
        uptime_secs: 1,
        ipvs: false,
        global_config: None,
        board: String::new(),
        firmware: Default::default(),
        storage: Default::default(),
    }
}

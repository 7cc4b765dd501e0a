//! flotilla-vip-load: an open-loop HTTP load client for measuring what a VIP hand-off costs.
//!
//! Every request opens a new TCP connection and writes `GET /` the moment the connection is
//! established (the lab measurements showed that a client which delays its write after the
//! handshake can be reset when the VIP moves in between), then reads the answer to the end with
//! a deadline. Requests start on a fixed schedule (`--rate` per second) whether earlier ones have
//! finished or not. Bounded: at most `--secs` (≤ 3600) or until SIGTERM/SIGINT or the stop file
//! appears; then a JSON summary is printed: totals, failures by kind, and which node served how
//! many (the answer's body, e.g. a service that answers with its node's name).
//!
//! `--retry-reset` retries a request once when its connection was reset (what an idempotent
//! client does); such a request counts as failed only if the retry fails too.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(name = "flotilla-vip-load", version, about)]
struct Args {
    /// `ip:port` to send to (the VIP and the published port).
    #[arg(long)]
    target: SocketAddr,
    /// Requests started per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Longest run, in seconds (at most 3600).
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Deadline of one request (connect, write, read to the end), in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Retry a request once when its connection was reset.
    #[arg(long)]
    retry_reset: bool,
    /// Stop when this file exists (the driving script creates it).
    #[arg(long)]
    stop_file: Option<PathBuf>,
    /// Write one line per failed request here.
    #[arg(long)]
    failures: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Failure {
    Timeout,
    Refused,
    Reset,
    BadAnswer,
    Other,
}

#[derive(Debug)]
struct Done {
    started_ms: u128,
    result: Result<String, Failure>,
    retried: bool,
}

#[derive(Serialize, Default)]
struct Summary {
    total: u64,
    ok: u64,
    failed: u64,
    retried: u64,
    failures: BTreeMap<String, u64>,
    served_by: BTreeMap<String, u64>,
    /// How often the serving node changed from one answer to the next (in start order).
    moves: u64,
    secs: f64,
}

async fn once(target: SocketAddr, deadline: Duration) -> Result<String, Failure> {
    let attempt = async {
        let mut s = TcpStream::connect(target).await.map_err(classify)?;
        s.set_nodelay(true).map_err(classify)?;
        s.write_all(format!("GET / HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .map_err(classify)?;
        let mut answer = Vec::with_capacity(512);
        s.read_to_end(&mut answer).await.map_err(classify)?;
        let text = String::from_utf8_lossy(&answer);
        let status_ok = text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        if !status_ok || body.is_empty() {
            return Err(Failure::BadAnswer);
        }
        Ok(body
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect())
    };
    tokio::time::timeout(deadline, attempt)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

fn classify(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::Refused,
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
            Failure::Reset
        }
        std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Other,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let secs = args.secs.min(3600);
    let rate = args.rate.clamp(1, 5000);
    let deadline = Duration::from_millis(args.timeout_ms.clamp(10, 30_000));
    let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tokio::pin!(stop);
    let mut sent = 0u64;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if start.elapsed() >= Duration::from_secs(secs)
            || args.stop_file.as_ref().is_some_and(|f| f.exists())
        {
            break;
        }
        sent += 1;
        let (tx, target, retry) = (tx.clone(), args.target, args.retry_reset);
        let started_ms = start.elapsed().as_millis();
        tokio::spawn(async move {
            let mut result = once(target, deadline).await;
            let mut retried = false;
            if retry && result == Err(Failure::Reset) {
                retried = true;
                result = once(target, deadline).await;
            }
            let _ = tx.send(Done {
                started_ms,
                result,
                retried,
            });
        });
    }
    drop(tx);
    let mut done = Vec::with_capacity(sent as usize);
    while let Some(d) = rx.recv().await {
        done.push(d);
    }
    done.sort_by_key(|d| d.started_ms);
    let mut summary = Summary {
        total: done.len() as u64,
        secs: start.elapsed().as_secs_f64(),
        ..Summary::default()
    };
    let mut lines = String::new();
    let mut last: Option<String> = None;
    for d in &done {
        summary.retried += u64::from(d.retried);
        match &d.result {
            Ok(node) => {
                summary.ok += 1;
                *summary.served_by.entry(node.clone()).or_default() += 1;
                if last.as_ref().is_some_and(|l| l != node) {
                    summary.moves += 1;
                }
                last = Some(node.clone());
            }
            Err(kind) => {
                summary.failed += 1;
                let name = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                lines.push_str(&format!("{} {name}\n", d.started_ms));
                *summary.failures.entry(name).or_default() += 1;
            }
        }
    }
    if let Some(path) = &args.failures
        && let Err(e) = std::fs::write(path, lines)
    {
        eprintln!("cannot write {}: {e}", path.display());
    }
    println!(
        "{}",
        serde_json::to_string(&summary).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

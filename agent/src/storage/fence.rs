//! Fencing: a node cut off from most of the cluster volume's nodes stops its tasks that write to
//! the volume, before Swarm starts them elsewhere. Neither Swarm nor GlusterFS keeps a second
//! writer away: in the lab a partitioned node's task went on writing after the partition healed,
//! next to its replacement (docs/volumes.md).
//!
//! Every second the agent of a node that keeps the volume mounted tries GlusterFS's port on each
//! of the volume's servers (itself included when it holds a copy); the primary of an async
//! volume tries the panel and the standby's sync port instead (it keeps its lease while either
//! answers: the panel gives the standby the primary's role only when the primary is silent to
//! it). When fewer than a majority answer (on an async primary: neither) for [`FENCE_AFTER`],
//! the node is fenced: every running container with a bind mount from
//! the volume is killed, again every second while it lasts. Its Swarm cannot start them again
//! (its managers are out of reach: that is what the partition means), and the panel's side of the
//! swarm has started the replacement by then.
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::storage::VOLUMES_DIR;

use super::mount::load_servers;
use crate::docker::Engine;

/// How often the volume's servers are tried.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long one try may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// How long a node may miss the majority before it is fenced: below the time Swarm takes to
/// declare it down and start its tasks elsewhere (about 6 s at a 2 s heartbeat).
pub const FENCE_AFTER: Duration = Duration::from_secs(3);
/// GlusterFS's management port (glusterd).
pub(super) const GLUSTERD_PORT: u16 = 24007;

/// Whether this node is fenced now (reported with its storage facts).
static FENCED: AtomicBool = AtomicBool::new(false);

pub fn fenced() -> bool {
    FENCED.load(Ordering::Relaxed)
}

/// Whether `up` of `of` servers are a majority.
fn majority(up: usize, of: usize) -> bool {
    of == 0 || up * 2 > of
}

pub(super) async fn answers(address: impl tokio::net::ToSocketAddrs) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, connect).await,
        Ok(Ok(_))
    )
}

/// How many of `tries` answered.
async fn answered(tries: impl IntoIterator<Item = impl Future<Output = bool>>) -> usize {
    futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count()
}

/// Whether the node is cut off now: the replicated volume's node from most of its servers;
/// the async volume's primary from both the panel (which would give the standby its role) and
/// the standby. `None` without a volume to fence for.
async fn cut_off(state_dir: &Path, panels: &[String]) -> Option<bool> {
    if let Some(standby) = super::standby::fence_peer(state_dir) {
        let up = answered([answers(standby)]).await
            + answered(panels.iter().map(|p| answers(p.as_str()))).await;
        return Some(up == 0);
    }
    let servers: Vec<IpAddr> = load_servers(state_dir)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    if servers.is_empty() {
        return None;
    }
    let up = answered(
        servers
            .iter()
            .map(|a| answers(SocketAddr::new(*a, GLUSTERD_PORT))),
    )
    .await;
    Some(!majority(up, servers.len()))
}

/// Watches the volume's servers (or, on an async primary, the panel and the standby) for the
/// agent's lifetime, whether the panel is reachable or not.
pub async fn watch(state_dir: PathBuf, engine: Arc<Engine>, panels: Vec<String>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost_since: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        if cut_off(&state_dir, &panels).await != Some(true) {
            lost_since = None;
            if FENCED.swap(false, Ordering::Relaxed) {
                tracing::warn!("the cluster volume's nodes answer again: fence lifted");
            }
            continue;
        }
        let since = *lost_since.get_or_insert(now);
        if now.duration_since(since) < FENCE_AFTER {
            continue;
        }
        if !FENCED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "cut off from the cluster volume's nodes: fencing (stopping the tasks that use the volume)"
            );
        }
        match engine.kill_users_of(VOLUMES_DIR).await {
            Ok(killed) if !killed.is_empty() => {
                tracing::warn!(
                    ?killed,
                    "fenced: killed the containers that use the cluster volume"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "fenced: could not list or kill containers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_needs_most_of_the_volumes_servers() {
        assert!(majority(2, 3));
        assert!(!majority(1, 3));
        assert!(majority(3, 4));
        assert!(!majority(2, 4), "half is not a majority");
        assert!(majority(0, 0), "no volume: nothing to fence");
    }

    #[test]
    fn a_listening_port_answers_and_a_closed_one_does_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        assert!(rt.block_on(answers(address)));
        drop(listener);
        assert!(!rt.block_on(answers(address)));
    }
}

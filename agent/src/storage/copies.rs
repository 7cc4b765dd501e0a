//! The replicated volume's copies, as this node sees them when it holds one: GlusterFS's heal
//! summary read every [`READ_EVERY`] in a background task (with a brick out of reach the summary
//! takes about 10 s, too long for the facts reading, which takes the latest result instead).
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use domain::storage::{CopiesFacts, PeersFacts, VOLUME_NAME, brick_path};

use super::{Ran, bounded};

/// How often the heal summary is read.
const READ_EVERY: Duration = Duration::from_secs(10);
/// How long it may take (a brick out of reach costs it about 10 s).
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(20);

/// The latest summary; None when this node holds no copy or glusterd did not answer.
static LATEST: Mutex<Option<CopiesFacts>> = Mutex::new(None);
/// The latest look at the node's GlusterFS peers (same rule).
static PEERS: Mutex<Option<PeersFacts>> = Mutex::new(None);

/// The copies as last read (reported with the storage facts).
pub fn latest() -> Option<CopiesFacts> {
    LATEST.lock().map_or_else(|p| *p.into_inner(), |c| *c)
}

/// The peers as last read.
pub fn peers() -> Option<PeersFacts> {
    PEERS.lock().map_or_else(|p| *p.into_inner(), |c| *c)
}

/// Reads the heal summary for the agent's lifetime, while this node holds a copy.
pub async fn watch() {
    let mut tick = tokio::time::interval(READ_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (now, pool) = if Path::new(&brick_path(VOLUME_NAME)).is_dir() {
            (read().await, read_peers().await)
        } else {
            (None, None)
        };
        if let Ok(mut latest) = LATEST.lock() {
            *latest = now;
        }
        if let Ok(mut latest) = PEERS.lock() {
            *latest = pool;
        }
    }
}

async fn read() -> Option<CopiesFacts> {
    let args = [
        "--mode=script",
        "volume",
        "heal",
        VOLUME_NAME,
        "info",
        "summary",
    ];
    match bounded("gluster", &args, SUMMARY_TIMEOUT).await {
        Ran::Done(out) => parse(&out),
        Ran::Failed(_) | Ran::TimedOut => None,
    }
}

async fn read_peers() -> Option<PeersFacts> {
    match bounded(
        "gluster",
        &["--mode=script", "pool", "list"],
        SUMMARY_TIMEOUT,
    )
    .await
    {
        Ran::Done(out) => Some(peers_of(&out)),
        Ran::Failed(_) | Ran::TimedOut => None,
    }
}

/// `gluster pool list`: a header, then one line per member of the pool (`UUID Hostname State`),
/// the node itself as `localhost`.
fn peers_of(list: &str) -> PeersFacts {
    let mut out = PeersFacts::default();
    for line in list.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(_uuid), Some(host), Some(state)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if host == "localhost" {
            continue;
        }
        out.peers = out.peers.saturating_add(1);
        if state == "Connected" {
            out.connected = out.connected.saturating_add(1);
        }
    }
    out
}

/// The heal summary's text: per brick its status and its counts ("-" for a brick that does not
/// answer). What some copy has still to receive is the sum of the answering bricks' entries.
fn parse(summary: &str) -> Option<CopiesFacts> {
    let mut copies = CopiesFacts::default();
    let mut connected = false;
    for line in summary.lines().map(str::trim) {
        if line.starts_with("Brick ") {
            copies.bricks = copies.bricks.saturating_add(1);
            connected = false;
        } else if let Some(status) = line.strip_prefix("Status:") {
            connected = status.trim() == "Connected";
            if connected {
                copies.bricks_up = copies.bricks_up.saturating_add(1);
            }
        } else if let Some(n) = line.strip_prefix("Total Number of entries:") {
            if connected {
                copies.to_heal += n.trim().parse::<u64>().ok()?;
            }
        } else if let Some(n) = line.strip_prefix("Number of entries in split-brain:")
            && connected
        {
            copies.split_brain += n.trim().parse::<u64>().ok()?;
        }
    }
    (copies.bricks > 0).then_some(copies)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRICK: &str = "/var/lib/flotilla/bricks/flotilla";

    fn brick(address: &str, status: &str, total: &str, split: &str) -> String {
        format!(
            "Brick {address}:{BRICK}\nStatus: {status}\nTotal Number of entries: {total}\n\
             Number of entries in heal pending: {total}\nNumber of entries in split-brain: {split}\n\
             Number of entries possibly healing: 0\n\n"
        )
    }

    #[test]
    fn the_summary_counts_answering_bricks_and_what_they_hold_for_the_others() {
        let whole = [
            brick("10.77.0.11", "Connected", "0", "0"),
            brick("10.77.0.12", "Connected", "0", "0"),
            brick("10.77.0.13", "Connected", "0", "0"),
        ]
        .concat();
        let c = parse(&whole).expect("parsed");
        assert!(c.whole(), "{c:?}");
        assert_eq!((c.bricks, c.bricks_up), (3, 3));
        // One brick out of reach (as GlusterFS 10 prints it) while the others keep what it missed.
        let one_down = [
            brick("10.77.0.11", "Connected", "7", "0"),
            brick("10.77.0.12", "Connected", "5", "1"),
            brick(
                "10.77.0.13",
                "Transport endpoint is not connected",
                "-",
                "-",
            ),
        ]
        .concat();
        assert_eq!(
            parse(&one_down),
            Some(CopiesFacts {
                bricks: 3,
                bricks_up: 2,
                to_heal: 12,
                split_brain: 1,
            })
        );
    }

    #[test]
    fn a_summary_without_bricks_or_with_garbage_counts_is_no_reading() {
        assert_eq!(parse("Volume flotilla does not exist\n"), None);
        assert_eq!(parse(""), None);
        let garbage = brick("10.77.0.11", "Connected", "many", "0");
        assert_eq!(parse(&garbage), None);
    }

    #[test]
    fn the_pool_counts_the_other_nodes_and_those_connected() {
        let list = "UUID\t\t\t\t\tHostname \tState\n\
            1b9a-11\t10.77.0.12\tConnected \n\
            2c8b-22\t10.77.0.13\tDisconnected \n\
            3d7c-33\tlocalhost \tConnected \n";
        assert_eq!(
            peers_of(list),
            PeersFacts {
                peers: 2,
                connected: 1
            }
        );
        assert_eq!(peers_of(""), PeersFacts::default());
    }
}

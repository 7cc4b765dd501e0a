//! The sync itself, for the agent's lifetime (whether the panel is reachable or not): the
//! primary takes a snapshot every sync interval and sends it; the standby listens on
//! [`SYNC_PORT`] and receives. One conversation at a time on each side; a role change waits for
//! the one under way ([`ROLE`]).
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use domain::standby::{SYNC_PORT, StandbyRole, parse_snapshot, snapshot_name};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::channel::{Channel, ChannelError, FRAME, Frame};
use super::{
    Disk, WANTED, Wanted, btrfs, clear_partial, complete, delete_subvolume, now_ms, prune, record,
    text,
};

/// Held while a role changes or a conversation runs.
pub(super) static ROLE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long connecting to the standby, and any one frame, may take.
const NET_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole transfer's bound (a large first copy over a slow link).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a node without a role looks whether it got one.
const IDLE: Duration = Duration::from_secs(1);

/// The primary's offer: what it is about to send.
#[derive(Debug, Serialize, Deserialize)]
struct Offer {
    epoch: u64,
    name: String,
    parent: Option<String>,
}

/// The standby's answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    /// Send; incrementally when the standby holds the parent.
    Go {
        incremental: bool,
    },
    Refused {
        reason: String,
    },
    /// The snapshot arrived complete and is kept.
    Stored,
    Failed {
        reason: String,
    },
}

async fn say<S>(ch: &mut Channel<S>, value: &impl Serialize) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let body = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    ch.send(&Frame::Message(body))
        .await
        .map_err(|e| e.to_string())?;
    ch.flush().await.map_err(|e| e.to_string())
}

async fn hear<S, T>(ch: &mut Channel<S>) -> Result<T, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: serde::de::DeserializeOwned,
{
    match tokio::time::timeout(NET_TIMEOUT, ch.receive()).await {
        Ok(Ok(Frame::Message(body))) => {
            serde_json::from_slice(&body).map_err(|e| format!("a message that does not parse: {e}"))
        }
        Ok(Ok(_)) => Err("a frame out of turn".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", NET_TIMEOUT.as_secs())),
    }
}

/// The kept role, when it is still `role` (read under [`ROLE`]).
fn still(state_dir: &std::path::Path, role: StandbyRole) -> Option<Wanted> {
    super::super::kept::load::<Wanted>(state_dir, WANTED).filter(|w| w.role == role)
}

/// Runs the sync for the agent's lifetime, as the kept role says.
pub async fn run(state_dir: PathBuf) {
    let mut listener: Option<TcpListener> = None;
    let mut next_ship = Instant::now();
    loop {
        let wanted: Option<Wanted> = super::super::kept::load(&state_dir, WANTED);
        match wanted {
            Some(w) if w.role == StandbyRole::Primary => {
                listener = None;
                let now = Instant::now();
                if now < next_ship {
                    tokio::time::sleep((next_ship - now).min(IDLE)).await;
                    continue;
                }
                next_ship = now + Duration::from_secs(u64::from(w.sync_secs.max(1)));
                // The role may have changed while a command held the lock: read it again.
                let _one = ROLE.lock().await;
                if let Some(w) = still(&state_dir, StandbyRole::Primary) {
                    // (Its outcome is in the facts.)
                    let _ = ship_once(&w, &Disk::node()).await;
                }
            }
            Some(w) => {
                if listener.is_none() {
                    match TcpListener::bind((IpAddr::from([0, 0, 0, 0]), SYNC_PORT)).await {
                        Ok(l) => listener = Some(l),
                        Err(e) => {
                            record(|p| {
                                p.error = Some(format!("cannot listen on {SYNC_PORT}: {e}"))
                            });
                            tokio::time::sleep(IDLE).await;
                            continue;
                        }
                    }
                }
                let Some(l) = listener.as_ref() else { continue };
                if let Ok(Ok((stream, from))) = tokio::time::timeout(IDLE, l.accept()).await {
                    let _one = ROLE.lock().await;
                    if let Some(w) = still(&state_dir, w.role) {
                        receive_once(&w, &Disk::node(), stream, from).await;
                    }
                }
            }
            None => {
                listener = None;
                tokio::time::sleep(IDLE).await;
            }
        }
    }
}

/// One snapshot to the standby; its outcome goes to the facts, and is the answer.
pub(super) async fn ship_once(w: &Wanted, disk: &Disk) -> Result<(), String> {
    let started = Instant::now();
    // After a boot the bind mount is gone: the primary's data is mounted again first.
    let shipped = match super::become_primary(disk).await {
        Ok(()) => ship(w, disk).await,
        Err(e) => Err(e),
    };
    match shipped {
        Ok((at, bytes)) => {
            record(|p| {
                p.synced_at_ms = Some(at);
                p.last_bytes = bytes;
                p.last_took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                p.error = None;
            });
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "the async volume's sync failed");
            record(|p| p.error = Some(e.clone()));
            Err(e)
        }
    }
}

/// Takes a snapshot and sends it: the time it was taken and the bytes sent, once the standby
/// confirmed it complete. The snapshot is deleted when it did not arrive.
async fn ship(w: &Wanted, disk: &Disk) -> Result<(u64, u64), String> {
    let key = w.key()?;
    let peer: IpAddr = w
        .peer
        .as_deref()
        .and_then(|p| p.parse().ok())
        .ok_or("the primary has no standby address")?;
    let parent = Disk::snapshots(&disk.sent()).last().cloned();
    let at = now_ms();
    let name = snapshot_name(w.epoch, at);
    let snapshot = disk.sent().join(&name);
    btrfs(&[
        "subvolume",
        "snapshot",
        "-r",
        text(&disk.live())?,
        text(&snapshot)?,
    ])
    .await?;
    let sent = tokio::time::timeout(
        TRANSFER_TIMEOUT,
        send(w.epoch, &key, peer, disk, &name, parent.as_deref()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "the transfer took over {} s",
            TRANSFER_TIMEOUT.as_secs()
        ))
    });
    match sent {
        Ok(bytes) => {
            prune(&disk.sent(), Some(&name)).await?;
            Ok((at, bytes))
        }
        Err(e) => {
            delete_subvolume(&snapshot).await?;
            // The standby could not apply what it got (its copy of the parent differs, say):
            // the next one goes whole. A transfer that only broke off keeps the parent.
            if e.starts_with(NOT_KEPT) {
                prune(&disk.sent(), None).await?;
            }
            Err(e)
        }
    }
}

/// How a failure the standby reported after the transfer begins.
const NOT_KEPT: &str = "the standby could not keep it";

async fn send(
    epoch: u64,
    key: &[u8],
    peer: IpAddr,
    disk: &Disk,
    name: &str,
    parent: Option<&str>,
) -> Result<u64, String> {
    let address = SocketAddr::new(peer, SYNC_PORT);
    let stream = tokio::time::timeout(NET_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| {
            format!(
                "the standby {peer} did not answer within {} s",
                NET_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("the standby {peer}: {e}"))?;
    let mut ch = tokio::time::timeout(NET_TIMEOUT, Channel::client(stream, key))
        .await
        .map_err(|_| "the standby did not finish the handshake".to_owned())?
        .map_err(|e| e.to_string())?;
    let offer = Offer {
        epoch,
        name: name.to_owned(),
        parent: parent.map(str::to_owned),
    };
    say(&mut ch, &offer).await?;
    let incremental = match hear(&mut ch).await? {
        Answer::Go { incremental } => incremental,
        Answer::Refused { reason } => return Err(format!("the standby refused: {reason}")),
        other => return Err(format!("the standby answered out of turn: {other:?}")),
    };
    let snapshot = disk.sent().join(name);
    let mut args = vec!["send".to_owned(), "-q".to_owned()];
    if let (true, Some(p)) = (incremental, parent) {
        args.extend(["-p".to_owned(), text(&disk.sent().join(p))?.to_owned()]);
    }
    args.push(text(&snapshot)?.to_owned());
    let mut child = tokio::process::Command::new("btrfs")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("btrfs send did not start: {e}"))?;
    let mut out = child.stdout.take().ok_or("btrfs send has no output")?;
    let mut bytes = 0u64;
    let mut buf = vec![0u8; FRAME];
    loop {
        let n = out
            .read(&mut buf)
            .await
            .map_err(|e| format!("btrfs send: {e}"))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        ch.send(&Frame::Data(buf[..n].to_vec()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let done = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !done.status.success() {
        // No end frame: the standby discards what it got.
        return Err(format!(
            "btrfs send: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    ch.send(&Frame::End).await.map_err(|e| e.to_string())?;
    ch.flush().await.map_err(|e| e.to_string())?;
    match hear(&mut ch).await? {
        Answer::Stored => Ok(bytes),
        Answer::Failed { reason } => Err(format!("{NOT_KEPT}: {reason}")),
        other => Err(format!("the standby answered out of turn: {other:?}")),
    }
}

/// One conversation with the primary; a failure is logged and goes to the facts.
async fn receive_once(w: &Wanted, disk: &Disk, stream: TcpStream, from: SocketAddr) {
    match tokio::time::timeout(TRANSFER_TIMEOUT, receive(w, disk, stream)).await {
        // No transfer: the primary's fence trying the port, or a caller without the key.
        Ok(Ok(None)) => return,
        Ok(Ok(Some(at))) => record(|p| {
            p.synced_at_ms = Some(at);
            p.error = None;
        }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, %from, "a snapshot from the primary was not kept");
            record(|p| p.error = Some(e));
        }
        Err(_) => {
            let e = format!(
                "a transfer from {from} took over {} s",
                TRANSFER_TIMEOUT.as_secs()
            );
            record(|p| p.error = Some(e));
        }
    }
    if let Err(e) = clear_partial(disk).await {
        tracing::warn!(error = %e, "a transfer that did not complete is not cleared");
    }
}

/// Receives one snapshot: kept only once the sealed end frame came, `btrfs receive` succeeded
/// and left it read-only; then older snapshots go (a cut-off one is deleted by the caller). Its
/// time, when kept; `None` when the caller did not get through the handshake (no transfer).
async fn receive(w: &Wanted, disk: &Disk, stream: TcpStream) -> Result<Option<u64>, String> {
    let key = w.key()?;
    let mut ch = match tokio::time::timeout(NET_TIMEOUT, Channel::server(stream, &key)).await {
        Ok(Ok(ch)) => ch,
        // Gone before the handshake: the primary's fence only tries whether the port answers.
        Ok(Err(ChannelError::Io(_))) | Err(_) => return Ok(None),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a connection to the sync port was refused");
            return Ok(None);
        }
    };
    let offer: Offer = hear(&mut ch).await?;
    let Some((epoch, at)) = parse_snapshot(&offer.name).filter(|(e, _)| *e == offer.epoch) else {
        say(
            &mut ch,
            &Answer::Refused {
                reason: format!("not a snapshot name: {:?}", offer.name),
            },
        )
        .await?;
        return Err(format!("a bad snapshot name {:?}", offer.name));
    };
    if epoch < w.epoch {
        let reason = format!("epoch {epoch} is older than this node's {}", w.epoch);
        say(
            &mut ch,
            &Answer::Refused {
                reason: reason.clone(),
            },
        )
        .await?;
        return Err(format!("an old primary's snapshot was refused: {reason}"));
    }
    let parent = offer
        .parent
        .as_deref()
        .filter(|p| parse_snapshot(p).is_some())
        .map(|p| disk.received().join(p));
    let incremental = match &parent {
        Some(p) => complete(p).await,
        None => false,
    };
    clear_partial(disk).await?;
    say(&mut ch, &Answer::Go { incremental }).await?;
    let mut child = tokio::process::Command::new("btrfs")
        .args(["receive", "-q", text(&disk.received())?])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("btrfs receive did not start: {e}"))?;
    let mut input = child.stdin.take().ok_or("btrfs receive has no input")?;
    loop {
        match tokio::time::timeout(NET_TIMEOUT, ch.receive()).await {
            Ok(Ok(Frame::Data(b))) => input
                .write_all(&b)
                .await
                .map_err(|e| format!("btrfs receive: {e}"))?,
            Ok(Ok(Frame::End)) => break,
            Ok(Ok(Frame::Message(_))) => return Err("a message inside the stream".into()),
            Ok(Err(e)) => return Err(format!("the stream broke off: {e}")),
            Err(_) => return Err("the stream stalled".into()),
        }
    }
    drop(input);
    let done = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if !done.status.success() {
        let words = String::from_utf8_lossy(&done.stderr);
        return not_kept(&mut ch, format!("btrfs receive: {}", words.trim())).await;
    }
    if !complete(&disk.received().join(&offer.name)).await {
        return not_kept(&mut ch, "btrfs receive left no complete snapshot".into()).await;
    }
    prune(&disk.received(), Some(&offer.name)).await?;
    say(&mut ch, &Answer::Stored).await?;
    Ok(Some(at))
}

/// Tells the primary its snapshot was not kept, and why; the same reason is the error here.
async fn not_kept<T>(ch: &mut Channel<TcpStream>, reason: String) -> Result<T, String> {
    say(
        ch,
        &Answer::Failed {
            reason: reason.clone(),
        },
    )
    .await?;
    Err(reason)
}

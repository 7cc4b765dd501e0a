//! The async-standby cluster volume of a two-node cluster, on this node. The primary's data is a
//! btrfs subvolume (`live`) on the snapshots disk, bind-mounted at [`VOLUMES_DIR`] where the
//! apps' bind mounts point; every sync interval it takes a read-only snapshot and ships it to the
//! standby ([`ship`]), incrementally from the last one the standby confirmed. The standby keeps
//! a snapshot only once it arrived complete (the stream's sealed end frame, then `btrfs receive`
//! succeeded and left it read-only): it takes over only with complete data. The role and epoch the panel gave survive a restart of the agent (`standby.json`).
//!
//! On the snapshots disk ([`SNAPSHOTS_DIR`]):
//! * `live`: the primary's writable data;
//! * `sent/<name>`: the primary's snapshots; the standby's newest is kept as the next parent;
//! * `received/<name>`: the standby's snapshots: complete once `btrfs receive` made it read-only
//!   at the end of a transfer (the newest complete one is kept; one that is not is a transfer
//!   under way or cut off, and goes);
//! * `conflicts/<name>`: what an old primary wrote after it lost its role, kept, never merged.
pub mod channel;
mod ship;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use domain::standby::{KEY_BYTES, StandbyFacts, StandbyRole, parse_snapshot, snapshot_name};
use domain::storage::{SNAPSHOTS_DIR, VOLUMES_DIR};
use serde::{Deserialize, Serialize};

use super::mounted;
use super::volume::call;
use crate::docker::Engine;

pub use ship::run;

/// The role the panel gave this node, kept across restarts.
const WANTED: &str = "standby.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wanted {
    role: StandbyRole,
    epoch: u64,
    /// The standby's address (the primary ships there).
    peer: Option<String>,
    sync_secs: u32,
    /// base64 of the sync key.
    key: String,
}

impl Wanted {
    fn key(&self) -> Result<Vec<u8>, String> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(&self.key)
            .map_err(|_| "the sync key is not base64".to_owned())?;
        (key.len() == KEY_BYTES)
            .then_some(key)
            .ok_or_else(|| format!("the sync key is not {KEY_BYTES} bytes"))
    }
}

fn load_wanted(state_dir: &Path) -> Option<Wanted> {
    super::kept::load(state_dir, WANTED)
}

/// The standby's sync port, when this node is the async volume's primary (its fence keeps the
/// lease while the standby or the panel answers).
pub fn fence_peer(state_dir: &Path) -> Option<std::net::SocketAddr> {
    let wanted = load_wanted(state_dir).filter(|w| w.role == StandbyRole::Primary)?;
    let ip: std::net::IpAddr = wanted.peer?.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, domain::standby::SYNC_PORT))
}

/// The places on the snapshots disk (a struct, so that tests can use a directory of their own).
#[derive(Clone, Debug)]
struct Disk {
    root: PathBuf,
}

impl Disk {
    fn node() -> Self {
        Self {
            root: PathBuf::from(SNAPSHOTS_DIR),
        }
    }
    fn live(&self) -> PathBuf {
        self.root.join("live")
    }
    fn sent(&self) -> PathBuf {
        self.root.join("sent")
    }
    fn received(&self) -> PathBuf {
        self.root.join("received")
    }
    fn conflicts(&self) -> PathBuf {
        self.root.join("conflicts")
    }

    /// The snapshots in `dir` by name, oldest first (by their time); other entries are left out.
    fn snapshots(dir: &Path) -> Vec<String> {
        let mut names: Vec<(u64, String)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                parse_snapshot(&name).map(|(_, at)| (at, name))
            })
            .collect();
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }
}

/// `path` is a btrfs subvolume (its inode is 256) — only then is it deleted as one.
fn is_subvolume(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

async fn btrfs(args: &[&str]) -> Result<String, String> {
    call("btrfs", args).await
}

fn text(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("not a UTF-8 path: {}", path.display()))
}

async fn delete_subvolume(path: &Path) -> Result<(), String> {
    if is_subvolume(path) {
        btrfs(&["subvolume", "delete", text(path)?]).await?;
    }
    Ok(())
}

/// Deletes the snapshots in `dir` other than `keep`, and any transfer left in it.
async fn prune(dir: &Path, keep: Option<&str>) -> Result<(), String> {
    for name in Disk::snapshots(dir) {
        if Some(name.as_str()) != keep {
            delete_subvolume(&dir.join(&name)).await?;
        }
    }
    Ok(())
}

/// Whether a received snapshot is complete: `btrfs receive` makes it read-only only at the end
/// of a transfer that succeeded.
async fn complete(path: &Path) -> bool {
    match text(path) {
        Ok(p) => btrfs(&["property", "get", "-ts", p, "ro"])
            .await
            .is_ok_and(|out| out.trim() == "ro=true"),
        Err(_) => false,
    }
}

/// The complete snapshots received, oldest first.
async fn complete_snapshots(disk: &Disk) -> Vec<String> {
    let mut out = vec![];
    for name in Disk::snapshots(&disk.received()) {
        if complete(&disk.received().join(&name)).await {
            out.push(name);
        }
    }
    out
}

/// Deletes what a transfer that did not complete left.
async fn clear_partial(disk: &Disk) -> Result<(), String> {
    for name in Disk::snapshots(&disk.received()) {
        let path = disk.received().join(&name);
        if !complete(&path).await {
            delete_subvolume(&path).await?;
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether [`VOLUMES_DIR`] holds a mount (the primary's bind mount of `live`).
async fn volumes_mounted() -> Result<Option<String>, String> {
    let mountinfo = tokio::fs::read_to_string("/proc/self/mountinfo")
        .await
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    Ok(mounted(&mountinfo, VOLUMES_DIR).map(|(fs, _)| fs))
}

/// Holds the role lock for a role change, the sync's progress under the old role forgotten
/// (it says nothing of the new one).
async fn changing_role() -> tokio::sync::MutexGuard<'static, ()> {
    let one = ship::ROLE.lock().await;
    record(|p| *p = Progress::default());
    one
}

/// Makes this node the primary of `epoch` (see [`domain::storage::StorageCommand::Primary`]).
pub async fn primary(
    state_dir: &Path,
    epoch: u64,
    peer: &str,
    key: &str,
    sync_secs: u32,
) -> Result<(), String> {
    let _one = changing_role().await;
    let peer = peer
        .parse::<std::net::IpAddr>()
        .map_err(|_| format!("not an IP address: {peer:?}"))?;
    let wanted = Wanted {
        role: StandbyRole::Primary,
        epoch,
        peer: Some(peer.to_string()),
        sync_secs: sync_secs.max(1),
        key: key.to_owned(),
    };
    wanted.key()?;
    become_primary(&Disk::node()).await?;
    super::kept::save(state_dir, WANTED, &wanted)
}

/// Makes this node the standby of `epoch` (see [`domain::storage::StorageCommand::Standby`]).
pub async fn standby(state_dir: &Path, epoch: u64, key: &str) -> Result<(), String> {
    let _one = changing_role().await;
    let wanted = Wanted {
        role: StandbyRole::Standby,
        epoch,
        peer: None,
        sync_secs: 0,
        key: key.to_owned(),
    };
    wanted.key()?;
    let old = load_wanted(state_dir).map_or(0, |w| w.epoch);
    become_standby(&Disk::node(), old).await?;
    super::kept::save(state_dir, WANTED, &wanted)
}

/// Drops either role and the volume's data on this node.
pub async fn stop(state_dir: &Path) -> Result<(), String> {
    let _one = changing_role().await;
    super::kept::forget(state_dir, WANTED)?;
    off(&Disk::node()).await
}

/// How long the containers on the volume may take to stop after the node was drained; then
/// they are killed (nothing may write once the last snapshot is taken).
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The primary hands over (see [`domain::storage::StorageCommand::Handover`]): once no
/// container here uses the volume, a last snapshot goes to the standby; only once the standby
/// kept it complete is the live data dropped and this node a standby of the same epoch (the
/// panel then promotes the standby with that snapshot, and gives this node the new epoch).
pub async fn hand_over(state_dir: &Path, engine: &Engine) -> Result<(), String> {
    let _one = ship::ROLE.lock().await;
    let Some(wanted) = load_wanted(state_dir) else {
        return Err("this node has no role in an async cluster volume".into());
    };
    if wanted.role == StandbyRole::Standby {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    loop {
        let users = engine
            .users_of(VOLUMES_DIR)
            .await
            .map_err(|e| format!("cannot list the containers: {e}"))?;
        if users.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let killed = engine
                .kill_users_of(VOLUMES_DIR)
                .await
                .map_err(|e| format!("cannot stop the containers on the volume: {e}"))?;
            tracing::warn!(
                ?killed,
                "handing over: killed the containers still on the volume"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let disk = Disk::node();
    ship::ship_once(&wanted, &disk)
        .await
        .map_err(|e| format!("the last snapshot did not reach the standby: {e}"))?;
    // The role first: cut off after it, the live data left is kept as a conflict snapshot when
    // the panel makes this node the standby; before it, a primary without live data would
    // start an empty one.
    let standby = Wanted {
        role: StandbyRole::Standby,
        peer: None,
        sync_secs: 0,
        ..wanted
    };
    super::kept::save(state_dir, WANTED, &standby)?;
    unmount_volumes().await?;
    delete_subvolume(&disk.live()).await?;
    prune(&disk.sent(), None).await?;
    tracing::info!("handed the async volume over: its last snapshot is on the standby");
    Ok(())
}

/// The live data: kept when it is there, else a writable copy of the newest complete snapshot
/// received (the standby takes over), else a new volume; then mounted at [`VOLUMES_DIR`].
async fn become_primary(disk: &Disk) -> Result<(), String> {
    let live = disk.live();
    if !is_subvolume(&live) {
        match complete_snapshots(disk).await.last() {
            Some(newest) => {
                let from = disk.received().join(newest);
                btrfs(&["subvolume", "snapshot", text(&from)?, text(&live)?]).await?;
                tracing::warn!(snapshot = %newest, "took over with the newest complete snapshot");
            }
            None => {
                btrfs(&["subvolume", "create", text(&live)?]).await?;
            }
        }
    }
    for dir in [disk.sent(), disk.received()] {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match volumes_mounted().await? {
        Some(fs) if fs == "btrfs" => Ok(()),
        Some(fs) => Err(format!("{VOLUMES_DIR} holds another mount ({fs})")),
        None => {
            tokio::fs::create_dir_all(VOLUMES_DIR)
                .await
                .map_err(|e| format!("{VOLUMES_DIR}: {e}"))?;
            call("mount", &["--bind", text(&live)?, VOLUMES_DIR])
                .await
                .map(drop)
        }
    }
}

/// Nothing live here any more: what an old primary holds is kept as a conflict snapshot, its
/// own snapshots go (they descend from data the new primary does not have).
async fn become_standby(disk: &Disk, old_epoch: u64) -> Result<(), String> {
    unmount_volumes().await?;
    let live = disk.live();
    if is_subvolume(&live) {
        std::fs::create_dir_all(disk.conflicts()).map_err(|e| format!("conflicts: {e}"))?;
        let kept = disk.conflicts().join(snapshot_name(old_epoch, now_ms()));
        btrfs(&["subvolume", "snapshot", "-r", text(&live)?, text(&kept)?]).await?;
        delete_subvolume(&live).await?;
        tracing::warn!(conflict = %kept.display(), "the old primary's data is kept as a conflict snapshot");
    }
    prune(&disk.sent(), None).await?;
    std::fs::create_dir_all(disk.received()).map_err(|e| format!("received: {e}"))?;
    clear_partial(disk).await
}

async fn unmount_volumes() -> Result<(), String> {
    if volumes_mounted().await?.as_deref() == Some("btrfs")
        && let Err(e) = call("umount", &[VOLUMES_DIR]).await
    {
        // Busy (a task still uses it): detach it now, it goes when free.
        tracing::warn!(error = %e, "unmounting the async volume lazily");
        call("umount", &["-l", VOLUMES_DIR]).await?;
    }
    Ok(())
}

async fn off(disk: &Disk) -> Result<(), String> {
    unmount_volumes().await?;
    delete_subvolume(&disk.live()).await?;
    prune(&disk.sent(), None).await?;
    prune(&disk.received(), None).await?;
    prune(&disk.conflicts(), None).await
}

/// The latest state of the sync, for the facts.
static LATEST: Mutex<Option<Progress>> = Mutex::new(None);

/// What the sync loop last did.
#[derive(Clone, Debug, Default)]
struct Progress {
    synced_at_ms: Option<u64>,
    last_bytes: u64,
    last_took_ms: u64,
    error: Option<String>,
}

fn record(f: impl FnOnce(&mut Progress)) {
    let mut latest = LATEST.lock().unwrap_or_else(|p| p.into_inner());
    f(latest.get_or_insert_with(Progress::default));
}

/// The async volume on this node (reported with the storage facts): `None` without a role.
pub fn facts(state_dir: &Path) -> Option<StandbyFacts> {
    let wanted = load_wanted(state_dir)?;
    let disk = Disk::node();
    let progress = LATEST
        .lock()
        .map(|p| p.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
        .unwrap_or_default();
    // Before the first sync of this run, the newest snapshot on the disk says it.
    let on_disk = match wanted.role {
        StandbyRole::Primary => Disk::snapshots(&disk.sent()).last().cloned(),
        StandbyRole::Standby => Disk::snapshots(&disk.received()).last().cloned(),
    }
    .and_then(|n| parse_snapshot(&n))
    .map(|(_, at)| at);
    Some(StandbyFacts {
        role: wanted.role,
        epoch: wanted.epoch,
        synced_at_ms: progress.synced_at_ms.or(on_disk),
        last_bytes: progress.last_bytes,
        last_took_ms: progress.last_took_ms,
        error: progress.error,
        conflicts: Disk::snapshots(&disk.conflicts()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_snapshot_names_are_listed_and_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["e2-300", "e1-100", ".hidden", "notes", "e1-200"] {
            std::fs::create_dir(dir.path().join(name)).expect("dir");
        }
        assert_eq!(Disk::snapshots(dir.path()), ["e1-100", "e1-200", "e2-300"]);
        assert!(Disk::snapshots(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_role_is_kept_and_a_bad_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; KEY_BYTES]);
        let wanted = Wanted {
            role: StandbyRole::Primary,
            epoch: 4,
            peer: Some("10.77.0.12".into()),
            sync_secs: 5,
            key,
        };
        super::super::kept::save(dir.path(), WANTED, &wanted).expect("save");
        assert_eq!(load_wanted(dir.path()), Some(wanted.clone()));
        assert_eq!(wanted.key().map(|k| k.len()), Ok(KEY_BYTES));
        let short = Wanted {
            key: base64::engine::general_purpose::STANDARD.encode([7u8; 8]),
            ..wanted
        };
        assert!(short.key().is_err());
    }
}

//! The cluster volume's FUSE mount on this node: mounted on the panel's word and kept mounted
//! (across restarts, and again when its client died), unmounted, and the apps' directories made
//! on it. `mount` and `umount` run in child processes with a timeout.
use std::path::Path;
use std::time::Duration;

use domain::storage::VOLUMES_DIR;
use serde::{Deserialize, Serialize};

use super::volume::{addresses_of, call, checked_name};
use super::{Probe, mount_live, mounted, probe_mount};
use crate::docker::Engine;

/// How long a new mount may take to answer.
const SETTLE: Duration = Duration::from_secs(30);

/// Mounting and unmounting one at a time (a command and [`keep_mounted`] could otherwise stack
/// two FUSE mounts on the volumes directory).
static MOUNTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The file in the agent's state directory that says which volume this node keeps mounted.
const WANTED: &str = "volume-mount.json";

/// The mount this node keeps (written when the panel's mount succeeded, removed on unmount).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wanted {
    volume: String,
    servers: Vec<String>,
}

fn load_wanted(state_dir: &Path) -> Option<Wanted> {
    super::kept::load(state_dir, WANTED)
}

/// The servers of the volume this node keeps mounted (none when it keeps none).
pub fn load_servers(state_dir: &Path) -> Vec<String> {
    load_wanted(state_dir)
        .map(|w| w.servers)
        .unwrap_or_default()
}

fn save_wanted(state_dir: &Path, wanted: &Wanted) -> Result<(), String> {
    super::kept::save(state_dir, WANTED, wanted)
}

fn forget_wanted(state_dir: &Path) -> Result<(), String> {
    super::kept::forget(state_dir, WANTED)
}

/// Mounts the cluster volume again when this node keeps one and it is missing or does not
/// answer: after a boot (mounts do not survive one) or when its FUSE client died. Skipped while
/// a mount or unmount runs. A dead mount replaced leaves the running containers that use it with
/// a stale bind mount of the old one: they are killed, and Swarm starts them again on the new
/// mount.
pub async fn keep_mounted(state_dir: &Path, engine: &Engine) {
    let Some(wanted) = load_wanted(state_dir) else {
        return;
    };
    // Cut off: nothing to mount from, and nothing may write there.
    if super::fence::fenced() {
        return;
    }
    let Ok(_one) = MOUNTS.try_lock() else {
        return;
    };
    match mount(&wanted.volume, &wanted.servers).await {
        Ok(Mounted::Replaced) => match engine.kill_users_of(VOLUMES_DIR).await {
            Ok(killed) => tracing::warn!(
                ?killed,
                "the cluster volume was mounted again: restarted the containers that used the old mount"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not restart the containers that used the old mount")
            }
        },
        Ok(Mounted::Already | Mounted::Fresh) => {}
        Err(e) => tracing::warn!(error = %e, "the cluster volume could not be mounted again"),
    }
}

/// What [`mount`] did.
#[derive(Debug, PartialEq, Eq)]
enum Mounted {
    /// It was mounted and answered.
    Already,
    /// Nothing was mounted: it is now.
    Fresh,
    /// Its FUSE client was gone: the dead mount was replaced by a new one.
    Replaced,
}

/// Mounts the volume from these servers, and keeps it mounted (across restarts).
pub(super) async fn mount_kept(
    state_dir: &Path,
    volume: &str,
    servers: &[String],
) -> Result<(), String> {
    let wanted = Wanted {
        volume: checked_name(volume)?.to_owned(),
        servers: addresses_of(servers)?,
    };
    let _one = MOUNTS.lock().await;
    mount(&wanted.volume, &wanted.servers).await?;
    save_wanted(state_dir, &wanted)
}

/// Unmounts the volume, and no longer keeps it mounted.
pub(super) async fn unmount_kept(state_dir: &Path) -> Result<(), String> {
    let _one = MOUNTS.lock().await;
    forget_wanted(state_dir)?;
    unmount().await
}

async fn mount(volume: &str, servers: &[String]) -> Result<Mounted, String> {
    let Some((first, backups)) = servers.split_first() else {
        return Err("no server to mount the volume from".into());
    };
    let source = format!("{first}:/{volume}");
    let mountinfo = tokio::fs::read_to_string("/proc/self/mountinfo")
        .await
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let mut done = Mounted::Fresh;
    match mounted(&mountinfo, VOLUMES_DIR) {
        Some((fs, _)) if fs.starts_with("fuse") => match probe_mount().await {
            Probe::Live => return Ok(Mounted::Already),
            // Its servers are out of reach for now: the client reconnects by itself, and a new
            // mount would leave the running containers with a stale one.
            Probe::Hung => {
                return Err(format!(
                    "the volume mounted at {VOLUMES_DIR} does not answer (left as it is)"
                ));
            }
            // A dead client's mount ("Transport endpoint is not connected"): replace it.
            Probe::Failed => {
                tracing::warn!("the volume mount's client is gone: mounting it again");
                call("umount", &["-l", VOLUMES_DIR]).await?;
                done = Mounted::Replaced;
            }
        },
        Some((fs, source)) => {
            return Err(format!(
                "{VOLUMES_DIR} holds another mount ({fs} from {source})"
            ));
        }
        None => {}
    }
    tokio::fs::create_dir_all(VOLUMES_DIR)
        .await
        .map_err(|e| format!("{VOLUMES_DIR}: {e}"))?;
    let options = if backups.is_empty() {
        String::new()
    } else {
        format!("backup-volfile-servers={}", backups.join(":"))
    };
    let mut args = vec!["-t", "glusterfs"];
    if !options.is_empty() {
        args.extend(["-o", options.as_str()]);
    }
    args.extend([source.as_str(), VOLUMES_DIR]);
    call("mount", &args).await?;
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !mount_live().await {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the volume mounted at {VOLUMES_DIR} does not answer after {} s",
                SETTLE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(done)
}

async fn unmount() -> Result<(), String> {
    let mountinfo = tokio::fs::read_to_string("/proc/self/mountinfo")
        .await
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    match mounted(&mountinfo, VOLUMES_DIR) {
        Some((fs, _)) if fs.starts_with("fuse") => {
            if let Err(e) = call("umount", &[VOLUMES_DIR]).await {
                // Busy (a container still uses it) or dead: detach it now, it goes when free.
                tracing::warn!(error = %e, "unmounting the volume lazily");
                call("umount", &["-l", VOLUMES_DIR]).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Creates the apps' directories (`stack/volume`) on the cluster volume, refused when it is not
/// mounted here and answering (they would land on the node's own disk, under the mount point).
/// `mkdir` runs in a child process: the volume may hang.
pub async fn make_dirs(dirs: &[String]) -> Result<(), String> {
    if dirs.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = dirs
        .iter()
        .map(|d| {
            let plain = d.split('/').count() == 2
                && d.split('/').all(|part| {
                    !part.is_empty()
                        && part != "."
                        && part != ".."
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                });
            plain
                .then(|| format!("{VOLUMES_DIR}/{d}"))
                .ok_or_else(|| format!("not a volume directory: {d:?}"))
        })
        .collect::<Result<_, String>>()?;
    let mountinfo = tokio::fs::read_to_string("/proc/self/mountinfo")
        .await
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    // The replicated volume (FUSE) or the async primary's data (btrfs, bind-mounted).
    let mounted = mounted(&mountinfo, VOLUMES_DIR)
        .is_some_and(|(fs, _)| fs.starts_with("fuse") || fs == "btrfs");
    if !mounted || !mount_live().await {
        return Err(format!(
            "the cluster volume is not mounted and answering at {VOLUMES_DIR} on this node"
        ));
    }
    let mut args = vec!["-p"];
    args.extend(paths.iter().map(String::as_str));
    call("mkdir", &args).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_app_directories_are_made_and_only_on_the_mounted_volume() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(make_dirs(&[])), Ok(()));
        for bad in [
            "../x",
            "shop/../../etc",
            "shop",
            "a/b/c",
            "shop/ da ta",
            "/etc/x",
        ] {
            let e = rt.block_on(make_dirs(&[bad.to_owned()]));
            assert!(
                e.is_err_and(|e| e.contains("not a volume directory")),
                "{bad}"
            );
        }
        // This machine has no cluster volume mounted: nothing is made on its own disk.
        let e = rt.block_on(make_dirs(&["shop/data".to_owned()]));
        assert!(e.is_err_and(|e| e.contains("not mounted")));
    }

    #[test]
    fn the_kept_mount_survives_a_restart_and_goes_with_an_unmount() {
        let dir = std::env::temp_dir().join(format!("flotilla-wanted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert_eq!(load_wanted(&dir), None);
        let wanted = Wanted {
            volume: "flotilla".into(),
            servers: vec!["10.77.0.11".into()],
        };
        save_wanted(&dir, &wanted).expect("saved");
        assert_eq!(load_wanted(&dir), Some(wanted));
        forget_wanted(&dir).expect("forgotten");
        forget_wanted(&dir).expect("forgetting twice is fine");
        assert_eq!(load_wanted(&dir), None);
        std::fs::write(dir.join(WANTED), "{garbage").expect("write");
        assert_eq!(load_wanted(&dir), None, "unreadable: nothing kept");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}

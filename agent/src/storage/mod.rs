//! Cluster volumes on this node: what it offers for them (its storage facts) and the commands
//! that set the cluster's volume up and take it down ([`volume`]). GlusterFS's and btrfs' tools,
//! and every look at a FUSE mount, only ever run in a child process with a timeout: a hung
//! glusterd or FUSE mount must never block the agent.
pub mod beat;
pub mod copies;
pub mod fence;
mod kept;
mod mount;
pub mod sizes;
pub mod standby;
mod volume;

use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use domain::storage::{
    BRICKS_DIR, DiskFacts, MountFacts, SNAPSHOTS_DIR, StorageCommand, StorageFacts, VOLUMES_DIR,
};

pub use mount::{keep_mounted, make_dirs};

use crate::docker::Engine;

/// Runs one storage command; `Err` carries what the node answers (the tools' own words).
pub async fn execute(
    command: &StorageCommand,
    state_dir: &Path,
    engine: &Engine,
) -> Result<(), String> {
    match command {
        StorageCommand::Peers { addresses } => volume::join_peers(addresses).await,
        StorageCommand::CreateVolume { volume, bricks } => volume::create(volume, bricks).await,
        StorageCommand::Mount { volume, servers } => {
            mount::mount_kept(state_dir, volume, servers).await
        }
        StorageCommand::Unmount => mount::unmount_kept(state_dir).await,
        StorageCommand::DeleteVolume { volume, peers } => volume::delete(volume, peers).await,
        StorageCommand::ClearBrick { volume } => volume::clear(volume).await,
        StorageCommand::MoveCopy { volume, from, to } => volume::move_copy(volume, from, to).await,
        StorageCommand::Primary {
            epoch,
            peer,
            key,
            sync_secs,
        } => standby::primary(state_dir, *epoch, peer, key, *sync_secs).await,
        StorageCommand::Standby { epoch, key } => standby::standby(state_dir, *epoch, key).await,
        StorageCommand::StandbyOff => standby::stop(state_dir).await,
        StorageCommand::Handover => standby::hand_over(state_dir, engine).await,
        StorageCommand::MakeDirs { dirs } => make_dirs(dirs).await,
    }
}

/// How long a storage tool may take before it is killed and counted as not answering.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed tools' versions, read once they are found (they do not change while the agent
/// runs; a tool installed later is found at the next reading).
static TOOLS: Mutex<Tools> = Mutex::new(Tools {
    gluster: None,
    btrfs: false,
});

#[derive(Clone)]
struct Tools {
    gluster: Option<String>,
    btrfs: bool,
}

async fn tools() -> Tools {
    let known = TOOLS
        .lock()
        .map(|t| t.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    if known.gluster.is_some() && known.btrfs {
        return known;
    }
    let gluster = match known.gluster {
        Some(v) => Some(v),
        None => run("gluster", &["--version"])
            .await
            .and_then(|out| gluster_version(&out)),
    };
    let btrfs = known.btrfs || run("btrfs", &["--version"]).await.is_some();
    let found = Tools { gluster, btrfs };
    if let Ok(mut t) = TOOLS.lock() {
        *t = found.clone();
    }
    found
}

/// What this node offers for cluster volumes now, and the state of its volume mount.
pub async fn facts(state_dir: &Path) -> StorageFacts {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let tools = tools().await;
    let glusterd = tools.gluster.is_some()
        && run("gluster", &["--mode=script", "pool", "list"])
            .await
            .is_some();
    let now = beat::read(&mountinfo, standby::facts(state_dir)).await;
    now.over(&StorageFacts {
        gluster: tools.gluster,
        glusterd,
        fuse: Path::new("/dev/fuse").exists(),
        btrfs_tools: tools.btrfs,
        bricks: disk(&mountinfo, BRICKS_DIR),
        snapshots: disk(&mountinfo, SNAPSHOTS_DIR),
        ..StorageFacts::default()
    })
}

/// The volume mounted at [`VOLUMES_DIR`] and whether it answers: the replicated volume (FUSE),
/// or the async primary's data (a bind mount of btrfs).
async fn mount_facts(mountinfo: &str) -> Option<MountFacts> {
    match mounted(mountinfo, VOLUMES_DIR) {
        Some((fs, source)) if fs.starts_with("fuse") || fs == "btrfs" => Some(MountFacts {
            source,
            live: mount_live().await,
        }),
        _ => None,
    }
}

/// The volume mount answers: `stat` of its root, in a child process killed after
/// [`TOOL_TIMEOUT`] (a FUSE mount whose servers vanished blocks whoever looks at it).
async fn mount_live() -> bool {
    probe_mount().await == Probe::Live
}

/// What a look at the volume mount found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Live,
    /// `stat` failed at once: the FUSE client is gone ("Transport endpoint is not connected").
    Failed,
    /// `stat` did not return within [`TOOL_TIMEOUT`]: its servers may be out of reach for now.
    Hung,
}

async fn probe_mount() -> Probe {
    match bounded("stat", &["-c", "%i", VOLUMES_DIR], TOOL_TIMEOUT).await {
        Ran::Done(_) => Probe::Live,
        Ran::Failed(_) => Probe::Failed,
        Ran::TimedOut => Probe::Hung,
    }
}

/// How a storage tool run as a child process ended.
enum Ran {
    /// It succeeded: its standard output.
    Done(String),
    /// It failed or did not start: its words (standard error, else its output).
    Failed(String),
    /// It did not end within its time (it is killed).
    TimedOut,
}

/// Runs `program` in a child process that is killed after `timeout`: the one way the agent runs
/// GlusterFS's and btrfs' tools, `mount` and the looks at the FUSE mount.
async fn bounded(program: &str, args: &[&str], timeout: Duration) -> Ran {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, out).await {
        Ok(Ok(out)) if out.status.success() => {
            Ran::Done(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let words = if err.trim().is_empty() {
                String::from_utf8_lossy(&out.stdout)
            } else {
                err
            };
            Ran::Failed(words.trim().to_owned())
        }
        Ok(Err(e)) => Ran::Failed(format!("did not start: {e}")),
        Err(_) => Ran::TimedOut,
    }
}

/// The standard output of a tool that succeeded within [`TOOL_TIMEOUT`]; `None` when it is not
/// installed, failed or hung.
async fn run(program: &str, args: &[&str]) -> Option<String> {
    match bounded(program, args, TOOL_TIMEOUT).await {
        Ran::Done(out) => Some(out),
        Ran::Failed(words) => {
            tracing::debug!(program, %words, "storage tool failed");
            None
        }
        Ran::TimedOut => {
            tracing::warn!(program, "storage tool did not answer within 5 s (killed)");
            None
        }
    }
}

/// "glusterfs 10.3" on the first line of `gluster --version`.
fn gluster_version(out: &str) -> Option<String> {
    let first = out.lines().next()?;
    let version = first.strip_prefix("glusterfs ")?.trim();
    (!version.is_empty()).then(|| version.to_owned())
}

/// The disk mounted at `path` itself (a mount point of its own), with its free space.
fn disk(mountinfo: &str, path: &str) -> Option<DiskFacts> {
    let fs = mounted_fs(mountinfo, path)?;
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let fragment = st.fragment_size() as u64;
    Some(DiskFacts {
        path: path.to_owned(),
        fs,
        total_bytes: st.blocks() as u64 * fragment,
        available_bytes: st.blocks_available() as u64 * fragment,
    })
}

/// The file system and source of the mount at `path` (the last one, when mounts are stacked
/// there), from `/proc/self/mountinfo` (`ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS…] - FSTYPE
/// SOURCE …`).
fn mounted(mountinfo: &str, path: &str) -> Option<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            if unescape(point) != path {
                return None;
            }
            let mut fields = right.split(' ');
            let fs = fields.next()?.to_owned();
            let source = fields.next().map(unescape).unwrap_or_default();
            Some((fs, source))
        })
        .next_back()
}

/// The file system of the mount at `path`.
fn mounted_fs(mountinfo: &str, path: &str) -> Option<String> {
    mounted(mountinfo, path).map(|(fs, _)| fs)
}

/// Mount points escape space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
80 22 7:0 / /var/lib/flotilla/bricks rw,relatime - xfs /dev/loop0 rw,attr2
81 22 7:1 / /var/lib/flotilla/snapshots rw,relatime - btrfs /dev/loop1 rw,space_cache=v2
82 22 0:50 / /var/lib/flotilla/volumes rw,relatime - fuse.glusterfs 10.77.0.11:/flotilla rw
83 22 7:2 / /mnt/with\\040space rw - ext4 /dev/loop2 rw
84 80 7:3 / /var/lib/flotilla/bricks rw - ext4 /dev/loop3 rw
";

    #[test]
    fn the_file_system_of_a_mount_point_comes_from_mountinfo() {
        assert_eq!(
            mounted_fs(MOUNTINFO, "/var/lib/flotilla/snapshots").as_deref(),
            Some("btrfs")
        );
        assert_eq!(
            mounted_fs(MOUNTINFO, "/var/lib/flotilla/bricks").as_deref(),
            Some("ext4"),
            "the last of stacked mounts is the one seen"
        );
        assert_eq!(
            mounted_fs(MOUNTINFO, "/mnt/with space").as_deref(),
            Some("ext4")
        );
        assert_eq!(
            mounted_fs(MOUNTINFO, "/var/lib/flotilla"),
            None,
            "not a mount point"
        );
        assert_eq!(mounted_fs("garbage\n", "/"), None);
        assert_eq!(
            mounted(MOUNTINFO, VOLUMES_DIR),
            Some(("fuse.glusterfs".into(), "10.77.0.11:/flotilla".into()))
        );
    }

    #[test]
    fn the_gluster_version_is_its_first_line() {
        let out = "glusterfs 10.3\nRepository revision: git://git.gluster.org/glusterfs.git\n";
        assert_eq!(gluster_version(out).as_deref(), Some("10.3"));
        assert_eq!(gluster_version("something else\n"), None);
        assert_eq!(gluster_version(""), None);
    }

    #[test]
    fn a_tool_that_outlives_its_time_is_killed_and_told_apart_from_a_failure() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let short = Duration::from_millis(200);
        assert!(matches!(
            rt.block_on(bounded("sleep", &["5"], short)),
            Ran::TimedOut
        ));
        assert!(matches!(
            rt.block_on(bounded("sh", &["-c", "echo no >&2; exit 3"], short)),
            Ran::Failed(w) if w == "no"
        ));
    }

    #[test]
    fn a_missing_tool_is_none_not_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(run("flotilla-no-such-tool", &[])), None);
        assert_eq!(rt.block_on(run("false", &[])), None);
        assert_eq!(rt.block_on(run("echo", &["hi"])).as_deref(), Some("hi\n"));
    }
}

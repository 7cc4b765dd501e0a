//! The space each app's volume takes on this node, where it holds the data: its copy (brick) of
//! the replicated volume, or the async primary's live data. Both are local disks, read with `du`
//! in a child process with a timeout every [`READ_EVERY`] in a background task — never through
//! the FUSE mount. The beat carries the latest reading.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use domain::storage::{MAX_SIZES, SNAPSHOTS_DIR, VOLUME_NAME, VolumeSize, brick_path};

use super::{Ran, bounded};

/// How often the sizes are read.
const READ_EVERY: Duration = Duration::from_secs(30);
/// How long counting may take (a volume of many small files).
const DU_TIMEOUT: Duration = Duration::from_secs(20);

static LATEST: Mutex<Vec<VolumeSize>> = Mutex::new(Vec::new());

/// The sizes as last read (none where this node holds no data).
pub fn latest() -> Vec<VolumeSize> {
    LATEST
        .lock()
        .map(|l| l.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

/// Where this node holds the apps' data: its brick, else the async primary's live data.
fn data_dir() -> Option<PathBuf> {
    let brick = PathBuf::from(brick_path(VOLUME_NAME));
    if brick.is_dir() {
        return Some(brick);
    }
    let live = Path::new(SNAPSHOTS_DIR).join("live");
    live.is_dir().then_some(live)
}

/// Reads the sizes for the agent's lifetime.
pub async fn watch() {
    let mut tick = tokio::time::interval(READ_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = match data_dir() {
            Some(dir) => read(&dir).await,
            None => Some(vec![]),
        };
        // A reading that failed (a file gone while `du` counted, or too slow) keeps the last.
        if let Some(now) = now
            && let Ok(mut latest) = LATEST.lock()
        {
            *latest = now;
        }
    }
}

async fn read(dir: &Path) -> Option<Vec<VolumeSize>> {
    let base = dir.to_str()?;
    // `-l`: a file hard-linked elsewhere on the brick (GlusterFS' `.glusterfs`) counts here too.
    match bounded("du", &["-l", "-B1", "-d", "2", "--", base], DU_TIMEOUT).await {
        Ran::Done(out) => Some(parse(&out, base)),
        Ran::Failed(words) => {
            tracing::debug!(%words, "cannot count the volumes' sizes");
            None
        }
        Ran::TimedOut => None,
    }
}

/// `du`'s lines (`bytes<TAB>path`) for the directories two levels below `base`
/// (`app/volume`), by name; hidden ones (GlusterFS' own) left out.
fn parse(out: &str, base: &str) -> Vec<VolumeSize> {
    let mut sizes: Vec<VolumeSize> = out
        .lines()
        .filter_map(|line| {
            let (bytes, path) = line.split_once('\t')?;
            let dir = path.strip_prefix(base)?.strip_prefix('/')?;
            let (app, volume) = dir.split_once('/')?;
            let plain = |part: &str| !part.is_empty() && !part.starts_with('.');
            if !plain(app) || !plain(volume) || volume.contains('/') {
                return None;
            }
            Some(VolumeSize {
                dir: dir.to_owned(),
                bytes: bytes.trim().parse().ok()?,
            })
        })
        .collect();
    sizes.sort_by(|a, b| a.dir.cmp(&b.dir));
    sizes.truncate(MAX_SIZES);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_volumes_are_counted() {
        let base = "/var/lib/flotilla/bricks/flotilla";
        let out = format!(
            "8192\t{base}/keeper/data\n\
             12288\t{base}/keeper\n\
             4096\t{base}/.glusterfs/ab\n\
             40960\t{base}/.glusterfs\n\
             4096\t{base}/ledger/data\n\
             1\t/elsewhere/a/b\n\
             x\t{base}/bad/size\n\
             57344\t{base}\n"
        );
        let size = |dir: &str, bytes| VolumeSize {
            dir: dir.into(),
            bytes,
        };
        assert_eq!(
            parse(&out, base),
            [size("keeper/data", 8192), size("ledger/data", 4096)]
        );
        assert!(parse("", base).is_empty());
    }
}

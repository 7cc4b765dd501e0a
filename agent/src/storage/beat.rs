//! The cluster volume's state on this node, for every heartbeat ([`VolumeBeat`]): read in the
//! background every [`READ_EVERY`] while the node takes part in a volume (the mount's liveness is
//! a `stat` in a child process with a timeout, never a look from the agent's own tasks at FUSE),
//! kept for the session loop, which sends it after a heartbeat when it changed.
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use domain::standby::StandbyFacts;
use domain::storage::VolumeBeat;

use super::{copies, fence, mount, mount_facts, sizes, standby};

/// How often the beat is read (the panel's default heartbeat).
const READ_EVERY: Duration = Duration::from_secs(5);

static LATEST: Mutex<Option<VolumeBeat>> = Mutex::new(None);

/// The latest beat; `None` while the node takes part in no volume.
pub fn latest() -> Option<VolumeBeat> {
    LATEST
        .lock()
        .map(|b| b.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

/// The beat now, from `mountinfo`, the async volume's state and what the background tasks last
/// read.
pub(super) async fn read(mountinfo: &str, standby: Option<StandbyFacts>) -> VolumeBeat {
    VolumeBeat {
        mount: mount_facts(mountinfo).await,
        fenced: fence::fenced(),
        copies: copies::latest(),
        peers: copies::peers(),
        standby,
        sizes: sizes::latest(),
    }
}

/// Reads the beat for the agent's lifetime.
pub async fn watch(state_dir: PathBuf) {
    let mut tick = tokio::time::interval(READ_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let async_volume = standby::facts(&state_dir);
        let takes_part = async_volume.is_some() || !mount::load_servers(&state_dir).is_empty();
        let now = if takes_part {
            let mountinfo = tokio::fs::read_to_string("/proc/self/mountinfo")
                .await
                .unwrap_or_default();
            Some(read(&mountinfo, async_volume).await)
        } else {
            None
        };
        if let Ok(mut latest) = LATEST.lock() {
            *latest = now;
        }
    }
}

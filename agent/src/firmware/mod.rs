//! Firmware upgrades on this node through a pluggable A/B installer (RAUC, SWUpdate or Mender
//! style): `CMD install FILE`, `CMD reboot`, `CMD commit`, `CMD rollback`.
//!
//! The upgrade's state is kept in `<state dir>/firmware/state.json` so it survives the reboot:
//! * install: the artifact's manifest must carry the panel's signature (the key learnt at
//!   enrolment), the download ([`download`], resumable) must match its size and SHA-256; only
//!   then does the installer see the file → `installed`;
//! * reboot: `trial` is written first, then the installer reboots the node;
//! * after the reboot the node runs the new version on trial: the panel commits it when its
//!   gates pass; without a commit within the trial time of the agent's start — the gates failed
//!   or the panel cannot be reached at all — the agent rolls back (installer `rollback`, then
//!   `reboot`), as Mender's commit-on-boot does. A node that comes back on another version than
//!   the trial one (the boot failed and the bootloader fell back) reports the roll-back.
mod download;
pub mod gate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use domain::firmware::{FirmwareState, SignedManifest};
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::endpoint::Panels;

pub use download::Source;

/// How long one installer call may take.
const INSTALLER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What survives a reboot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    state: FirmwareState,
    /// Seconds a trial may last from the agent's start before it rolls back by itself.
    #[serde(default)]
    trial_secs: u32,
}

pub struct Firmware {
    dir: PathBuf,
    installer: Option<PathBuf>,
    /// The panel's signing key, raw bytes.
    key: Option<Vec<u8>>,
    source: Source,
    version_file: PathBuf,
    /// Serialises firmware commands (and the trial watchdog).
    lock: Mutex<()>,
}

/// Reads the state kept on disk (for the facts); `Idle` when there is none or it is unreadable.
pub fn state_of(state_dir: &Path) -> FirmwareState {
    read_saved(&state_dir.join("firmware")).state
}

fn read_saved(dir: &Path) -> Saved {
    std::fs::read_to_string(dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Firmware {
    pub fn new(
        state_dir: &Path,
        installer: Option<PathBuf>,
        key: Option<&str>,
        panel: Arc<Panels>,
        token: &str,
        version_file: &Path,
    ) -> Firmware {
        let key = key.and_then(|k| STANDARD.decode(k).ok());
        Firmware {
            dir: state_dir.join("firmware"),
            installer,
            key,
            source: Source::new(panel, token),
            version_file: version_file.to_owned(),
            lock: Mutex::new(()),
        }
    }

    fn saved(&self) -> Saved {
        read_saved(&self.dir)
    }

    fn save(&self, saved: &Saved) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let tmp = self.dir.join(".state.json.tmp");
        let text = serde_json::to_string(saved).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, self.dir.join("state.json")).map_err(|e| e.to_string())
    }

    fn running_version(&self) -> String {
        crate::facts::firmware_version(&self.version_file)
    }

    async fn installer(&self, args: &[&str]) -> Result<(), String> {
        let Some(cmd) = &self.installer else {
            return Err(
                "this agent has no firmware installer (start it with --firmware-installer)".into(),
            );
        };
        let run = tokio::process::Command::new(cmd)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(INSTALLER_TIMEOUT, run)
            .await
            .map_err(|_| format!("the installer's {} did not finish in time", args[0]))?
            .map_err(|e| format!("cannot run the installer {}: {e}", cmd.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.trim();
        Err(format!(
            "the installer's {} failed ({}){}",
            args[0],
            out.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", said.chars().take(400).collect::<String>())
            }
        ))
    }

    /// Checks the panel's signature over the manifest.
    fn verify(&self, signed: &SignedManifest) -> Result<(), String> {
        let key = self.key.as_ref().ok_or(
            "this node does not know the panel's firmware key: enrol it again to learn it",
        )?;
        let signature = STANDARD
            .decode(&signed.signature)
            .map_err(|_| "the artifact's signature is not base64: refused")?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(&signed.manifest.signed_bytes(), &signature)
            .map_err(|_| "the artifact's signature does not match the panel's key: refused".into())
    }

    /// Downloads, checks and installs an artifact. Idempotent for an artifact installed already.
    pub async fn install(&self, signed: &SignedManifest) -> Result<FirmwareState, String> {
        let _one = self.lock.lock().await;
        let m = &signed.manifest;
        let saved = self.saved();
        match &saved.state {
            FirmwareState::Installed { version } if *version == m.version => {
                return Ok(saved.state);
            }
            FirmwareState::Trial { version, .. } => {
                return Err(format!(
                    "firmware {version} is on trial: commit or roll it back first"
                ));
            }
            _ => {}
        }
        if self.installer.is_none() {
            return Err(
                "this agent has no firmware installer (start it with --firmware-installer)".into(),
            );
        }
        let fail = |reason: String| {
            let _ = self.save(&Saved {
                state: FirmwareState::Failed {
                    version: m.version.clone(),
                    reason: reason.clone(),
                },
                trial_secs: 0,
            });
            tracing::warn!(version = %m.version, %reason, "firmware refused");
            reason
        };
        self.verify(signed).map_err(fail)?;
        self.save(&Saved {
            state: FirmwareState::Installing {
                version: m.version.clone(),
            },
            trial_secs: 0,
        })?;
        let file = self.source.fetch(&self.dir, m).await.map_err(&fail)?;
        let path = file.display().to_string();
        let installed = self.installer(&["install", &path]).await;
        let _ = std::fs::remove_file(&file);
        installed.map_err(fail)?;
        let state = FirmwareState::Installed {
            version: m.version.clone(),
        };
        self.save(&Saved {
            state: state.clone(),
            trial_secs: 0,
        })?;
        tracing::info!(version = %m.version, "firmware installed; reboot pending");
        Ok(state)
    }

    /// Reboots into the installed firmware; the state says `trial` before the installer runs.
    pub async fn reboot(&self, trial_secs: u32) -> Result<FirmwareState, String> {
        let _one = self.lock.lock().await;
        let saved = self.saved();
        let version = match &saved.state {
            FirmwareState::Installed { version } => version.clone(),
            // Asked again while the reboot is under way (the panel restarted): nothing to do.
            FirmwareState::Trial { .. } => return Ok(saved.state),
            other => {
                return Err(format!(
                    "no installed firmware to reboot into (state: {})",
                    other.label()
                ));
            }
        };
        let state = FirmwareState::Trial {
            version: version.clone(),
            deadline_ms: now_ms() + i64::from(trial_secs) * 1000,
        };
        self.save(&Saved {
            state: state.clone(),
            trial_secs,
        })?;
        tracing::info!(%version, trial_secs, "rebooting into the new firmware");
        if let Err(e) = self.installer(&["reboot"]).await {
            self.save(&Saved {
                state: FirmwareState::Installed { version },
                trial_secs: 0,
            })?;
            return Err(e);
        }
        Ok(state)
    }

    /// Keeps the firmware on trial. Idempotent.
    pub async fn commit(&self) -> Result<FirmwareState, String> {
        let _one = self.lock.lock().await;
        let saved = self.saved();
        let version = match &saved.state {
            FirmwareState::Trial { version, .. } => version.clone(),
            FirmwareState::Committed { .. } => return Ok(saved.state),
            other => return Err(format!("nothing to commit (state: {})", other.label())),
        };
        let running = self.running_version();
        if running != version {
            return Err(format!(
                "the node runs {running}, not {version}: nothing to commit"
            ));
        }
        self.installer(&["commit"]).await?;
        let state = FirmwareState::Committed { version };
        self.save(&Saved {
            state: state.clone(),
            trial_secs: 0,
        })?;
        tracing::info!(state = %state.label(), "firmware committed");
        Ok(state)
    }

    /// Gives up the firmware on trial (rolls back and reboots) or installed (rolls back).
    pub async fn rollback(&self, reason: &str) -> Result<FirmwareState, String> {
        let _one = self.lock.lock().await;
        self.roll_back(reason).await
    }

    async fn roll_back(&self, reason: &str) -> Result<FirmwareState, String> {
        let saved = self.saved();
        let (version, reboot) = match &saved.state {
            FirmwareState::Trial { version, .. } => {
                (version.clone(), self.running_version() == *version)
            }
            FirmwareState::Installed { version } => (version.clone(), false),
            _ => return Ok(saved.state),
        };
        self.installer(&["rollback"]).await?;
        let state = FirmwareState::RolledBack {
            version,
            reason: reason.to_owned(),
        };
        self.save(&Saved {
            state: state.clone(),
            trial_secs: 0,
        })?;
        tracing::warn!(state = %state.label(), "firmware rolled back");
        if reboot {
            self.installer(&["reboot"]).await?;
        }
        Ok(state)
    }

    /// Run once at the agent's start: a trial on the trial version gets a fresh deadline from
    /// now; a node that came back on another version reports the roll-back. Returns how long
    /// the trial may last, when one runs.
    pub fn on_start(&self) -> Option<Duration> {
        let saved = self.saved();
        let FirmwareState::Trial { version, .. } = &saved.state else {
            return None;
        };
        let running = self.running_version();
        if running != *version {
            let state = FirmwareState::RolledBack {
                version: version.clone(),
                reason: format!("the node came back on {running}: the boot into {version} failed"),
            };
            tracing::warn!(state = %state.label(), "firmware trial ended");
            let _ = self.save(&Saved {
                state,
                trial_secs: 0,
            });
            return None;
        }
        let trial = Duration::from_secs(u64::from(saved.trial_secs.max(1)));
        let _ = self.save(&Saved {
            state: FirmwareState::Trial {
                version: version.clone(),
                deadline_ms: now_ms() + trial.as_millis() as i64,
            },
            trial_secs: saved.trial_secs,
        });
        tracing::info!(%version, trial_secs = trial.as_secs(), "running new firmware on trial");
        Some(trial)
    }

    /// The watchdog of a trial: rolls back when no commit came in time.
    pub async fn watch_trial(&self, trial: Duration) {
        tokio::time::sleep(trial).await;
        let _one = self.lock.lock().await;
        if matches!(self.saved().state, FirmwareState::Trial { .. }) {
            let reason = format!(
                "no commit from the panel within {} s of the start",
                trial.as_secs()
            );
            if let Err(e) = self.roll_back(&reason).await {
                tracing::error!(error = %e, "cannot roll the firmware back");
            }
        }
    }
}

//! The cluster's Global Config on this node: the panel sends each version, the agent writes it
//! atomically as `global.json` into the node's own `flotilla-appconfig` volume (which the
//! cluster's containers mount read-only at `/appconfig`) and remembers which version it holds in
//! `<state dir>/global-config.json`; its facts report that version, so the panel shows what the
//! node really has and sends a node that was away the version it missed.
use std::io::Write;
use std::path::{Path, PathBuf};

use domain::config::global::{self, EMPTY, FILE_NAME, HeldConfig, VOLUME};

use crate::docker::Engine;

fn held_path(state_dir: &Path) -> PathBuf {
    state_dir.join("global-config.json")
}

/// The version this node holds, as recorded when it was written (none: never written, or the
/// record is unreadable).
pub fn held(state_dir: &Path) -> Option<HeldConfig> {
    let text = std::fs::read_to_string(held_path(state_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees the old file or the new one, never a part.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Where the file lives on this node (the volume is created when missing).
async fn file(engine: &Engine) -> Result<PathBuf, String> {
    let dir = engine
        .local_volume(VOLUME)
        .await
        .map_err(|e| format!("the {VOLUME} volume: {e}"))?;
    Ok(dir.join(FILE_NAME))
}

/// At start: the volume and its file exist before any task mounts them (an empty document
/// when nothing was written yet); a missing file means the node holds nothing.
pub async fn ensure(engine: &Engine, state_dir: &Path) -> Result<(), String> {
    let path = file(engine).await?;
    if !path.exists() {
        replace(&path, EMPTY.as_bytes())?;
        let _ = std::fs::remove_file(held_path(state_dir));
    }
    Ok(())
}

/// Writes one version (idempotent: the version held already, with its file present, is done).
pub async fn write(
    engine: &Engine,
    state_dir: &Path,
    version: &HeldConfig,
    document: &str,
) -> Result<(), String> {
    global::check(document).map_err(|p| format!("the document is not valid: {p}"))?;
    let path = file(engine).await?;
    if held(state_dir).as_ref() == Some(version) && path.exists() {
        return Ok(());
    }
    replace(&path, document.as_bytes())?;
    let record = serde_json::to_vec(version).map_err(|e| e.to_string())?;
    replace(&held_path(state_dir), &record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_whole_and_the_record_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("global.json");
        replace(&path, b"{\"a\":1}").expect("written");
        replace(&path, b"{\"a\":2}").expect("replaced");
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("{\"a\":2}")
        );
        assert!(!dir.path().join(".global.json.tmp").exists());
        assert_eq!(held(dir.path()), None);
        let v = HeldConfig {
            cluster_id: "c".into(),
            version: 3,
        };
        let record = serde_json::to_vec(&v).expect("json");
        replace(&held_path(dir.path()), &record).expect("record");
        assert_eq!(held(dir.path()), Some(v));
        std::fs::write(held_path(dir.path()), "garbage").expect("write");
        assert_eq!(held(dir.path()), None);
    }
}

//! What the panel asked of this node's storage, kept in the agent's state directory across
//! restarts: one JSON file per concern, written whole (a temporary file renamed over the old one)
//! and readable by root only (the async volume's holds its sync key).
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The kept value; `None` when there is none or it is unreadable (said in the log).
pub fn load<T: DeserializeOwned>(state_dir: &Path, name: &str) -> Option<T> {
    let raw = std::fs::read_to_string(state_dir.join(name)).ok()?;
    match serde_json::from_str(&raw) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "{name} is unreadable: taken as not there");
            None
        }
    }
}

pub fn save<T: Serialize>(state_dir: &Path, name: &str, value: &T) -> Result<(), String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let path = state_dir.join(name);
    let tmp = state_dir.join(format!("{name}.tmp"));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&json))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn forget(state_dir: &Path, name: &str) -> Result<(), String> {
    match std::fs::remove_file(state_dir.join(name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{name}: {e}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_kept_value_survives_is_private_and_goes_once_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), "k.json", &vec!["a", "b"]).expect("save");
        let mode = std::fs::metadata(dir.path().join("k.json"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            load::<Vec<String>>(dir.path(), "k.json"),
            Some(vec!["a".into(), "b".into()])
        );
        std::fs::write(dir.path().join("bad.json"), "{").expect("write");
        assert_eq!(load::<Vec<String>>(dir.path(), "bad.json"), None);
        forget(dir.path(), "k.json").expect("forget");
        assert_eq!(load::<Vec<String>>(dir.path(), "k.json"), None);
        forget(dir.path(), "k.json").expect("forgetting twice is fine");
    }
}

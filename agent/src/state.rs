//! The node's identity on disk: `<state dir>/node.json`, mode 0600, written atomically.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::AgentError;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub node_id: String,
    pub token: String,
    /// The panel's firmware signing key (base64), learnt at enrolment; empty for nodes enrolled
    /// before the panel signed firmware (they enrol again to learn it).
    #[serde(default)]
    pub firmware_key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

pub fn identity_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node.json")
}

pub fn load(state_dir: &Path) -> Result<Option<Identity>, AgentError> {
    let path = identity_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| AgentError::Identity {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AgentError::State {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub fn save(state_dir: &Path, identity: &Identity) -> Result<(), AgentError> {
    let err = |source| AgentError::State {
        path: state_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(err)?;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    let tmp = state_dir.join(".node.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    let json = serde_json::to_vec_pretty(identity).unwrap_or_default();
    file.write_all(&json)
        .and_then(|_| file.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, identity_path(state_dir)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_with_private_permissions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("agent");
        assert!(load(&state).expect("missing is fine").is_none());
        let id = Identity {
            node_id: "n1".into(),
            token: "flt_nt_secret".into(),
            firmware_key: "cGFuZWwta2V5".into(),
        };
        save(&state, &id).expect("saves");
        assert_eq!(load(&state).expect("loads"), Some(id.clone()));
        let mode = std::fs::metadata(identity_path(&state))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{id:?}").contains("secret"));
    }

    #[test]
    fn corrupt_identity_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(identity_path(dir.path()), "{oops").expect("write");
        assert!(matches!(load(dir.path()), Err(AgentError::Identity { .. })));
    }
}

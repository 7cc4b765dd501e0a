//! Node-local volumes the agent itself fills (the Global Config's `flotilla-appconfig`), and
//! the containers that use the cluster volume (stopped when the node is fenced).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::VolumeCreateRequest;

use super::{CALL_TIMEOUT, Engine, EngineError};

impl Engine {
    /// Creates the local volume `name` unless it exists (Docker answers with the existing one)
    /// and says where its data lives on this node.
    pub async fn local_volume(&self, name: &str) -> Result<PathBuf, EngineError> {
        let body = VolumeCreateRequest {
            name: Some(name.to_owned()),
            driver: Some("local".into()),
            labels: Some(HashMap::from([(
                "io.flotilla.managed".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let volume = self
            .call("create volume", CALL_TIMEOUT, async move |d| {
                d.create_volume(body).await
            })
            .await?;
        Ok(PathBuf::from(volume.mountpoint))
    }

    /// The running containers with a bind mount from `dir` or below it: (id, name).
    pub async fn users_of(&self, dir: &str) -> Result<Vec<(String, String)>, EngineError> {
        let running = self
            .call("list containers", CALL_TIMEOUT, async |d| {
                d.list_containers(None).await
            })
            .await?;
        Ok(running
            .into_iter()
            .filter_map(|c| {
                let uses = c
                    .mounts
                    .iter()
                    .flatten()
                    .filter_map(|m| m.source.as_deref())
                    .any(|s| within(s, dir));
                let id = c.id.filter(|_| uses)?;
                let name = c
                    .names
                    .and_then(|n| n.first().cloned())
                    .unwrap_or_else(|| id.clone());
                Some((id, name))
            })
            .collect())
    }

    /// Kills every running container with a bind mount from `dir` or below it (fencing); their
    /// names.
    pub async fn kill_users_of(&self, dir: &str) -> Result<Vec<String>, EngineError> {
        let mut killed = vec![];
        for (id, name) in self.users_of(dir).await? {
            self.call("kill container", CALL_TIMEOUT, async move |d| {
                d.kill_container(&id, None).await
            })
            .await?;
            killed.push(name);
        }
        Ok(killed)
    }
}

/// Whether the mount source `source` is `dir` or below it (whole path components: a sibling
/// `dir-old` is not).
pub(super) fn within(source: &str, dir: &str) -> bool {
    Path::new(source).starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_is_within_a_directory_by_whole_components() {
        let dir = "/var/lib/flotilla/volumes";
        assert!(within(dir, dir));
        assert!(within("/var/lib/flotilla/volumes/ledger/data", dir));
        assert!(!within("/var/lib/flotilla/volumes-old/ledger", dir));
        assert!(!within("/var/lib/flotilla", dir));
    }
}

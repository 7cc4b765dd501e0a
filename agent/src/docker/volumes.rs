//! Node-local volumes the agent itself fills (the Global Config's `flotilla-appconfig`), and
//! the containers that use the cluster volume (stopped when the node is fenced).
use std::collections::HashMap;
use std::path::PathBuf;

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

    /// Kills every running container with a bind mount from `dir` or below it (fencing); their
    /// names.
    pub async fn kill_users_of(&self, dir: &str) -> Result<Vec<String>, EngineError> {
        let running = self
            .call("list containers", CALL_TIMEOUT, async |d| {
                d.list_containers(None).await
            })
            .await?;
        let below = format!("{dir}/");
        let mut killed = vec![];
        for c in running {
            let uses = c
                .mounts
                .iter()
                .flatten()
                .filter_map(|m| m.source.as_deref())
                .any(|s| s == dir || s.starts_with(&below));
            let Some(id) = c.id.filter(|_| uses) else {
                continue;
            };
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_else(|| id.clone());
            self.call("kill container", CALL_TIMEOUT, async move |d| {
                d.kill_container(&id, None).await
            })
            .await?;
            killed.push(name);
        }
        Ok(killed)
    }
}

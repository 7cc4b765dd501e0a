//! Node-local volumes the agent itself fills (the Global Config's `flotilla-appconfig`).
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
}

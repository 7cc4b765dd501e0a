//! What the engine says of itself: version and swarm state (node facts), and the quick health
//! check KeepAlived's track script runs.
use std::time::Duration;

use bollard::models::{LocalNodeState, SystemInfo};
use bollard::{API_DEFAULT_VERSION, Docker};
use domain::node::{EngineFacts, SwarmFacts, SwarmState};

use super::{CALL_TIMEOUT, Engine, EngineError};

impl Engine {
    pub(super) async fn read_facts(&self) -> Result<EngineFacts, EngineError> {
        let version = self
            .call("version", CALL_TIMEOUT, async |d| d.version().await)
            .await?;
        let info = self
            .call("info", CALL_TIMEOUT, async |d| d.info().await)
            .await?;
        Ok(EngineFacts::Up {
            version: version.version.unwrap_or_else(|| "unknown".into()),
            api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
            swarm: swarm_facts(&info),
        })
    }
}

/// Whether this node may hold a virtual IP, decided within about 0.9 s (KeepAlived's script
/// timeout is 1 s): the engine must answer `/_ping`; with `require_swarm`, an engine that says it
/// is not an active swarm member is unhealthy. While a swarm elects a new leader `/info` can
/// hang: an unanswered `/info` is not held against the node, or losing the leader would take
/// every VIP down with it. (A process of its own: it opens its own short-lived client.)
pub async fn vip_health(host: &str, require_swarm: bool) -> Result<(), String> {
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{host}: only unix:// sockets are supported"))?;
    let docker =
        Docker::connect_with_unix(path, 1, API_DEFAULT_VERSION).map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_millis(400), docker.ping())
        .await
        .map_err(|_| "the engine did not answer /_ping in time".to_string())?
        .map_err(|e| format!("engine: {e}"))?;
    if !require_swarm {
        return Ok(());
    }
    match tokio::time::timeout(Duration::from_millis(450), docker.info()).await {
        Err(_) => Ok(()),
        Ok(Err(e)) => Err(format!("engine info: {e}")),
        Ok(Ok(info)) => match swarm_facts(&info).state {
            SwarmState::Active => Ok(()),
            other => Err(format!("swarm state is {}", other.label())),
        },
    }
}

pub(super) fn swarm_facts(info: &SystemInfo) -> SwarmFacts {
    let swarm = info.swarm.as_ref();
    let state = match swarm.and_then(|s| s.local_node_state.as_ref()) {
        Some(LocalNodeState::INACTIVE) => SwarmState::Inactive,
        Some(LocalNodeState::PENDING) => SwarmState::Pending,
        Some(LocalNodeState::ACTIVE) => SwarmState::Active,
        Some(LocalNodeState::ERROR) => SwarmState::Error,
        Some(LocalNodeState::LOCKED) => SwarmState::Locked,
        Some(LocalNodeState::EMPTY) | None => SwarmState::Unknown,
    };
    SwarmFacts {
        state,
        node_id: swarm
            .and_then(|s| s.node_id.clone())
            .filter(|s| !s.is_empty()),
        is_manager: swarm.and_then(|s| s.control_available).unwrap_or(false),
        cluster_id: swarm
            .and_then(|s| s.cluster.as_ref())
            .and_then(|c| c.id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::SwarmInfo;

    #[test]
    fn swarm_state_maps_from_docker_models() {
        let info = SystemInfo {
            swarm: Some(SwarmInfo {
                local_node_state: Some(LocalNodeState::ACTIVE),
                node_id: Some("abc".into()),
                control_available: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = swarm_facts(&info);
        assert_eq!(s.state, SwarmState::Active);
        assert_eq!(s.node_id.as_deref(), Some("abc"));
        assert!(s.is_manager);
        assert_eq!(
            swarm_facts(&SystemInfo::default()).state,
            SwarmState::Unknown
        );
    }
}

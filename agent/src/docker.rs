//! The bollard adapter. Nothing outside this module sees a bollard type: every answer is
//! converted into `domain` types here. "Daemon unreachable" is a normal, typed state.
use std::time::Duration;

use bollard::models::{LocalNodeState, SystemInfo};
use bollard::{API_DEFAULT_VERSION, Docker};
use domain::node::{EngineFacts, SwarmFacts, SwarmState};

/// Every Docker call is bounded: calls hang while a swarm has no Raft leader.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `host` (`unix:///path`), negotiating the API version with the daemon.
pub async fn connect(host: &str) -> Result<Docker, String> {
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{host}: only unix:// sockets are supported"))?;
    let docker = Docker::connect_with_unix(path, CALL_TIMEOUT.as_secs(), API_DEFAULT_VERSION)
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| "the engine did not answer in time".to_string())?
        .map_err(|e| e.to_string())
}

/// The engine's version and swarm state, or why they could not be read.
pub async fn engine_facts(host: &str) -> EngineFacts {
    match read(host).await {
        Ok(facts) => facts,
        Err(reason) => EngineFacts::Unreachable { reason },
    }
}

async fn read(host: &str) -> Result<EngineFacts, String> {
    let docker = connect(host).await?;
    let bounded = |what: &'static str| move |_| format!("{what} timed out");
    let version = tokio::time::timeout(CALL_TIMEOUT, docker.version())
        .await
        .map_err(bounded("version"))?
        .map_err(|e| e.to_string())?;
    let info = tokio::time::timeout(CALL_TIMEOUT, docker.info())
        .await
        .map_err(bounded("info"))?
        .map_err(|e| e.to_string())?;
    Ok(EngineFacts::Up {
        version: version.version.unwrap_or_else(|| "unknown".into()),
        api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
        swarm: swarm_facts(&info),
    })
}

fn swarm_facts(info: &SystemInfo) -> SwarmFacts {
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

    #[tokio::test]
    async fn a_missing_socket_is_a_typed_unreachable_state() {
        let facts = engine_facts("unix:///nonexistent/docker.sock").await;
        assert!(
            matches!(facts, EngineFacts::Unreachable { .. }),
            "{facts:?}"
        );
        assert!(
            matches!(engine_facts("tcp://1.2.3.4:2375").await, EngineFacts::Unreachable { ref reason } if reason.contains("unix://"))
        );
    }
}

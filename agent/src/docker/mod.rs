//! The Docker Engine adapter. Nothing outside this module sees a bollard type: every answer is
//! converted into `domain` types here, and every failure into an [`EngineError`] — "the daemon is
//! unreachable" is a normal, typed state.
//!
//! One [`Engine`] holds one client for the agent's lifetime (the API version is negotiated once,
//! and again after the engine was unreachable).
mod health;
mod networks;
mod raw;
mod registry;
mod services;
mod stack;
mod swarm;
mod volumes;

use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::{API_DEFAULT_VERSION, Docker};
use domain::node::EngineFacts;
use tokio::sync::Mutex;

pub use health::vip_health;

/// Reads are bounded: calls hang while a swarm has no Raft leader.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Swarm changes (init, join, leave) can take much longer than reads.
pub const SWARM_CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// Why the engine did not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}: this node is not a swarm manager")]
    NotManager(String),
    #[error("the engine is unreachable: {0}")]
    Unavailable(String),
    #[error("{0}: the engine did not answer in time")]
    Timeout(String),
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// Sorts a bollard error: by status code, and by the few messages Docker has no code for.
    fn from_bollard(what: &str, e: BollardError) -> EngineError {
        match e {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => {
                let m = format!("{what}: {message}");
                if message.contains("not a swarm manager") {
                    EngineError::NotManager(what.to_owned())
                } else if status_code == 404 {
                    EngineError::NotFound(what.to_owned())
                } else if status_code == 409 || message.contains("participating as a manager") {
                    // A demoted manager that still counts itself one refuses a plain leave.
                    EngineError::Conflict(m)
                } else {
                    EngineError::Other(m)
                }
            }
            BollardError::IOError { err } => EngineError::Unavailable(format!("{what}: {err}")),
            BollardError::SocketNotFoundError(path) => {
                EngineError::Unavailable(format!("{what}: no socket at {path}"))
            }
            BollardError::RequestTimeoutError => EngineError::Timeout(what.to_owned()),
            other => {
                let text = other.to_string();
                if text.contains("connect") || text.contains("No such file") {
                    EngineError::Unavailable(format!("{what}: {text}"))
                } else {
                    EngineError::Other(format!("{what}: {text}"))
                }
            }
        }
    }
}

/// The node's Docker Engine.
pub struct Engine {
    host: String,
    client: Mutex<Option<Docker>>,
}

impl Engine {
    /// An engine at `host` (`unix:///path`); nothing is contacted yet.
    pub fn new(host: &str) -> Engine {
        Engine {
            host: host.to_owned(),
            client: Mutex::new(None),
        }
    }

    /// The client, connected and version-negotiated once.
    async fn docker(&self) -> Result<Docker, EngineError> {
        let mut client = self.client.lock().await;
        if let Some(d) = client.as_ref() {
            return Ok(d.clone());
        }
        let d = connect(&self.host, SWARM_CALL_TIMEOUT).await?;
        *client = Some(d.clone());
        Ok(d)
    }

    /// Runs one call within `timeout`; an unreachable engine is asked afresh next time.
    async fn call<T>(
        &self,
        what: &str,
        timeout: Duration,
        f: impl AsyncFnOnce(Docker) -> Result<T, BollardError>,
    ) -> Result<T, EngineError> {
        let docker = self.docker().await?;
        let result = match tokio::time::timeout(timeout, f(docker)).await {
            Err(_) => Err(EngineError::Timeout(what.to_owned())),
            Ok(r) => r.map_err(|e| EngineError::from_bollard(what, e)),
        };
        if matches!(result, Err(EngineError::Unavailable(_))) {
            *self.client.lock().await = None;
        }
        result
    }

    /// The engine's version and swarm state, or why they could not be read.
    pub async fn facts(&self) -> EngineFacts {
        match self.read_facts().await {
            Ok(facts) => facts,
            Err(e) => EngineFacts::Unreachable {
                reason: e.to_string(),
            },
        }
    }
}

/// Connects to `host`, negotiating the API version with the daemon.
async fn connect(host: &str, timeout: Duration) -> Result<Docker, EngineError> {
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| EngineError::Other(format!("{host}: only unix:// sockets are supported")))?;
    let docker = Docker::connect_with_unix(path, timeout.as_secs(), API_DEFAULT_VERSION)
        .map_err(|e| EngineError::from_bollard("connect", e))?;
    tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| EngineError::Timeout("version negotiation".into()))?
        .map_err(
            |e| match EngineError::from_bollard("version negotiation", e) {
                EngineError::Other(m) => EngineError::Unavailable(m),
                other => other,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_answers_become_typed_errors() {
        let server = |status_code, message: &str| BollardError::DockerResponseServerError {
            status_code,
            message: message.into(),
        };
        assert_eq!(
            EngineError::from_bollard("inspect node", server(404, "node x not found")),
            EngineError::NotFound("inspect node".into())
        );
        assert!(matches!(
            EngineError::from_bollard("create network", server(409, "exists")),
            EngineError::Conflict(_)
        ));
        assert!(matches!(
            EngineError::from_bollard(
                "swarm leave",
                server(
                    503,
                    "You are attempting to leave the swarm on a node that is participating as a manager."
                )
            ),
            EngineError::Conflict(_)
        ));
        assert_eq!(
            EngineError::from_bollard(
                "list nodes",
                server(
                    503,
                    "This node is not a swarm manager. Use \"docker swarm init\""
                )
            ),
            EngineError::NotManager("list nodes".into())
        );
        assert!(matches!(
            EngineError::from_bollard("info", server(500, "boom")),
            EngineError::Other(_)
        ));
        assert!(matches!(
            EngineError::from_bollard("connect", BollardError::SocketNotFoundError("/x".into())),
            EngineError::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_typed_unreachable_state() {
        let facts = Engine::new("unix:///nonexistent/docker.sock").facts().await;
        assert!(
            matches!(facts, EngineFacts::Unreachable { .. }),
            "{facts:?}"
        );
        assert!(
            matches!(Engine::new("tcp://1.2.3.4:2375").facts().await, EngineFacts::Unreachable { ref reason } if reason.contains("unix://"))
        );
    }
}

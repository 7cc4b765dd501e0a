//! `docker login` on this node: the engine's `POST /auth`, which logs in to the registry from the
//! node itself (its network, its trust store in `/etc/docker/certs.d`).
use std::time::Duration;

use domain::workload::spec::RegistryAuth;

use super::{Engine, EngineError};

/// A registry answers a login within this time, or the check fails.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    /// Logs in to the registry with these credentials; the error carries the registry's words.
    pub async fn login(&self, auth: &RegistryAuth) -> Result<(), EngineError> {
        let body = serde_json::json!({
            "username": auth.username,
            "password": auth.password,
            "serveraddress": auth.server,
        })
        .to_string();
        let what = format!("login to {}", auth.server);
        self.raw(&what, "POST", "/auth", &[], &body, LOGIN_TIMEOUT)
            .await?
            .into_result(&what)
            .map(drop)
    }
}

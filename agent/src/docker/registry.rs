//! `docker login` on this node: the engine's `POST /auth`, which logs in to the registry from the
//! node itself (its network, its trust store in `/etc/docker/certs.d`). bollard has no call for
//! it, so this one request is written by hand over the engine's unix socket.
use std::time::Duration;

use domain::workload::spec::RegistryAuth;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Engine, EngineError};

/// A registry answers a login within this time, or the check fails.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The engine's answer to a login is a small JSON object.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Deserialize)]
struct Answer {
    #[serde(default, rename = "Status")]
    status: String,
    #[serde(default)]
    message: String,
}

impl Engine {
    /// Logs in to the registry with these credentials; the error carries the registry's words.
    pub async fn login(&self, auth: &RegistryAuth) -> Result<(), EngineError> {
        let path = self
            .host
            .strip_prefix("unix://")
            .ok_or_else(|| {
                EngineError::Other(format!("{}: only unix:// sockets are supported", self.host))
            })?
            .to_owned();
        let body = serde_json::json!({
            "username": auth.username,
            "password": auth.password,
            "serveraddress": auth.server,
        })
        .to_string();
        let request = format!(
            "POST /auth HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let exchange = async move {
            let mut stream = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| EngineError::Unavailable(format!("login: {e}")))?;
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| EngineError::Unavailable(format!("login: {e}")))?;
            let mut raw = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| EngineError::Unavailable(format!("login: {e}")))?;
            Ok::<Vec<u8>, EngineError>(raw)
        };
        let raw = tokio::time::timeout(LOGIN_TIMEOUT, exchange)
            .await
            .map_err(|_| EngineError::Timeout(format!("login to {}", auth.server)))??;
        answer(&String::from_utf8_lossy(&raw), &auth.server)
    }
}

/// Reads the engine's HTTP answer: 200 is a login; anything else is refused with its message.
fn answer(raw: &str, server: &str) -> Result<(), EngineError> {
    let status: u16 = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            EngineError::Other(format!(
                "login to {server}: the engine's answer is not HTTP"
            ))
        })?;
    // The body is one JSON object (possibly in one chunk): take it from the first brace.
    let json = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .and_then(|b| Some(&b[b.find('{')?..=b.rfind('}')?]))
        .and_then(|j| serde_json::from_str::<Answer>(j).ok());
    match (status, json) {
        (200, _) => Ok(()),
        (_, Some(a)) if !a.message.is_empty() => Err(EngineError::Other(a.message)),
        (_, Some(a)) if !a.status.is_empty() => Err(EngineError::Other(a.status)),
        (code, _) => Err(EngineError::Other(format!(
            "login to {server} failed (engine answered {code})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_with_the_registrys_words() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"IdentityToken\":\"\",\"Status\":\"Login Succeeded\"}\n";
        assert_eq!(answer(ok, "r"), Ok(()));
        let refused = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 99\r\n\r\n{\"message\":\"login attempt to https://r/v2/ failed with status: 401 Unauthorized\"}\n";
        assert_eq!(
            answer(refused, "r"),
            Err(EngineError::Other(
                "login attempt to https://r/v2/ failed with status: 401 Unauthorized".into()
            ))
        );
        let chunked = "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4a\r\n{\"message\":\"Get \\\"https://r/v2/\\\": x509: certificate signed by unknown authority\"}\r\n0\r\n\r\n";
        assert!(matches!(answer(chunked, "r"), Err(EngineError::Other(m)) if m.contains("x509")));
        assert!(answer("garbage", "r").is_err());
    }
}

//! The few Engine API calls bollard cannot make right, written by hand over the engine's unix
//! socket: `POST /auth` (bollard has no call for it) and service create/update with registry
//! credentials (bollard encodes `X-Registry-Auth` as standard base64, which Docker's URL-safe
//! decoder rejects on the nodes, so they would pull without credentials).
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Engine, EngineError};

/// The engine's answers to these calls are small JSON objects.
const MAX_ANSWER: usize = 256 * 1024;

/// An HTTP answer of the engine: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    message: String,
}

impl Answer {
    /// 2xx is done; anything else is an error carrying the engine's message.
    pub fn into_result(self, what: &str) -> Result<String, EngineError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let message = json_object(&self.body)
            .and_then(|j| serde_json::from_str::<Message>(j).ok())
            .map(|m| m.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("the engine answered {}", self.status));
        Err(match self.status {
            404 => EngineError::NotFound(format!("{what}: {message}")),
            409 => EngineError::Conflict(format!("{what}: {message}")),
            _ if message.contains("not a swarm manager") => {
                EngineError::NotManager(what.to_owned())
            }
            _ => EngineError::Other(format!("{what}: {message}")),
        })
    }
}

/// The body's JSON object (the engine may send it as one chunk of a chunked answer).
pub fn json_object(body: &str) -> Option<&str> {
    Some(&body[body.find('{')?..=body.rfind('}')?])
}

/// `X-Registry-Auth`: the credentials as JSON in URL-safe base64, as Docker decodes it.
pub fn registry_auth_header(username: &str, password: &str, server: &str) -> String {
    let json = serde_json::json!({
        "username": username,
        "password": password,
        "serveraddress": server,
    })
    .to_string();
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

impl Engine {
    /// Sends one request (`path` without API version: the engine's own) and reads the answer.
    pub(super) async fn raw(
        &self,
        what: &str,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<Answer, EngineError> {
        let socket = self
            .host
            .strip_prefix("unix://")
            .ok_or_else(|| {
                EngineError::Other(format!("{}: only unix:// sockets are supported", self.host))
            })?
            .to_owned();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let unavailable = |e: std::io::Error| EngineError::Unavailable(format!("{what}: {e}"));
        let exchange = async move {
            let mut stream = tokio::net::UnixStream::connect(&socket)
                .await
                .map_err(unavailable)?;
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(unavailable)?;
            let mut raw = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut raw)
                .await
                .map_err(unavailable)?;
            Ok::<Vec<u8>, EngineError>(raw)
        };
        let raw = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| EngineError::Timeout(what.to_owned()))??;
        parse(&String::from_utf8_lossy(&raw), what)
    }
}

fn parse(raw: &str, what: &str) -> Result<Answer, EngineError> {
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EngineError::Other(format!("{what}: the engine's answer is not HTTP")))?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_engines_words() {
        let ok = parse(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Status\":\"Login Succeeded\"}\n",
            "login",
        )
        .expect("http");
        assert!(ok.into_result("login").is_ok());
        let refused = parse(
            "HTTP/1.1 401 Unauthorized\r\n\r\n{\"message\":\"login attempt to https://r/v2/ failed with status: 401 Unauthorized\"}\n",
            "login",
        )
        .expect("http");
        assert_eq!(
            refused.into_result("login"),
            Err(EngineError::Other(
                "login: login attempt to https://r/v2/ failed with status: 401 Unauthorized".into()
            ))
        );
        let chunked = parse(
            "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4a\r\n{\"message\":\"x509: certificate signed by unknown authority\"}\r\n0\r\n\r\n",
            "login",
        )
        .expect("http");
        assert!(
            matches!(chunked.into_result("login"), Err(EngineError::Other(m)) if m.contains("x509"))
        );
        assert!(parse("garbage", "login").is_err());
    }

    #[test]
    fn registry_auth_is_url_safe_base64_json() {
        let header = registry_auth_header("lab", "pa+ss/wo?rd~~~", "10.77.0.1:5000");
        assert!(!header.contains('+') && !header.contains('/'));
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(&header)
            .expect("decodes");
        let back: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(back["password"], "pa+ss/wo?rd~~~");
        assert_eq!(back["serveraddress"], "10.77.0.1:5000");
    }
}

//! Downloads an artifact from the panel over the agent link's transport (HTTP or HTTPS with the
//! same trust), with the node token, resuming a partial file with a range request; then checks
//! its size and SHA-256 against the signed manifest.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use domain::firmware::{Manifest, hex};
use domain::protocol::FIRMWARE_PATH;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::endpoint::{PanelEndpoint, Panels};

/// Longest wait for the panel to connect or send the next part of the body.
const STALL: Duration = Duration::from_secs(60);

pub struct Source {
    /// The panel the agent is connected to serves the download (its URL in use now).
    panels: Arc<Panels>,
    token: String,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

impl Source {
    pub fn new(panels: Arc<Panels>, token: &str) -> Source {
        Source {
            panels,
            token: token.to_owned(),
        }
    }

    fn host_port(panel: &PanelEndpoint) -> (String, u16) {
        let default = if panel.tls().is_some() { 443 } else { 80 };
        let a = panel.authority();
        if let Some(rest) = a.strip_prefix('[') {
            let (host, port) = rest.split_once(']').unwrap_or((rest, ""));
            let port = port.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_owned(), port.unwrap_or(default));
        }
        match a.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(default)),
            None => (a.to_owned(), default),
        }
    }

    async fn connect(panel: &PanelEndpoint) -> Result<Box<dyn Io>, String> {
        let (host, port) = Self::host_port(panel);
        let tcp =
            tokio::time::timeout(STALL, tokio::net::TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| "the panel did not accept a connection in time".to_string())?
                .map_err(|e| format!("cannot reach the panel: {e}"))?;
        let Some(tls) = panel.tls() else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(host.clone())
            .map_err(|_| format!("{host} is not a valid TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with the panel failed: {e}"))?;
        Ok(Box::new(stream))
    }

    /// The verified file `<dir>/<artifact id>.bin`.
    pub async fn fetch(&self, dir: &Path, m: &Manifest) -> Result<PathBuf, String> {
        let id: String = m
            .artifact_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let part = dir.join(format!("{id}.part"));
        let mut have = std::fs::metadata(&part).map_or(0, |md| md.len());
        if have > m.size {
            have = 0;
        }
        if have < m.size {
            self.get(&id, &part, have).await?;
        }
        let (size, digest) = digest_of(&part).await?;
        if size != m.size || digest != m.sha256 {
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "the downloaded artifact does not match its manifest (size {size} of {}, SHA-256 {digest}): refused",
                m.size
            ));
        }
        let done = dir.join(format!("{id}.bin"));
        std::fs::rename(&part, &done).map_err(|e| format!("{}: {e}", done.display()))?;
        Ok(done)
    }

    async fn get(&self, id: &str, part: &Path, have: u64) -> Result<(), String> {
        let panel = self.panels.current();
        let io = Self::connect(panel).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP with the panel failed: {e}"))?;
        let conn = tokio::spawn(conn);
        let request = http::Request::get(format!("{FIRMWARE_PATH}/{id}"))
            .header(http::header::HOST, panel.authority())
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::RANGE, format!("bytes={have}-"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(STALL, sender.send_request(request))
            .await
            .map_err(|_| "the panel did not answer in time".to_string())?
            .map_err(|e| format!("the download failed: {e}"))?;
        let append = match response.status() {
            http::StatusCode::PARTIAL_CONTENT => true,
            http::StatusCode::OK => false,
            http::StatusCode::UNAUTHORIZED => {
                return Err("the panel refused this node's token".into());
            }
            http::StatusCode::NOT_FOUND => {
                return Err("the panel has no such artifact (deleted?)".into());
            }
            other => return Err(format!("the panel answered {other} to the download")),
        };
        tracing::info!(
            artifact = id,
            from = if append { have } else { 0 },
            "downloading firmware"
        );
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(part)
            .await
            .map_err(|e| format!("{}: {e}", part.display()))?;
        let mut body = response.into_body();
        loop {
            let frame = tokio::time::timeout(STALL, body.frame())
                .await
                .map_err(|_| "the download stalled".to_string())?;
            match frame {
                None => break,
                Some(Err(e)) => return Err(format!("the download broke off: {e}")),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        file.write_all(&data)
                            .await
                            .map_err(|e| format!("{}: {e}", part.display()))?;
                    }
                }
            }
        }
        file.flush().await.map_err(|e| e.to_string())?;
        conn.abort();
        Ok(())
    }
}

async fn digest_of(path: &Path) -> Result<(u64, String), String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex(&hasher.finalize())))
}

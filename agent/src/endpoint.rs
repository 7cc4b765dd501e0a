//! Where and how the agent reaches the panel: `http://` (plain WebSocket, for a trusted network
//! such as the lab) or `https://` (WebSocket over TLS, verified against the system's trust store
//! or a private CA given with `--ca-file`). Several panel URLs (replicas of the panel) are tried
//! in turn: the agent stays with the one it reaches and moves on when it loses it.
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, tungstenite};

use crate::AgentError;

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone)]
pub struct PanelEndpoint {
    /// `ws://host:port` or `wss://host:port`, without a trailing slash.
    base: String,
    tls: Option<Arc<ClientConfig>>,
    /// The local address to connect from (the agent simulator gives each simulated node its own
    /// loopback address, as real nodes each have their own); the system's choice when `None`.
    local: Option<IpAddr>,
}

impl std::fmt::Debug for PanelEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl PanelEndpoint {
    /// Parses the panel's base URL and, for `https://`, builds the TLS trust: only the
    /// certificates in `ca_file` when given, else the system's trust store.
    pub fn new(panel_url: &str, ca_file: Option<&Path>) -> Result<Self, AgentError> {
        let base = panel_url.trim().trim_end_matches('/');
        let bad = || AgentError::BadUrl(panel_url.to_owned());
        let (secure, rest) = if let Some(rest) = base.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = base.strip_prefix("wss://") {
            (true, rest)
        } else if let Some(rest) = base.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = base.strip_prefix("ws://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        if rest.is_empty() || rest.contains('/') {
            return Err(bad());
        }
        if !secure {
            if ca_file.is_some() {
                return Err(AgentError::Tls(
                    "--ca-file only applies to an https:// panel URL".into(),
                ));
            }
            return Ok(Self {
                base: format!("ws://{rest}"),
                tls: None,
                local: None,
            });
        }
        Ok(Self {
            base: format!("wss://{rest}"),
            tls: Some(Arc::new(client_config(ca_file)?)),
            local: None,
        })
    }

    /// `host[:port]` of the panel.
    pub fn authority(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest)
    }

    /// The TLS trust for an `https://` panel.
    pub fn tls(&self) -> Option<Arc<ClientConfig>> {
        self.tls.clone()
    }

    /// The WebSocket URL of `path` on the panel.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same panel, reached from the local address `local`.
    pub fn from_local(mut self, local: IpAddr) -> Self {
        self.local = Some(local);
        self
    }

    pub async fn connect(&self, request: Request) -> Result<Socket, tungstenite::Error> {
        let connector = self.tls.clone().map(Connector::Rustls);
        let Some(local) = self.local else {
            // Small frames both ways (a command, its answer): no Nagle delay.
            let (ws, _) =
                tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
                    .await?;
            return Ok(ws);
        };
        let authority = self.authority();
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if self.tls.is_some() { 443 } else { 80 })
        };
        let remote = tokio::net::lookup_host(with_port)
            .await?
            .find(|a| a.is_ipv4() == local.is_ipv4())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::AddrNotAvailable,
                    format!("{authority} has no address of the local address' family"),
                )
            })?;
        let socket = if local.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local, 0))?;
        let stream = socket.connect(remote).await?;
        stream.set_nodelay(true)?;
        let (ws, _) =
            tokio_tungstenite::client_async_tls_with_config(request, stream, None, connector)
                .await?;
        Ok(ws)
    }
}

fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, AgentError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let shown = path.display();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| AgentError::Tls(format!("cannot read the CA file {shown}: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| AgentError::Tls(format!("the CA file {shown} is not PEM: {e}")))?;
            if certs.is_empty() {
                return Err(AgentError::Tls(format!(
                    "the CA file {shown} holds no certificate"
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    AgentError::Tls(format!(
                        "the CA file {shown} holds an unusable certificate: {e}"
                    ))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "skipping part of the system trust store");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(AgentError::Tls(
                    "the system trust store is empty; give the panel's CA with --ca-file".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The panel's URLs, one in use at a time.
pub struct Panels {
    list: Vec<PanelEndpoint>,
    current: AtomicUsize,
}

impl std::fmt::Debug for Panels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.list).finish()
    }
}

impl Panels {
    /// Parses `urls`, separated by commas (each as [`PanelEndpoint::new`] does); at least one,
    /// none twice.
    pub fn parse(urls: &str, ca_file: Option<&Path>) -> Result<Self, AgentError> {
        let mut list: Vec<PanelEndpoint> = vec![];
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let panel = PanelEndpoint::new(url, ca_file)?;
            if list.iter().any(|p| p.base == panel.base) {
                return Err(AgentError::BadUrl(format!("{url} is given twice")));
            }
            list.push(panel);
        }
        if list.is_empty() {
            return Err(AgentError::BadUrl(urls.to_owned()));
        }
        Ok(Self::from(list))
    }

    /// The URL in use.
    pub fn current(&self) -> &PanelEndpoint {
        &self.list[self.current.load(Ordering::Relaxed) % self.list.len()]
    }

    /// Every panel's `host:port` (the scheme's port when the URL names none): what the fence of
    /// an async volume's primary tries.
    pub fn addresses(&self) -> Vec<String> {
        self.list
            .iter()
            .map(|p| {
                let a = p.authority();
                let has_port = !a.ends_with(']')
                    && a.rsplit_once(':')
                        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
                if has_port {
                    a.to_owned()
                } else {
                    format!("{a}:{}", if p.tls.is_some() { 443 } else { 80 })
                }
            })
            .collect()
    }

    /// Moves on to the next URL (after the last, the first again); true when there is another
    /// one to move to.
    pub fn fail_over(&self) -> bool {
        if self.list.len() < 2 {
            return false;
        }
        self.current.fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl From<Vec<PanelEndpoint>> for Panels {
    fn from(list: Vec<PanelEndpoint>) -> Self {
        Self {
            list,
            current: AtomicUsize::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_urls_are_used_in_turn() {
        let panels =
            Panels::parse(" http://10.0.0.1:3100, http://10.0.0.2:3100/ ,", None).expect("valid");
        assert_eq!(panels.current().url("/x"), "ws://10.0.0.1:3100/x");
        assert!(panels.fail_over());
        assert_eq!(panels.current().url("/x"), "ws://10.0.0.2:3100/x");
        assert!(panels.fail_over());
        assert_eq!(panels.current().url("/x"), "ws://10.0.0.1:3100/x");
        let one = Panels::parse("http://10.0.0.1:3100", None).expect("valid");
        assert!(!one.fail_over());
        assert!(matches!(
            Panels::parse("http://a:1,http://a:1/", None),
            Err(AgentError::BadUrl(m)) if m.contains("twice")
        ));
        assert!(Panels::parse(" , ", None).is_err());
        assert!(Panels::parse("http://a:1,ftp://b", None).is_err());
    }

    #[test]
    fn every_panel_has_an_address_to_try_with_the_schemes_port_by_default() {
        let panels = Panels::parse("http://10.0.0.1:3100,http://panel,http://[fd00::1]", None)
            .expect("valid");
        assert_eq!(
            panels.addresses(),
            ["10.0.0.1:3100", "panel:80", "[fd00::1]:80"]
        );
    }

    #[test]
    fn urls_map_to_websockets() {
        let plain = PanelEndpoint::new("http://10.0.0.1:3100/", None).expect("valid");
        assert_eq!(
            plain.url("/agent/v1/connect"),
            "ws://10.0.0.1:3100/agent/v1/connect"
        );
        assert_eq!(
            PanelEndpoint::new("ws://panel:80", None)
                .expect("valid")
                .url("/x"),
            "ws://panel:80/x"
        );
        for bad in [
            "http://",
            "ftp://panel",
            "panel:3000",
            "http://panel/sub/path",
        ] {
            assert!(
                matches!(PanelEndpoint::new(bad, None), Err(AgentError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_ca_file_needs_https_and_real_certificates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            PanelEndpoint::new("http://panel:3000", Some(&missing)),
            Err(AgentError::Tls(m)) if m.contains("https://")
        ));
        assert!(matches!(
            PanelEndpoint::new("https://panel:3000", Some(&missing)),
            Err(AgentError::Tls(m)) if m.contains("cannot read")
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("writes");
        assert!(matches!(
            PanelEndpoint::new("https://panel:3000", Some(&empty)),
            Err(AgentError::Tls(m)) if m.contains("no certificate")
        ));
    }
}

//! Panel settings, layered: built-in defaults ← optional TOML file (`--config`) ← environment
//! (`FLOTILLA_*`) ← command-line flags. Secrets are redacted from `Debug` output and logs.
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

#[derive(Parser, Debug, Default)]
#[command(
    name = "flotilla-panel",
    version,
    about = "The Flotilla panel: builds and operates highly available edge clusters.",
    long_about = "The Flotilla panel serves the web UI and the agent endpoint. Every option can also be \
                  set in the environment (FLOTILLA_*) or in a TOML file given with --config (keys are \
                  the option names with '_' for '-'). Flags win over the environment, which wins over the file."
)]
pub struct Args {
    /// TOML settings file.
    #[arg(long, env = "FLOTILLA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the web UI [default: LEPTOS_SITE_ADDR or 127.0.0.1:3000].
    #[arg(long, env = "FLOTILLA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Extra address serving only the agent endpoints (/agent/v1/*) and /healthz, e.g. on the
    /// edge network; agents can always use the UI address too.
    #[arg(long, env = "FLOTILLA_AGENT_LISTEN")]
    pub agent_listen: Option<SocketAddr>,
    /// The panel's URL as agents reach it, shown in the enrolment command [default: from
    /// --agent-listen, else --listen, with https when TLS is on].
    #[arg(long, env = "FLOTILLA_AGENT_URL")]
    pub agent_url: Option<String>,
    /// Directory for the embedded database [default: ./data].
    #[arg(long, env = "FLOTILLA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://<data dir>/flotilla.db].
    #[arg(long, env = "FLOTILLA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Master key for secrets at rest; created (mode 0600) on first start [default: <data dir>/master.key].
    #[arg(long, env = "FLOTILLA_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Password of the first Administrator ("admin"), used only when there are no users yet;
    /// without it a password is generated and printed once.
    #[arg(long, env = "FLOTILLA_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Agent heartbeat period in seconds [default: 5]; a node is offline after three missed beats.
    #[arg(long, env = "FLOTILLA_HEARTBEAT_SECS")]
    pub heartbeat_secs: Option<u64>,
    /// How long a sign-in lasts, in hours [default: 12].
    #[arg(long, env = "FLOTILLA_SESSION_HOURS")]
    pub session_hours: Option<u64>,
    /// Serve both listeners over HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "FLOTILLA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "FLOTILLA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Mark the session cookie Secure [default: true with --tls-cert, else false; set it behind
    /// a TLS-terminating proxy].
    #[arg(long, env = "FLOTILLA_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Log filter in tracing's EnvFilter syntax [default: info].
    #[arg(long, env = "FLOTILLA_LOG")]
    pub log: Option<String>,
    /// Most open connections per listener; more are closed at once [default: 16384].
    #[arg(long, env = "FLOTILLA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Reverse proxies (IP addresses, comma separated) whose X-Forwarded-For names the client,
    /// for login throttling and rate limits [default: none].
    #[arg(long, env = "FLOTILLA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<IpAddr>>,
    /// Largest firmware upload, in MiB [default: 2048]. Artifacts live in <data_dir>/firmware.
    #[arg(long, env = "FLOTILLA_FIRMWARE_MAX_MIB")]
    pub firmware_max_mib: Option<u64>,
}

/// The same options in a file (all optional).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct FileSettings {
    listen: Option<SocketAddr>,
    agent_listen: Option<SocketAddr>,
    agent_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    key_file: Option<PathBuf>,
    admin_password: Option<String>,
    heartbeat_secs: Option<u64>,
    session_hours: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    secure_cookies: Option<bool>,
    log: Option<String>,
    max_connections: Option<usize>,
    trusted_proxies: Option<Vec<IpAddr>>,
    firmware_max_mib: Option<u64>,
}

/// The certificate chain and key both listeners serve HTTPS with.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub agent_listen: Option<SocketAddr>,
    pub agent_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub key_file: PathBuf,
    pub admin_password: Option<String>,
    pub heartbeat: Duration,
    pub session_ttl: Duration,
    pub tls: Option<TlsFiles>,
    pub secure_cookies: bool,
    pub log: String,
    pub max_connections: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub firmware_max_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("settings file {path} is invalid: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Resolves flags/environment over the file over defaults. `default_listen` comes from Leptos.
    pub fn resolve(args: Args, default_listen: SocketAddr) -> Result<Self, SettingsError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("flotilla.db").display()));
        let heartbeat_secs = args.heartbeat_secs.or(file.heartbeat_secs).unwrap_or(5);
        if !(1..=300).contains(&heartbeat_secs) {
            return Err(SettingsError::Invalid(
                "heartbeat_secs must be between 1 and 300".into(),
            ));
        }
        let session_hours = args.session_hours.or(file.session_hours).unwrap_or(12);
        if !(1..=24 * 30).contains(&session_hours) {
            return Err(SettingsError::Invalid(
                "session_hours must be between 1 and 720".into(),
            ));
        }
        let admin_password = args
            .admin_password
            .or(file.admin_password)
            .filter(|p| !p.is_empty());
        if let Some(p) = &admin_password {
            domain::user::Password::parse(p)
                .map_err(|e| SettingsError::Invalid(format!("admin_password: {}", e.message)))?;
        }
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(SettingsError::Invalid(
                    "tls_cert and tls_key go together: give both or neither".into(),
                ));
            }
        };
        let secure_cookies = args
            .secure_cookies
            .or(file.secure_cookies)
            .unwrap_or(tls.is_some());
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(16_384);
        if !(16..=1_000_000).contains(&max_connections) {
            return Err(SettingsError::Invalid(
                "max_connections must be between 16 and 1000000".into(),
            ));
        }
        let trusted_proxies = args
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default();
        let firmware_max_mib = args
            .firmware_max_mib
            .or(file.firmware_max_mib)
            .unwrap_or(domain::firmware::DEFAULT_MAX_BYTES / (1024 * 1024));
        if !(1..=64 * 1024).contains(&firmware_max_mib) {
            return Err(SettingsError::Invalid(
                "firmware_max_mib must be between 1 and 65536".into(),
            ));
        }
        let listen = args.listen.or(file.listen).unwrap_or(default_listen);
        let agent_listen = args.agent_listen.or(file.agent_listen);
        let agent_url = match args.agent_url.or(file.agent_url) {
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .unwrap_or_default();
                if rest.is_empty() || rest.contains(['/', ' ']) {
                    return Err(SettingsError::Invalid(
                        "agent_url must be http(s)://host[:port]".into(),
                    ));
                }
                url
            }
            None => default_agent_url(agent_listen.unwrap_or(listen), tls.is_some()),
        };
        Ok(Self {
            listen,
            agent_listen,
            agent_url,
            key_file: args
                .key_file
                .or(file.key_file)
                .unwrap_or_else(|| data_dir.join("master.key")),
            data_dir,
            database_url,
            admin_password,
            heartbeat: Duration::from_secs(heartbeat_secs),
            session_ttl: Duration::from_secs(session_hours * 3600),
            tls,
            secure_cookies,
            log: args.log.or(file.log).unwrap_or_else(|| "info".into()),
            max_connections,
            trusted_proxies,
            firmware_max_bytes: firmware_max_mib * 1024 * 1024,
        })
    }

    /// Creates the data directory when the database lives in it.
    pub fn prepare_data_dir(&self) -> std::io::Result<()> {
        if self.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Ok(())
    }
}

/// `scheme://address` of the listener agents use; a wildcard address becomes a placeholder the
/// operator replaces (or sets `agent_url`).
fn default_agent_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if addr.ip().is_unspecified() {
        format!("{scheme}://<panel-address>:{}", addr.port())
    } else {
        format!("{scheme}://{addr}")
    }
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| SettingsError::Parse {
        path: path.display().to_string(),
        source,
    })
}

/// Hides the password of `scheme://user:password@host/...` URLs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}:<redacted>{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("agent_listen", &self.agent_listen)
            .field("agent_url", &self.agent_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("key_file", &self.key_file)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("heartbeat", &self.heartbeat)
            .field("session_ttl", &self.session_ttl)
            .field("tls", &self.tls)
            .field("secure_cookies", &self.secure_cookies)
            .field("log", &self.log)
            .field("firmware_max_bytes", &self.firmware_max_bytes)
            .field("max_connections", &self.max_connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 3000))
    }

    #[test]
    fn defaults() {
        let s = Settings::resolve(Args::default(), default_listen()).expect("valid");
        assert_eq!(s.listen, default_listen());
        assert_eq!(s.database_url, "sqlite://data/flotilla.db");
        assert_eq!(s.heartbeat, Duration::from_secs(5));
        assert!(!s.secure_cookies);
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("panel.toml");
        std::fs::write(
            &path,
            "heartbeat_secs = 7\nsession_hours = 2\ndata_dir = \"/srv/flotilla\"\n",
        )
        .expect("write");
        let args = Args {
            config: Some(path),
            heartbeat_secs: Some(3),
            ..Default::default()
        };
        let s = Settings::resolve(args, default_listen()).expect("valid");
        assert_eq!(s.heartbeat, Duration::from_secs(3));
        assert_eq!(s.session_ttl, Duration::from_secs(7200));
        assert_eq!(s.database_url, "sqlite:///srv/flotilla/flotilla.db");
    }

    #[test]
    fn bad_files_and_values_are_clear_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("panel.toml");
        std::fs::write(&path, "heartbeat = 7\n").expect("write");
        let err = Settings::resolve(
            Args {
                config: Some(path),
                ..Default::default()
            },
            default_listen(),
        );
        assert!(matches!(err, Err(SettingsError::Parse { .. })));
        let err = Settings::resolve(
            Args {
                heartbeat_secs: Some(0),
                ..Default::default()
            },
            default_listen(),
        );
        assert!(matches!(err, Err(SettingsError::Invalid(_))));
        let err = Settings::resolve(
            Args {
                admin_password: Some("short".into()),
                ..Default::default()
            },
            default_listen(),
        );
        assert!(matches!(err, Err(SettingsError::Invalid(m)) if m.contains("admin_password")));
        let err = Settings::resolve(
            Args {
                tls_cert: Some("panel.pem".into()),
                ..Default::default()
            },
            default_listen(),
        );
        assert!(matches!(err, Err(SettingsError::Invalid(m)) if m.contains("tls_key")));
        let err = Settings::resolve(
            Args {
                max_connections: Some(1),
                ..Default::default()
            },
            default_listen(),
        );
        assert!(matches!(err, Err(SettingsError::Invalid(m)) if m.contains("max_connections")));
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_the_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("panel.toml");
        std::fs::write(&path, "trusted_proxies = [\"10.0.0.2\"]\n").expect("write");
        let s = Settings::resolve(
            Args {
                config: Some(path),
                ..Default::default()
            },
            default_listen(),
        )
        .expect("valid");
        assert_eq!(
            s.trusted_proxies,
            vec!["10.0.0.2".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(s.max_connections, 16_384);
    }

    #[test]
    fn the_agent_url_follows_the_agent_listener_and_tls_unless_given() {
        let s = Settings::resolve(Args::default(), default_listen()).expect("valid");
        assert_eq!(s.agent_url, format!("http://{}", default_listen()));
        let s = Settings::resolve(
            Args {
                agent_listen: Some("10.77.0.1:3100".parse().expect("addr")),
                tls_cert: Some("panel.pem".into()),
                tls_key: Some("panel.key".into()),
                ..Default::default()
            },
            default_listen(),
        )
        .expect("valid");
        assert_eq!(s.agent_url, "https://10.77.0.1:3100");
        let s = Settings::resolve(
            Args {
                listen: Some("0.0.0.0:3000".parse().expect("addr")),
                ..Default::default()
            },
            default_listen(),
        )
        .expect("valid");
        assert_eq!(s.agent_url, "http://<panel-address>:3000");
        let s = Settings::resolve(
            Args {
                agent_url: Some("https://panel.example/".into()),
                ..Default::default()
            },
            default_listen(),
        )
        .expect("valid");
        assert_eq!(s.agent_url, "https://panel.example");
        for bad in ["panel.example", "https://", "ftp://x", "https://x/y"] {
            let err = Settings::resolve(
                Args {
                    agent_url: Some(bad.into()),
                    ..Default::default()
                },
                default_listen(),
            );
            assert!(
                matches!(err, Err(SettingsError::Invalid(m)) if m.contains("agent_url")),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_turns_secure_cookies_on_unless_told_otherwise() {
        let tls = || Args {
            tls_cert: Some("panel.pem".into()),
            tls_key: Some("panel.key".into()),
            ..Default::default()
        };
        let s = Settings::resolve(tls(), default_listen()).expect("valid");
        assert!(s.secure_cookies && s.tls.is_some());
        let s = Settings::resolve(
            Args {
                secure_cookies: Some(false),
                ..tls()
            },
            default_listen(),
        )
        .expect("valid");
        assert!(!s.secure_cookies);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let args = Args {
            database_url: Some("postgres://flotilla:hunter2hunter2@db/flotilla".into()),
            admin_password: Some("correct horse battery".into()),
            ..Default::default()
        };
        let s = Settings::resolve(args, default_listen()).expect("valid");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("horse"),
            "{shown}"
        );
        assert!(shown.contains("postgres://flotilla:<redacted>@db/flotilla"));
    }
}

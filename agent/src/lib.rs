//! flotilla-agent: the node side of Flotilla.
//!
//! * [`endpoint`]: the panel's address and TLS trust.
//! * [`link`]: enrol once, then hold one WebSocket to the panel (hello, heartbeats, commands),
//!   reconnecting with jittered backoff.
//! * [`docker`]: the bollard adapter; converts Docker models into domain types and is the only
//!   module that sees bollard.
//! * [`facts`]: what the node is (hostname, machine id, OS, resources, interfaces, versions).
//! * [`state`]: the node identity on disk (0600).
//! * [`vip`]: KeepAlived for the cluster's virtual IPs.
//! * [`appconfig`]: the cluster's Global Config, written where the cluster's containers read it.
#![forbid(unsafe_code)]

pub mod appconfig;
mod commands;
pub mod docker;
pub mod endpoint;
pub mod facts;
pub mod firmware;
pub mod link;
pub mod state;
pub mod storage;
pub mod vip;

use std::path::PathBuf;

/// Everything the agent needs to run, from flags or the environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// The panel's URL(s), e.g. `http://10.77.0.1:3100` or `https://panel.example` with its TLS
    /// trust; several for panel replicas, used in turn.
    pub panel: std::sync::Arc<endpoint::Panels>,
    /// One-time enrolment key; only needed until the node has a token.
    pub enrolment_key: Option<String>,
    pub state_dir: PathBuf,
    pub docker_host: String,
    pub machine_id_file: PathBuf,
    pub firmware_version_file: PathBuf,
    /// The A/B installer called as `CMD install FILE | reboot | commit | rollback`.
    pub firmware_installer: Option<PathBuf>,
    pub disk_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("state directory {path}: {source}")]
    State {
        path: String,
        source: std::io::Error,
    },
    #[error("stored identity {path} is unreadable: {reason}")]
    Identity { path: String, reason: String },
    #[error("the node has no token yet and no enrolment key was given (use --enrolment-key)")]
    NoKey,
    #[error("enrolment refused by the panel: {0}")]
    EnrolRefused(String),
    #[error("panel URL {0:?} must be http(s)://host[:port]")]
    BadUrl(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot reach the panel: {0}")]
    Connect(String),
    #[error("the panel refused this node's token (revoked or unknown); re-enrol the node")]
    TokenRefused,
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("cannot read {what}: {source}")]
    Facts {
        what: &'static str,
        source: std::io::Error,
    },
}

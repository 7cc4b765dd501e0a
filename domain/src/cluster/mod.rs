//! Clusters: what an operator sends to make or change one (the Add Cluster wizard's input,
//! validated inline in the browser and again on the server) and what the panel shows of it. One
//! file per concern:
//! * `draft`: the wizard's definition, VIPs and whole draft, validated into a [`ClusterSpec`];
//! * `member`: one node's choices, checked against what the panel knows of it ([`Candidate`]);
//! * `edit`: what can change on an existing cluster;
//! * `view`: the cluster list's rows and a cluster's page.
//!
//! Here: the cluster's phase, the rules for single fields, the validated definition and the
//! actions on one node.
mod draft;
mod edit;
mod member;
mod view;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use draft::*;
pub use edit::*;
pub use member::*;
pub use view::*;

use crate::ValidationError;
use crate::net::{Cidr, parse_ipv4};
use crate::node::NetInterface;
use crate::swarm::{NodeLabel, SwarmRole, parse_labels};

pub const DEFAULT_DATA_PATH_PORT: u16 = 4789;
pub const DEFAULT_LISTEN_PORT: u16 = 2377;
pub const GOSSIP_PORT: u16 = 7946;
pub const DEFAULT_POOL: &str = "10.200.0.0/16";
pub const DEFAULT_SUBNET_SIZE: u8 = 24;
/// VRRP advertisement interval in seconds (see `docs/clusters.md`: synctime).
pub const DEFAULT_SYNCTIME: &str = "0.1";

/// Where a cluster is in its life. Stored as text; anything else in the store is corrupt data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterPhase {
    /// Its creation workflow runs (or is paused).
    Creating,
    Active,
    /// Creation failed or was aborted; Retry or Delete.
    Failed,
    /// Its deletion workflow runs.
    Deleting,
}

impl ClusterPhase {
    pub const ALL: [ClusterPhase; 4] = [
        ClusterPhase::Creating,
        ClusterPhase::Active,
        ClusterPhase::Failed,
        ClusterPhase::Deleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterPhase::Creating => "creating",
            ClusterPhase::Active => "active",
            ClusterPhase::Failed => "failed",
            ClusterPhase::Deleting => "deleting",
        }
    }

    pub fn parse(value: &str) -> Option<ClusterPhase> {
        ClusterPhase::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Bounds on what an operator may send in one request. Checked before any other rule, so a
/// draft with thousands of entries is refused by its size, never by a check that compares every
/// entry with every other one.
pub mod limits {
    pub const VIPS: usize = 16;
    pub const POOLS: usize = 16;
    pub const MEMBERS: usize = 128;
    pub const PEERS_PER_VIP: usize = 32;
    pub const LABELS: usize = crate::swarm::MAX_LABELS;
    /// Any one text field (labels, peers, names…), in bytes.
    pub const TEXT: usize = 8 * 1024;
}

fn too_long(text: &str) -> Option<String> {
    (text.len() > limits::TEXT).then(|| format!("use at most {} characters", limits::TEXT))
}

/// Cluster names: 2–40 characters, letters, digits, `-` and `_`, starting with a letter or digit.
pub fn parse_cluster_name(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.len() < 2 || v.len() > 40 {
        return Err("use 2 to 40 characters".into());
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("start with a letter or digit".into());
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("use only letters, digits, '-' and '_'".into());
    }
    Ok(v.to_owned())
}

/// Synctime: the VRRP advertisement interval between the cluster's KeepAlived peers, in seconds;
/// more than 0.005 and at most 40.95 (VRRPv3's limit), kept in centiseconds.
pub fn parse_synctime(value: &str) -> Result<u16, String> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| "enter a number of seconds, e.g. 0.1".to_string())?;
    if !secs.is_finite() || secs <= 0.005 || secs > 40.95 {
        return Err("must be more than 0.005 and at most 40.95 seconds".into());
    }
    Ok(((secs * 100.0).round() as u16).max(1))
}

fn parse_port(value: &str, min: u16, max: u16) -> Result<u16, String> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| (min..=max).contains(p))
        .ok_or_else(|| format!("enter a port from {min} to {max}"))
}

fn default_volume_sync() -> String {
    crate::storage::DEFAULT_SYNC_SECS.to_string()
}

fn default_volume_sync_secs() -> u32 {
    crate::storage::DEFAULT_SYNC_SECS
}

/// A validated first step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub volumes: bool,
    /// Async standby's sync interval (seconds); kept while volumes are off.
    #[serde(default = "default_volume_sync_secs")]
    pub volume_sync_secs: u32,
    pub vips: Vec<VipSpec>,
    /// VRRP advertisement interval in centiseconds.
    pub synctime_cs: u16,
    pub pools: Vec<Cidr>,
    pub subnet_size: u8,
    pub data_path_port: u16,
    pub listen_port: u16,
}

impl Definition {
    /// Whether a search of the cluster list (`needle`, lowercase) finds this cluster: by name or
    /// by a virtual IP's address.
    pub fn matches(&self, needle: &str) -> bool {
        self.name.to_lowercase().contains(needle)
            || self
                .vips
                .iter()
                .any(|v| v.address.to_string().contains(needle))
    }
}

fn err(errors: &mut Vec<ValidationError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(ValidationError::new(field, message));
}

/// The first message for `field` in a list of problems.
pub fn problem<'a>(problems: &'a [ValidationError], field: &str) -> Option<&'a str> {
    problems
        .iter()
        .find(|p| p.field == field)
        .map(|p| p.message.as_str())
}

/// What an operator can do to one node of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NodeAction {
    Availability {
        availability: crate::swarm::Availability,
    },
    Promote,
    Demote,
    Labels {
        labels: String,
    },
}

#[cfg(test)]
mod tests;

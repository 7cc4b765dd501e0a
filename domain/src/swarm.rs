//! Docker Swarm as the panel sees it: roles, labels, availability, node states and the view a
//! manager reports. Shared by the cluster wizard (`cluster`), the status planners (`health`) and
//! the agent protocol (`protocol`), which therefore do not depend on each other.
use serde::{Deserialize, Serialize};

use crate::network::NetworkView;
use crate::workload::observe::{MAX_REPORTED_SERVICES, MAX_REPORTED_TASKS, ServiceObservation};

/// Most labels one node may carry, and the most text they may be typed in.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABELS_TEXT: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmRole {
    Manager,
    Worker,
}

impl SwarmRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmRole::Manager => "manager",
            SwarmRole::Worker => "worker",
        }
    }

    /// The role `as_str` names; anything else is not a role.
    pub fn parse(text: &str) -> Option<SwarmRole> {
        match text {
            "manager" => Some(SwarmRole::Manager),
            "worker" => Some(SwarmRole::Worker),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SwarmRole::Manager => "Manager",
            SwarmRole::Worker => "Worker",
        }
    }
}

/// A node label (`key=value`) following Docker's label rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeLabel {
    pub key: String,
    pub value: String,
}

const RESERVED_LABEL_PREFIXES: [&str; 3] = ["com.docker.", "io.docker.", "org.dockerproject."];

/// Docker's label-key rules: lowercase letters, digits, `.` and `-`; starts and ends with a
/// letter; no `..` or `--`; not in Docker's reserved namespaces.
pub fn parse_label_key(key: &str) -> Result<String, String> {
    let k = key.trim();
    if k.is_empty() || k.len() > 100 {
        return Err("a label key needs 1 to 100 characters".into());
    }
    if !k
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(format!(
            "label key \"{k}\": use lowercase letters, digits, '.' and '-'"
        ));
    }
    let first_last_ok = k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.ends_with(|c: char| c.is_ascii_lowercase());
    if !first_last_ok {
        return Err(format!(
            "label key \"{k}\" must start and end with a lowercase letter"
        ));
    }
    if k.contains("..") || k.contains("--") || k.contains(".-") || k.contains("-.") {
        return Err(format!("label key \"{k}\" has consecutive separators"));
    }
    if RESERVED_LABEL_PREFIXES.iter().any(|p| k.starts_with(p)) {
        return Err(format!(
            "label key \"{k}\" is in a namespace reserved by Docker"
        ));
    }
    Ok(k.to_owned())
}

/// The node labels Flotilla sets itself (the async volume's primary): not the operator's.
const FLOTILLA_NODE_LABELS: &str = "io.flotilla.";

/// Labels as typed: one `key=value` per line or separated by commas; keys unique.
pub fn parse_labels(text: &str) -> Result<Vec<NodeLabel>, String> {
    if text.len() > MAX_LABELS_TEXT {
        return Err(format!("use at most {MAX_LABELS_TEXT} characters"));
    }
    let items = text
        .split([',', '\n'])
        .filter(|s| !s.trim().is_empty())
        .count();
    if items > MAX_LABELS {
        return Err(format!("use at most {} labels", MAX_LABELS));
    }
    let mut labels: Vec<NodeLabel> = vec![];
    for item in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("\"{item}\" is not key=value"))?;
        let key = parse_label_key(key)?;
        if key.starts_with(FLOTILLA_NODE_LABELS) {
            return Err(format!(
                "label key \"{key}\" is set by Flotilla itself (the {FLOTILLA_NODE_LABELS} namespace)"
            ));
        }
        let value = value.trim();
        if value.len() > 255 || value.chars().any(char::is_control) {
            return Err(format!(
                "the value of \"{key}\" must be at most 255 printable characters"
            ));
        }
        if labels.iter().any(|l| l.key == key) {
            return Err(format!("label \"{key}\" is given twice"));
        }
        labels.push(NodeLabel {
            key,
            value: value.to_owned(),
        });
    }
    Ok(labels)
}

pub fn labels_text(labels: &[NodeLabel]) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Active,
    Pause,
    Drain,
}

impl Availability {
    pub const ALL: [Availability; 3] = [
        Availability::Active,
        Availability::Pause,
        Availability::Drain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Pause => "pause",
            Availability::Drain => "drain",
        }
    }

    pub fn parse(value: &str) -> Option<Availability> {
        Availability::ALL
            .into_iter()
            .find(|a| a.as_str() == value.trim())
    }
}

/// A swarm node's state as its managers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmNodeState {
    Ready,
    Down,
    Disconnected,
    Unknown,
}

impl SwarmNodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmNodeState::Ready => "ready",
            SwarmNodeState::Down => "down",
            SwarmNodeState::Disconnected => "disconnected",
            SwarmNodeState::Unknown => "unknown",
        }
    }
}

/// Whether a manager takes part in Raft, as the other managers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Reachable,
    Unreachable,
    Unknown,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Reachable => "reachable",
            Reachability::Unreachable => "unreachable",
            Reachability::Unknown => "unknown",
        }
    }
}

/// One node as a manager sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmNodeView {
    pub id: String,
    pub hostname: String,
    pub role: SwarmRole,
    pub availability: Availability,
    pub state: SwarmNodeState,
    pub leader: bool,
    /// Manager reachability; `None` for workers.
    pub reachability: Option<Reachability>,
    pub address: String,
    pub engine_version: String,
    pub labels: Vec<NodeLabel>,
    /// Platform, as placement constraints see it (`node.platform.os`, `node.platform.arch`).
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub arch: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmSnapshot {
    pub cluster_id: String,
    pub nodes: Vec<SwarmNodeView>,
    pub default_addr_pool: Vec<String>,
    pub subnet_size: u32,
    pub data_path_port: u32,
    /// Swarm-scoped overlay networks.
    #[serde(default)]
    pub networks: Vec<NetworkView>,
    /// Services with their newest tasks.
    #[serde(default)]
    pub services: Vec<ServiceObservation>,
    #[serde(default)]
    pub secrets: Vec<SwarmObject>,
    #[serde(default)]
    pub configs: Vec<SwarmObject>,
}

/// A Swarm secret or config as a manager reports it (never its content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmObject {
    pub name: String,
    pub created_at_ms: Option<i64>,
    /// The stack it belongs to (`com.docker.stack.namespace`): an installed app's name.
    pub stack: Option<String>,
    /// The Global Secret whose version it carries (`io.flotilla.global-secret`).
    pub global_secret: Option<String>,
    /// Swarm names of the services whose spec uses it.
    pub services: Vec<String>,
}

impl SwarmNodeView {
    /// A manager that takes part in Raft: the leader, or reachable by the others' account.
    pub fn reachable_manager(&self) -> bool {
        self.role == SwarmRole::Manager
            && (self.leader || self.reachability == Some(Reachability::Reachable))
    }

    /// Ready and active: the scheduler may place tasks on it.
    pub fn schedulable(&self) -> bool {
        self.state == SwarmNodeState::Ready && self.availability == Availability::Active
    }
}

/// Most nodes and networks in one swarm report.
pub const MAX_REPORTED_SWARM_NODES: usize = 1000;
pub const MAX_REPORTED_NETWORKS: usize = 1000;
/// Most secrets, and most configs, in one swarm report.
pub const MAX_REPORTED_OBJECTS: usize = 1000;

impl SwarmSnapshot {
    /// Whether the report stays inside the bounds the panel keeps per connection.
    pub fn within_bounds(&self) -> bool {
        self.nodes.len() <= MAX_REPORTED_SWARM_NODES
            && self.networks.len() <= MAX_REPORTED_NETWORKS
            && self.services.len() <= MAX_REPORTED_SERVICES
            && self.secrets.len() <= MAX_REPORTED_OBJECTS
            && self.configs.len() <= MAX_REPORTED_OBJECTS
            && self
                .services
                .iter()
                .all(|s| s.tasks.len() <= MAX_REPORTED_TASKS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_their_wire_names() {
        assert_eq!(
            serde_json::to_string(&SwarmNodeState::Disconnected).unwrap_or_default(),
            "\"disconnected\""
        );
        assert_eq!(
            serde_json::from_str::<Reachability>("\"unreachable\"").ok(),
            Some(Reachability::Unreachable)
        );
        assert!(serde_json::from_str::<SwarmNodeState>("\"sideways\"").is_err());
    }

    #[test]
    fn labels_follow_dockers_rules() {
        assert_eq!(
            parse_labels("zone=a, rack=r1\nrole.edge=gw").map(|l| l.len()),
            Ok(3)
        );
        assert!(parse_labels("Zone=a").is_err());
        assert!(parse_labels("zone").is_err());
        assert!(parse_labels("1zone=a").is_err());
        assert!(parse_labels("zone-=a").is_err());
        assert!(parse_labels("a..b=c").is_err());
        assert!(parse_labels("com.docker.x=y").is_err());
        let ours = format!("{}=true", crate::standby::PRIMARY_LABEL);
        assert!(parse_labels(&ours).is_err_and(|e| e.contains("set by Flotilla")));
        assert!(parse_labels("zone=a,zone=b").is_err());
        assert_eq!(parse_labels("  ").map(|l| l.len()), Ok(0));
        assert_eq!(
            labels_text(&parse_labels("a=1,b=2").unwrap_or_default()),
            "a=1, b=2"
        );
    }

    #[test]
    fn label_lists_are_bounded() {
        let labels: Vec<String> = (0..65).map(|i| format!("k{i}x=v")).collect();
        assert!(parse_labels(&labels.join(",")).is_err());
        assert!(parse_labels(&labels[..64].join(",")).is_ok());
        assert!(parse_labels(&"a".repeat(MAX_LABELS_TEXT + 1)).is_err());
    }
}

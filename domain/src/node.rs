//! Nodes: the facts an agent reports and the views the UI shows.
use serde::{Deserialize, Serialize};

/// Everything an agent knows about its node. Sent in `hello` and whenever it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeFacts {
    pub hostname: String,
    pub machine_id: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu_model: String,
    pub cpu_count: u32,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub disk_path: String,
    pub disk_total_bytes: u64,
    pub disk_available_bytes: u64,
    pub interfaces: Vec<NetInterface>,
    pub engine: EngineFacts,
    pub agent_version: String,
    pub firmware_version: String,
    pub uptime_secs: u64,
    /// The kernel has IPVS (Swarm's ingress routing mesh and VIP endpoints need it).
    #[serde(default)]
    pub ipvs: bool,
    /// The board the firmware targets (`/sys/class/dmi/id/board_name` or the device tree
    /// model); empty when the node does not say.
    #[serde(default)]
    pub board: String,
    /// Where an upgrade of this node stands, as its agent keeps it.
    #[serde(default)]
    pub firmware: crate::firmware::FirmwareState,
    /// The cluster Global Config version the node holds (written by its agent).
    #[serde(default)]
    pub global_config: Option<crate::config::global::HeldConfig>,
    /// What the node offers for cluster volumes (none from an agent that predates them).
    #[serde(default)]
    pub storage: crate::storage::StorageFacts,
}

/// Bounds on what one node may report: the panel keeps facts per node, so a misbehaving agent
/// must not be able to make them large.
pub mod caps {
    pub const HOSTNAME: usize = 253;
    pub const MACHINE_ID: usize = 128;
    /// Any other text fact (OS, kernel, versions, reasons, paths).
    pub const TEXT: usize = 256;
    pub const INTERFACES: usize = 64;
    pub const ADDRESSES_PER_INTERFACE: usize = 32;
    /// Interface names, MAC and addresses.
    pub const SHORT: usize = 64;
}

/// Cuts `s` to at most `max` bytes on a character boundary; true when something was cut.
pub(crate) fn cap(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

impl NodeFacts {
    /// Bounds every string and list to [`caps`]; true when anything was cut. The panel applies
    /// it to every `hello` and `facts` frame before it stores or shows them.
    pub fn cap(&mut self) -> bool {
        let mut cut = cap(&mut self.hostname, caps::HOSTNAME);
        cut |= cap(&mut self.machine_id, caps::MACHINE_ID);
        for s in [
            &mut self.os,
            &mut self.kernel,
            &mut self.arch,
            &mut self.cpu_model,
            &mut self.disk_path,
            &mut self.agent_version,
            &mut self.firmware_version,
            &mut self.board,
        ] {
            cut |= cap(s, caps::TEXT);
        }
        cut |= self.firmware.cap();
        cut |= self.storage.cap();
        if let Some(held) = &mut self.global_config {
            cut |= cap(&mut held.cluster_id, caps::SHORT);
        }
        if self.interfaces.len() > caps::INTERFACES {
            self.interfaces.truncate(caps::INTERFACES);
            cut = true;
        }
        for i in &mut self.interfaces {
            cut |= cap(&mut i.name, caps::SHORT);
            if let Some(mac) = &mut i.mac {
                cut |= cap(mac, caps::SHORT);
            }
            if i.addresses.len() > caps::ADDRESSES_PER_INTERFACE {
                i.addresses.truncate(caps::ADDRESSES_PER_INTERFACE);
                cut = true;
            }
            for a in &mut i.addresses {
                cut |= cap(a, caps::SHORT);
            }
        }
        match &mut self.engine {
            EngineFacts::Up {
                version,
                api_version,
                swarm,
            } => {
                cut |= cap(version, caps::SHORT) | cap(api_version, caps::SHORT);
                for s in [&mut swarm.node_id, &mut swarm.cluster_id]
                    .into_iter()
                    .flatten()
                {
                    cut |= cap(s, caps::TEXT);
                }
            }
            EngineFacts::Unreachable { reason } => cut |= cap(reason, caps::TEXT),
        }
        cut
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInterface {
    pub name: String,
    pub mac: Option<String>,
    pub up: bool,
    /// Addresses in CIDR form, e.g. `10.77.0.11/24`.
    pub addresses: Vec<String>,
}

/// What the node's Docker Engine said, or why it could not be asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EngineFacts {
    Up {
        version: String,
        api_version: String,
        swarm: SwarmFacts,
    },
    Unreachable {
        reason: String,
    },
}

impl EngineFacts {
    pub fn version_label(&self) -> String {
        match self {
            EngineFacts::Up { version, .. } => version.clone(),
            EngineFacts::Unreachable { .. } => "unreachable".into(),
        }
    }

    pub fn swarm_label(&self) -> String {
        match self {
            EngineFacts::Up { swarm, .. } => swarm.state.label().into(),
            EngineFacts::Unreachable { .. } => "unknown".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmFacts {
    pub state: SwarmState,
    pub node_id: Option<String>,
    pub is_manager: bool,
    pub cluster_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmState {
    Inactive,
    Pending,
    Active,
    Error,
    Locked,
    Unknown,
}

impl SwarmState {
    pub fn label(self) -> &'static str {
        match self {
            SwarmState::Inactive => "inactive",
            SwarmState::Pending => "pending",
            SwarmState::Active => "active",
            SwarmState::Error => "error",
            SwarmState::Locked => "locked",
            SwarmState::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Connectivity {
    Online,
    /// Connected, but its heartbeat is overdue (it is taken offline after three).
    Silent,
    Offline,
}

impl Connectivity {
    pub fn label(self) -> &'static str {
        match self {
            Connectivity::Online => "Online",
            Connectivity::Silent => "Silent",
            Connectivity::Offline => "Offline",
        }
    }
}

/// One row of the node list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    pub connectivity: Connectivity,
    pub last_seen_ms: Option<i64>,
    pub enrolled_at_ms: i64,
    pub addresses: Vec<String>,
    pub engine_version: String,
    pub swarm_state: String,
    pub firmware_version: String,
    /// An upgrade of its firmware is under way (what the node list says next to the version).
    #[serde(default)]
    pub firmware_upgrade: Option<String>,
    pub agent_version: String,
}

impl NodeView {
    /// Builds the row from stored facts (if the node ever said hello) and its live status.
    pub fn new(
        id: String,
        hostname: String,
        enrolled_at_ms: i64,
        facts: Option<&NodeFacts>,
        connectivity: Connectivity,
        last_seen_ms: Option<i64>,
    ) -> Self {
        let unknown = || "—".to_string();
        Self {
            id,
            hostname,
            connectivity,
            last_seen_ms,
            enrolled_at_ms,
            addresses: facts.map(primary_addresses).unwrap_or_default(),
            engine_version: facts
                .map(|f| f.engine.version_label())
                .unwrap_or_else(unknown),
            swarm_state: facts
                .map(|f| f.engine.swarm_label())
                .unwrap_or_else(unknown),
            firmware_version: facts
                .map(|f| f.firmware_version.clone())
                .unwrap_or_else(unknown),
            firmware_upgrade: facts
                .filter(|f| f.firmware.upgrading())
                .map(|f| f.firmware.label()),
            agent_version: facts
                .map(|f| f.agent_version.clone())
                .unwrap_or_else(unknown),
        }
    }

    /// What a search of the node list looks through, lowercased and one field per line (so a
    /// search never matches across two fields): name, id, addresses, engine, swarm state and
    /// firmware. Stored with the node when its facts change; its status is a filter of its own.
    pub fn search_text(id: &str, hostname: &str, facts: Option<&NodeFacts>) -> String {
        let v = NodeView::new(
            id.to_owned(),
            hostname.to_owned(),
            0,
            facts,
            Connectivity::Offline,
            None,
        );
        let mut hay = vec![v.hostname, v.id];
        hay.extend(v.addresses);
        hay.extend([v.engine_version, v.swarm_state, v.firmware_version]);
        hay.join("\n").to_lowercase()
    }
}

/// Addresses worth showing in a list: IPv4/IPv6 on interfaces that are up, not loopback, and not
/// the Docker-made bridges and veths.
pub fn primary_addresses(facts: &NodeFacts) -> Vec<String> {
    facts
        .interfaces
        .iter()
        .filter(|i| i.up && i.name != "lo" && !is_container_plumbing(&i.name))
        .flat_map(|i| {
            i.addresses
                .iter()
                .filter(|a| !a.starts_with("fe80:"))
                .cloned()
        })
        .collect()
}

/// Docker-made bridges and veths.
pub fn is_container_plumbing(name: &str) -> bool {
    name.starts_with("docker")
        || name.starts_with("veth")
        || name.starts_with("br-")
        || name == "docker_gwbridge"
}

/// The node page: the row plus every fact, and how the node proves who it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeDetail {
    pub node: NodeView,
    /// Every fact; `machine_id` is blank for roles that may not see it (Viewers).
    pub facts: Option<NodeFacts>,
    pub identity: NodeIdentity,
}

/// What an Administrator can do to a node's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityAction {
    /// Forget the node (it must have left its cluster); its agent is disconnected and refused.
    Remove,
    /// Revoke its token: the agent is disconnected and refused until the node enrols again.
    RevokeToken,
    /// Let its machine enrol again with a key for an hour (e.g. a re-imaged device).
    AllowReenrolment,
}

/// The node's enrolment as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The machine id it enrolled with; `None` for roles that may not see it. Anyone who knows
    /// it can ask to re-enrol, so it is not shown to Viewers.
    pub machine_id: Option<String>,
    /// The node token was revoked: the agent is refused until it enrols again.
    pub token_revoked_at_ms: Option<i64>,
    /// An Administrator allowed this machine to enrol again (with a key) until then.
    pub reenrol_until_ms: Option<i64>,
    /// The cluster the node belongs to (it must leave before it can be removed).
    pub cluster: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn facts(hostname: &str) -> NodeFacts {
        NodeFacts {
            hostname: hostname.into(),
            machine_id: format!("mid-{hostname}"),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0".into(),
            arch: "x86_64".into(),
            cpu_model: "Test CPU".into(),
            cpu_count: 2,
            memory_total_bytes: 8 << 30,
            memory_available_bytes: 4 << 30,
            disk_path: "/".into(),
            disk_total_bytes: 100 << 30,
            disk_available_bytes: 50 << 30,
            interfaces: vec![
                NetInterface {
                    name: "lo".into(),
                    mac: None,
                    up: true,
                    addresses: vec!["127.0.0.1/8".into()],
                },
                NetInterface {
                    name: "eth0".into(),
                    mac: Some("aa:bb:cc:dd:ee:ff".into()),
                    up: true,
                    addresses: vec!["10.77.0.11/24".into(), "fe80::1/64".into()],
                },
                NetInterface {
                    name: "docker0".into(),
                    mac: None,
                    up: true,
                    addresses: vec!["172.18.0.1/16".into()],
                },
            ],
            engine: EngineFacts::Up {
                version: "20.10.24".into(),
                api_version: "1.41".into(),
                swarm: SwarmFacts {
                    state: SwarmState::Inactive,
                    node_id: None,
                    is_manager: false,
                    cluster_id: None,
                },
            },
            agent_version: "0.1.0".into(),
            firmware_version: "fw-1.0".into(),
            uptime_secs: 10,
            ipvs: false,
            global_config: None,
            board: String::new(),
            firmware: Default::default(),
            storage: Default::default(),
        }
    }

    #[test]
    fn capping_bounds_every_string_and_list() {
        let mut f = facts("edge-1");
        assert!(!f.cap(), "ordinary facts are untouched");
        f.hostname = "h".repeat(10_000);
        f.os = "é".repeat(1_000);
        f.interfaces = (0..500)
            .map(|i| NetInterface {
                name: format!("eth{i}"),
                mac: Some("m".repeat(500)),
                up: true,
                addresses: vec!["10.0.0.1/24".into(); 100],
            })
            .collect();
        f.engine = EngineFacts::Unreachable {
            reason: "r".repeat(100_000),
        };
        f.storage.gluster = Some("g".repeat(10_000));
        f.storage.bricks = Some(crate::storage::DiskFacts {
            path: "p".repeat(10_000),
            fs: "f".repeat(10_000),
            ..Default::default()
        });
        assert!(f.cap());
        assert_eq!(
            f.storage.gluster.as_ref().map(String::len),
            Some(caps::SHORT)
        );
        assert!(
            f.storage
                .bricks
                .as_ref()
                .is_some_and(|d| d.path.len() == caps::TEXT && d.fs.len() == caps::SHORT)
        );
        assert_eq!(f.hostname.len(), caps::HOSTNAME);
        assert!(f.os.len() <= caps::TEXT && f.os.chars().all(|c| c == 'é'));
        assert_eq!(f.interfaces.len(), caps::INTERFACES);
        assert!(
            f.interfaces
                .iter()
                .all(|i| i.addresses.len() == caps::ADDRESSES_PER_INTERFACE
                    && i.mac.as_ref().is_some_and(|m| m.len() == caps::SHORT))
        );
        assert!(
            matches!(f.engine, EngineFacts::Unreachable { ref reason } if reason.len() == caps::TEXT)
        );
        assert!(!f.cap(), "capping twice changes nothing");
    }

    #[test]
    fn view_shows_primary_addresses_only() {
        let f = facts("edge-1");
        let v = NodeView::new(
            "n1".into(),
            "edge-1".into(),
            0,
            Some(&f),
            Connectivity::Online,
            Some(5),
        );
        assert_eq!(v.addresses, vec!["10.77.0.11/24".to_string()]);
        assert_eq!(v.engine_version, "20.10.24");
        assert_eq!(v.swarm_state, "inactive");
    }

    #[test]
    fn view_without_facts_is_placeholder() {
        let v = NodeView::new(
            "n1".into(),
            "edge-1".into(),
            0,
            None,
            Connectivity::Offline,
            None,
        );
        assert!(v.addresses.is_empty());
        assert_eq!(v.engine_version, "—");
    }

    #[test]
    fn search_text_holds_name_address_and_state_one_per_line() {
        let f = facts("EDGE-1");
        let text = NodeView::search_text("N1", "EDGE-1", Some(&f));
        for needle in [
            "edge-1",
            "n1",
            "10.77.0.11",
            &f.engine.swarm_label().to_lowercase(),
        ] {
            assert!(
                text.lines().any(|l| l.contains(needle)),
                "{needle} in {text}"
            );
        }
        assert!(!text.contains("online"));
        assert_eq!(
            NodeView::search_text("n2", "Edge-2", None),
            "edge-2\nn2\n—\n—\n—"
        );
    }

    #[test]
    fn engine_facts_serialize_with_a_state_tag() {
        let e = EngineFacts::Unreachable {
            reason: "no socket".into(),
        };
        let json = serde_json::to_string(&e).unwrap_or_default();
        assert_eq!(json, r#"{"state":"unreachable","reason":"no socket"}"#);
    }
}

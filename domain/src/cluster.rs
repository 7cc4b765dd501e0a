//! Clusters: the Add Cluster wizard's input, its validation (run inline in the browser and again on
//! the server) and the validated spec the orchestrator builds from.
use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

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

/// The wizard's first step, as typed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefinitionDraft {
    pub name: String,
    pub volumes: bool,
    /// Async standby's sync interval in seconds (used on 2-node clusters).
    #[serde(default = "default_volume_sync")]
    pub volume_sync: String,
    pub vip_enabled: bool,
    pub vips: Vec<VipDraft>,
    pub synctime: String,
    pub pools: Vec<String>,
    pub subnet_size: String,
    pub data_path_port: String,
    pub listen_port: String,
}

impl Default for DefinitionDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            volumes: false,
            volume_sync: default_volume_sync(),
            vip_enabled: false,
            vips: vec![VipDraft::default()],
            synctime: DEFAULT_SYNCTIME.into(),
            pools: vec![DEFAULT_POOL.into()],
            subnet_size: DEFAULT_SUBNET_SIZE.to_string(),
            data_path_port: DEFAULT_DATA_PATH_PORT.to_string(),
            listen_port: DEFAULT_LISTEN_PORT.to_string(),
        }
    }
}

fn default_volume_sync() -> String {
    crate::storage::DEFAULT_SYNC_SECS.to_string()
}

fn default_volume_sync_secs() -> u32 {
    crate::storage::DEFAULT_SYNC_SECS
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VipDraft {
    /// `address/prefix`, e.g. `10.77.0.100/24`.
    pub address: String,
    /// Interface on the nodes; empty means each node's cluster interface.
    pub interface: String,
    /// Optional unicast peers, comma separated (multicast when empty).
    pub peers: String,
    /// Optional TCP port: only a node where it answers locally (a healthy host-mode published
    /// task) may hold the VIP.
    #[serde(default)]
    pub track_port: String,
}

/// One node of the wizard's second step, as chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberDraft {
    pub node_id: String,
    pub role: SwarmRole,
    pub labels: String,
    /// The interface swarm control, data path and VIP traffic use.
    pub interface: String,
    /// Runs KeepAlived and may hold the cluster's VIPs.
    pub vip: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterDraft {
    pub definition: DefinitionDraft,
    pub members: Vec<MemberDraft>,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSpec {
    pub address: Cidr,
    pub interface: Option<String>,
    pub peers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub track_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    pub node_id: String,
    pub role: SwarmRole,
    pub labels: Vec<NodeLabel>,
    pub interface: String,
    pub vip: bool,
}

/// A validated cluster: what the orchestrator builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub definition: Definition,
    pub members: Vec<MemberSpec>,
}

/// What validation needs to know about a node that may join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub node_id: String,
    pub hostname: String,
    pub online: bool,
    /// The cluster the node already belongs to, if any.
    pub cluster: Option<String>,
    /// Swarm state as the node's engine reports it (`inactive` to be eligible).
    pub swarm_state: String,
    pub interfaces: Vec<NetInterface>,
    /// What the node offers for cluster volumes.
    #[serde(default)]
    pub storage: crate::storage::StorageFacts,
}

impl Candidate {
    /// Why the node cannot join a new cluster, if it cannot.
    pub fn ineligible(&self) -> Option<String> {
        if let Some(c) = &self.cluster {
            Some(format!("already in cluster {c}"))
        } else if !self.online {
            Some("offline".into())
        } else if self.swarm_state != "inactive" {
            Some(format!("its engine's swarm state is {}", self.swarm_state))
        } else {
            None
        }
    }

    /// Interfaces with an IPv4 address, other than loopback and container plumbing.
    pub fn usable_interfaces(&self) -> Vec<(&str, Cidr)> {
        self.interfaces
            .iter()
            .filter(|i| i.up && i.name != "lo" && !crate::node::is_container_plumbing(&i.name))
            .filter_map(|i| {
                i.addresses
                    .iter()
                    .find_map(|a| Cidr::parse(a).ok())
                    .map(|c| (i.name.as_str(), c))
            })
            .collect()
    }

    /// Every IPv4 network the node is on (including Docker's bridges), for overlap checks.
    pub fn networks(&self) -> Vec<Cidr> {
        self.interfaces
            .iter()
            .filter(|i| i.name != "lo")
            .flat_map(|i| i.addresses.iter().filter_map(|a| Cidr::parse(a).ok()))
            .collect()
    }

    pub fn address_on(&self, interface: &str) -> Option<Cidr> {
        self.usable_interfaces()
            .into_iter()
            .find(|(n, _)| *n == interface)
            .map(|(_, c)| c)
    }
}

fn err(errors: &mut Vec<ValidationError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(ValidationError::new(field, message));
}

impl DefinitionDraft {
    /// Refuses a draft larger than [`limits`] allow, before any other check.
    fn check_size(&self) -> Result<(), Vec<ValidationError>> {
        let mut e = vec![];
        if self.vips.len() > limits::VIPS {
            err(
                &mut e,
                "vips",
                format!("use at most {} virtual IPs", limits::VIPS),
            );
        }
        if self.pools.len() > limits::POOLS {
            err(
                &mut e,
                "pools",
                format!("use at most {} address pools", limits::POOLS),
            );
        }
        let texts = [
            &self.name,
            &self.volume_sync,
            &self.synctime,
            &self.subnet_size,
            &self.data_path_port,
        ]
        .into_iter()
        .chain([&self.listen_port])
        .chain(self.pools.iter())
        .chain(
            self.vips
                .iter()
                .flat_map(|v| [&v.address, &v.interface, &v.peers, &v.track_port]),
        );
        if let Some(m) = texts.into_iter().find_map(|t| too_long(t)) {
            err(&mut e, "definition", m);
        }
        for (i, v) in self.vips.iter().enumerate() {
            if v.peers
                .split([',', ' ', '\n'])
                .filter(|p| !p.is_empty())
                .count()
                > limits::PEERS_PER_VIP
            {
                err(
                    &mut e,
                    format!("vips.{i}.peers"),
                    format!("use at most {} peers", limits::PEERS_PER_VIP),
                );
            }
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }

    /// Step one on its own (no node context): every problem, each with its field.
    pub fn validate(&self) -> Result<Definition, Vec<ValidationError>> {
        self.check_size()?;
        let mut e = vec![];
        let name = parse_cluster_name(&self.name)
            .map_err(|m| err(&mut e, "name", m))
            .ok();
        let synctime_cs = parse_synctime(&self.synctime)
            .map_err(|m| err(&mut e, "synctime", m))
            .ok();
        let volume_sync_secs = match crate::storage::parse_sync_secs(&self.volume_sync) {
            Ok(secs) => Some(secs),
            Err(m) if self.volumes => {
                err(&mut e, "volume_sync", m);
                None
            }
            // Not used while volumes are off: the default is kept.
            Err(_) => Some(crate::storage::DEFAULT_SYNC_SECS),
        };
        let data_path_port = parse_port(&self.data_path_port, 1024, 49151)
            .map_err(|m| err(&mut e, "data_path_port", m))
            .ok();
        let listen_port = parse_port(&self.listen_port, 1024, 65535)
            .map_err(|m| err(&mut e, "listen_port", m))
            .ok();
        if let (Some(d), Some(l)) = (data_path_port, listen_port) {
            if d == l {
                err(&mut e, "listen_port", "must differ from the data-path port");
            } else if l == GOSSIP_PORT || d == GOSSIP_PORT {
                err(
                    &mut e,
                    if l == GOSSIP_PORT {
                        "listen_port"
                    } else {
                        "data_path_port"
                    },
                    "7946 is Swarm's gossip port",
                );
            }
        }
        let mut pools: Vec<Cidr> = vec![];
        if self.pools.iter().all(|p| p.trim().is_empty()) {
            err(&mut e, "pools.0", "add at least one address pool");
        }
        for (i, p) in self
            .pools
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.trim().is_empty())
        {
            match Cidr::parse_network(p) {
                Err(m) => err(&mut e, format!("pools.{i}"), m),
                Ok(c) if c.prefix < 8 || c.prefix > 28 => {
                    err(&mut e, format!("pools.{i}"), "use a prefix from /8 to /28")
                }
                Ok(c) => match pools.iter().find(|o| o.overlaps(&c)) {
                    Some(o) => err(&mut e, format!("pools.{i}"), format!("overlaps pool {o}")),
                    None => pools.push(c),
                },
            }
        }
        let subnet_size = match self.subnet_size.trim().parse::<u8>() {
            Ok(s) if (16..=29).contains(&s) => match pools.iter().find(|p| p.prefix > s) {
                Some(p) => {
                    err(
                        &mut e,
                        "subnet_size",
                        format!("a /{s} subnet does not fit in pool {p}"),
                    );
                    None
                }
                None => Some(s),
            },
            _ => {
                err(&mut e, "subnet_size", "enter a prefix length from 16 to 29");
                None
            }
        };
        let mut vips: Vec<VipSpec> = vec![];
        if self.vip_enabled {
            if self.vips.iter().all(|v| v.address.trim().is_empty()) {
                err(
                    &mut e,
                    "vips.0.address",
                    "add at least one virtual IP, or turn virtual IPs off",
                );
            }
            for (i, v) in self
                .vips
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.address.trim().is_empty())
            {
                if let Some(spec) = v.validate(i, &mut e) {
                    if vips.iter().any(|o| o.address.addr == spec.address.addr) {
                        err(
                            &mut e,
                            format!("vips.{i}.address"),
                            "this virtual IP is given twice",
                        );
                    } else {
                        vips.push(spec);
                    }
                }
            }
        }
        match (
            name,
            synctime_cs,
            data_path_port,
            listen_port,
            subnet_size,
            volume_sync_secs,
        ) {
            (
                Some(name),
                Some(synctime_cs),
                Some(data_path_port),
                Some(listen_port),
                Some(subnet_size),
                Some(volume_sync_secs),
            ) if e.is_empty() => Ok(Definition {
                name,
                volumes: self.volumes,
                volume_sync_secs,
                vips,
                synctime_cs,
                pools,
                subnet_size,
                data_path_port,
                listen_port,
            }),
            _ => Err(e),
        }
    }
}

impl VipDraft {
    fn validate(&self, i: usize, e: &mut Vec<ValidationError>) -> Option<VipSpec> {
        let address = match Cidr::parse(&self.address) {
            Ok(c) if c.prefix == 0 => {
                err(
                    e,
                    format!("vips.{i}.address"),
                    "use the prefix of the network the VIP lives in, e.g. /24",
                );
                None
            }
            Ok(c) if c.addr == c.network() && c.prefix < 31 => {
                err(
                    e,
                    format!("vips.{i}.address"),
                    format!("{} is the network address, not a host", c.addr),
                );
                None
            }
            Ok(c) => Some(c),
            Err(m) => {
                err(e, format!("vips.{i}.address"), m);
                None
            }
        };
        let interface = self.interface.trim();
        if !interface.is_empty() && !valid_interface_name(interface) {
            err(
                e,
                format!("vips.{i}.interface"),
                "not a valid interface name",
            );
        }
        let mut peers = vec![];
        for p in self
            .peers
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match parse_ipv4(p) {
                Ok(ip) if peers.contains(&ip) => {
                    err(e, format!("vips.{i}.peers"), format!("{ip} is given twice"))
                }
                Ok(ip) => peers.push(ip),
                Err(m) => err(e, format!("vips.{i}.peers"), m),
            }
        }
        let track_port = match self.track_port.trim() {
            "" => None,
            p => match p.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => {
                    err(
                        e,
                        format!("vips.{i}.track_port"),
                        "enter a port from 1 to 65535, or leave it empty",
                    );
                    None
                }
            },
        };
        address.map(|address| VipSpec {
            address,
            interface: (!interface.is_empty()).then(|| interface.to_owned()),
            peers,
            track_port,
        })
    }
}

pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Advice that does not stop creation.
pub fn warnings(spec: &ClusterSpec) -> Vec<String> {
    let mut w = vec![];
    let managers = spec
        .members
        .iter()
        .filter(|m| m.role == SwarmRole::Manager)
        .count();
    if managers > 0 && managers % 2 == 0 {
        w.push(format!(
            "{managers} managers tolerate no more failures than {}: prefer an odd number.",
            managers - 1
        ));
    }
    let vip_nodes = spec.members.iter().filter(|m| m.vip).count();
    if !spec.definition.vips.is_empty() && vip_nodes == 1 {
        w.push("Only one node may hold the virtual IPs: the VIP cannot fail over.".into());
    }
    w
}

impl MemberDraft {
    /// One node's choices against what the panel knows of it (eligibility, labels, interface);
    /// problems are keyed `members.<node id>.<field>`.
    pub fn validate(&self, candidates: &[Candidate]) -> Result<MemberSpec, Vec<ValidationError>> {
        let mut e = vec![];
        let field = |f: &str| format!("members.{}.{f}", self.node_id);
        if let Some(m) = [&self.node_id, &self.labels, &self.interface]
            .into_iter()
            .find_map(|t| too_long(t))
        {
            return Err(vec![ValidationError::new("members", m)]);
        }
        let Some(c) = candidates.iter().find(|c| c.node_id == self.node_id) else {
            return Err(vec![ValidationError::new(field("node"), "unknown node")]);
        };
        if let Some(why) = c.ineligible() {
            return Err(vec![ValidationError::new(
                field("node"),
                format!("{} cannot join: {why}", c.hostname),
            )]);
        }
        let labels = parse_labels(&self.labels)
            .map_err(|msg| err(&mut e, field("labels"), msg))
            .ok();
        let interface = self.interface.trim();
        if c.address_on(interface).is_none() {
            let names: Vec<&str> = c.usable_interfaces().into_iter().map(|(n, _)| n).collect();
            err(
                &mut e,
                field("interface"),
                format!(
                    "{} has no IPv4 address on \"{interface}\" (has: {})",
                    c.hostname,
                    names.join(", ")
                ),
            );
        }
        match labels {
            Some(labels) if e.is_empty() => Ok(MemberSpec {
                node_id: self.node_id.clone(),
                role: self.role,
                labels,
                interface: interface.to_owned(),
                vip: self.vip,
            }),
            _ => Err(e),
        }
    }

    /// A node added to an existing cluster: its own checks plus the cluster's pools against the
    /// node's networks.
    pub fn validate_addition(
        &self,
        candidates: &[Candidate],
        definition: &Definition,
    ) -> Result<MemberSpec, Vec<ValidationError>> {
        let spec = self.validate(candidates)?;
        let mut e = vec![];
        if let Some(c) = candidates.iter().find(|c| c.node_id == self.node_id) {
            for pool in &definition.pools {
                if let Some(n) = c.networks().into_iter().find(|n| n.overlaps(pool)) {
                    err(
                        &mut e,
                        format!("members.{}.node", self.node_id),
                        format!(
                            "{}'s network {} overlaps the cluster's pool {pool}",
                            c.hostname,
                            n.as_network()
                        ),
                    );
                }
            }
        }
        if e.is_empty() { Ok(spec) } else { Err(e) }
    }
}

impl ClusterDraft {
    /// The whole wizard against what the panel knows of the chosen nodes. Run in the browser for
    /// inline messages and again on the server, where `candidates` are fresh.
    pub fn validate(&self, candidates: &[Candidate]) -> Result<ClusterSpec, Vec<ValidationError>> {
        if self.members.len() > limits::MEMBERS {
            return Err(vec![ValidationError::new(
                "members",
                format!("choose at most {} nodes", limits::MEMBERS),
            )]);
        }
        self.definition.check_size()?;
        let definition = self.definition.validate();
        let mut e = definition.as_ref().err().cloned().unwrap_or_default();
        let mut members: Vec<MemberSpec> = vec![];
        let mut seen = HashSet::new();
        if self.members.is_empty() {
            err(&mut e, "members", "choose at least one node");
        }
        for m in &self.members {
            let field = |f: &str| format!("members.{}.{f}", m.node_id);
            if !seen.insert(m.node_id.as_str()) {
                err(&mut e, field("node"), "this node is chosen twice");
                continue;
            }
            match m.validate(candidates) {
                Ok(spec) => members.push(spec),
                Err(problems) => e.extend(problems),
            }
        }
        if !self.members.is_empty() && !self.members.iter().any(|m| m.role == SwarmRole::Manager) {
            err(&mut e, "members", "a cluster needs at least one manager");
        }
        let chosen: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| seen.contains(c.node_id.as_str()))
            .collect();
        if let Ok(def) = &definition {
            if def.volumes {
                crate::storage::check_nodes(seen.len(), &chosen, &mut e);
            }
            for (i, pool) in def.pools.iter().enumerate() {
                let clash = chosen.iter().find_map(|c| {
                    c.networks()
                        .into_iter()
                        .find(|n| n.overlaps(pool))
                        .map(|n| (c, n))
                });
                if let Some((c, n)) = clash {
                    err(
                        &mut e,
                        format!("pools.{i}"),
                        format!("overlaps {}'s network {}", c.hostname, n.as_network()),
                    );
                }
            }
            if !def.vips.is_empty() && !self.members.iter().any(|m| m.vip) {
                err(
                    &mut e,
                    "members",
                    "choose at least one node that may hold the virtual IPs",
                );
            }
            for (i, vip) in def.vips.iter().enumerate() {
                let field = format!("vips.{i}.address");
                if let Some(c) = chosen
                    .iter()
                    .find(|c| c.networks().iter().any(|n| n.addr == vip.address.addr))
                {
                    err(
                        &mut e,
                        field.clone(),
                        format!("{} is {}'s own address", vip.address.addr, c.hostname),
                    );
                }
                let reachable = self.members.iter().filter(|m| m.vip).any(|m| {
                    let iface = vip.interface.as_deref().unwrap_or(m.interface.as_str());
                    chosen
                        .iter()
                        .find(|c| c.node_id == m.node_id)
                        .and_then(|c| c.address_on(iface))
                        .is_some_and(|a| a.contains(vip.address.addr))
                });
                if !reachable && self.members.iter().any(|m| m.vip) {
                    err(
                        &mut e,
                        field,
                        format!(
                            "{} is not in the network of any VIP node's interface",
                            vip.address
                        ),
                    );
                }
            }
        }
        match definition {
            Ok(definition) if e.is_empty() => Ok(ClusterSpec {
                definition,
                members,
            }),
            _ => Err(e),
        }
    }
}

/// The first message for `field` in a list of problems.
pub fn problem<'a>(problems: &'a [ValidationError], field: &str) -> Option<&'a str> {
    problems
        .iter()
        .find(|p| p.field == field)
        .map(|p| p.message.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> DefinitionDraft {
        DefinitionDraft {
            name: "line-3".into(),
            vip_enabled: true,
            vips: vec![VipDraft {
                address: "10.77.0.100/24".into(),
                track_port: "8080".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_list_search_finds_a_cluster_by_name_or_vip_address() {
        let d = good().validate().expect("valid");
        for needle in ["line", "line-3", "10.77.0.100", "0.100/24"] {
            assert!(d.matches(needle), "{needle}");
        }
        assert!(!d.matches("line-4"));
        assert!(!d.matches("LINE"), "the needle comes lowercase");
    }

    fn candidate(id: &str, ip: &str) -> Candidate {
        Candidate {
            node_id: id.into(),
            hostname: format!("edge-{id}"),
            online: true,
            cluster: None,
            swarm_state: "inactive".into(),
            storage: Default::default(),
            interfaces: vec![
                NetInterface {
                    name: "lo".into(),
                    mac: None,
                    up: true,
                    addresses: vec!["127.0.0.1/8".into()],
                },
                NetInterface {
                    name: "eth0".into(),
                    mac: None,
                    up: true,
                    addresses: vec![format!("{ip}/24")],
                },
                NetInterface {
                    name: "docker0".into(),
                    mac: None,
                    up: true,
                    addresses: vec!["172.31.1.1/24".into()],
                },
            ],
        }
    }

    fn member(id: &str, role: SwarmRole) -> MemberDraft {
        MemberDraft {
            node_id: id.into(),
            role,
            labels: String::new(),
            interface: "eth0".into(),
            vip: true,
        }
    }

    fn fields(r: Result<impl std::fmt::Debug, Vec<ValidationError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn oversized_drafts_are_refused_by_their_size() {
        let mut d = good();
        d.vip_enabled = true;
        d.vips = vec![VipDraft::default(); 5_000];
        d.pools = vec!["10.0.0.0/8".into(); 5_000];
        assert_eq!(fields(d.validate()), vec!["vips", "pools"]);
        let mut d = good();
        d.vips[0].peers = "10.0.0.1 ".repeat(33);
        assert_eq!(fields(d.validate()), vec!["vips.0.peers"]);
        d.vips[0].peers = "x".repeat(limits::TEXT + 1);
        assert!(fields(d.validate()).contains(&"definition".to_string()));

        let draft = ClusterDraft {
            definition: good(),
            members: (0..10_000)
                .map(|i| member(&format!("n{i}"), SwarmRole::Manager))
                .collect(),
        };
        assert_eq!(fields(draft.validate(&[])), vec!["members"]);
    }

    #[test]
    fn a_good_definition_passes_with_defaults() {
        let d = good().validate().expect("valid");
        assert_eq!(d.synctime_cs, 10);
        assert_eq!(d.data_path_port, 4789);
        assert_eq!(d.listen_port, 2377);
        assert_eq!(d.subnet_size, 24);
        assert_eq!(d.pools[0].to_string(), "10.200.0.0/16");
        assert_eq!(d.vips[0].address.to_string(), "10.77.0.100/24");
        assert_eq!(d.vips[0].track_port, Some(8080));
    }

    #[test]
    fn every_field_reports_its_own_problem() {
        let bad = DefinitionDraft {
            name: "-x".into(),
            volumes: true,
            volume_sync: "0".into(),
            vip_enabled: true,
            vips: vec![VipDraft {
                address: "10.77.0.0/24".into(),
                interface: "eth 0".into(),
                peers: "10.0.0.1, nope".into(),
                track_port: "0".into(),
            }],
            synctime: "0.005".into(),
            pools: vec!["10.200.1.0/16".into(), "300.1.1.1/8".into()],
            subnet_size: "12".into(),
            data_path_port: "80".into(),
            listen_port: "70000".into(),
        };
        let f = fields(bad.validate());
        for want in [
            "name",
            "volume_sync",
            "synctime",
            "data_path_port",
            "listen_port",
            "pools.0",
            "pools.1",
            "subnet_size",
            "vips.0.address",
            "vips.0.interface",
            "vips.0.peers",
            "vips.0.track_port",
        ] {
            assert!(f.contains(&want.to_string()), "missing {want} in {f:?}");
        }
    }

    #[test]
    fn pools_must_not_overlap_and_must_fit_the_subnet_size() {
        let mut d = good();
        d.pools = vec!["10.200.0.0/16".into(), "10.200.128.0/17".into()];
        assert_eq!(fields(d.validate()), vec!["pools.1"]);
        d.pools = vec!["10.200.0.0/29".into()];
        assert_eq!(
            fields(d.validate()),
            vec!["pools.0"],
            "pools longer than /28 are too small"
        );
    }

    #[test]
    fn subnet_size_fits_every_pool() {
        let mut d = good();
        d.pools = vec!["10.200.0.0/16".into(), "10.210.0.0/26".into()];
        d.subnet_size = "24".into();
        let problems = d.validate().expect_err("does not fit");
        assert_eq!(
            problem(&problems, "subnet_size"),
            Some("a /24 subnet does not fit in pool 10.210.0.0/26")
        );
    }

    #[test]
    fn synctime_and_ports() {
        assert_eq!(parse_synctime("0.006"), Ok(1));
        assert_eq!(parse_synctime("1"), Ok(100));
        assert!(parse_synctime("0.005").is_err());
        assert!(parse_synctime("41").is_err());
        assert!(parse_synctime("NaN").is_err());
        let mut d = good();
        d.listen_port = "4789".into();
        assert_eq!(fields(d.validate()), vec!["listen_port"]);
        d.listen_port = "7946".into();
        assert_eq!(fields(d.validate()), vec!["listen_port"]);
    }

    #[test]
    fn names() {
        assert!(parse_cluster_name("line-3").is_ok());
        assert!(parse_cluster_name("x").is_err());
        assert!(parse_cluster_name("_x").is_err());
        assert!(parse_cluster_name("a b").is_err());
    }

    #[test]
    fn a_three_node_cluster_validates_against_its_nodes() {
        let cands = [
            candidate("1", "10.77.0.11"),
            candidate("2", "10.77.0.12"),
            candidate("3", "10.77.0.13"),
        ];
        let draft = ClusterDraft {
            definition: good(),
            members: vec![
                member("1", SwarmRole::Manager),
                member("2", SwarmRole::Worker),
                member("3", SwarmRole::Worker),
            ],
        };
        let spec = draft.validate(&cands).expect("valid");
        assert_eq!(spec.members.len(), 3);
        assert!(warnings(&spec).is_empty());
    }

    #[test]
    fn an_edit_checks_the_sync_interval_only_with_volumes_on() {
        let mut edit = ClusterEdit {
            name: "line-3".into(),
            synctime: "0.1".into(),
            volumes: true,
            volume_sync: "0".into(),
        };
        assert_eq!(fields(edit.validate()), vec!["volume_sync"]);
        edit.volume_sync = "30".into();
        let spec = edit.validate().expect("valid");
        assert_eq!((spec.volumes, spec.volume_sync_secs), (true, Some(30)));
        edit.volumes = false;
        edit.volume_sync = "x".into();
        let spec = edit.validate().expect("valid: volumes off");
        assert_eq!(
            spec.volume_sync_secs, None,
            "the cluster's interval is kept"
        );
    }

    #[test]
    fn cluster_volumes_are_checked_on_every_chosen_node() {
        let ready = crate::storage::StorageFacts {
            gluster: Some("10.3".into()),
            glusterd: true,
            fuse: true,
            btrfs_tools: true,
            bricks: Some(crate::storage::DiskFacts {
                path: crate::storage::BRICKS_DIR.into(),
                fs: "xfs".into(),
                total_bytes: 1 << 30,
                available_bytes: 1 << 29,
            }),
            snapshots: None,
            mount: None,
            fenced: false,
            copies: None,
            standby: None,
            peers: None,
        };
        let mut cands = vec![
            candidate("1", "10.77.0.11"),
            candidate("2", "10.77.0.12"),
            candidate("3", "10.77.0.13"),
        ];
        for c in &mut cands[..2] {
            c.storage = ready.clone();
        }
        let mut definition = good();
        definition.volumes = true;
        let draft = ClusterDraft {
            definition,
            members: vec![
                member("1", SwarmRole::Manager),
                member("2", SwarmRole::Worker),
                member("3", SwarmRole::Worker),
            ],
        };
        assert_eq!(fields(draft.validate(&cands)), vec!["members.3.volumes"]);
        cands[2].storage = ready.clone();
        let spec = draft.validate(&cands).expect("every node is ready");
        assert!(spec.definition.volumes);
        assert_eq!(spec.definition.volume_sync_secs, 5);
        // Two nodes make it async standby: the bricks disk is no use there.
        let two = ClusterDraft {
            members: draft.members[..2].to_vec(),
            ..draft.clone()
        };
        assert_eq!(
            fields(two.validate(&cands)),
            vec!["members.1.volumes", "members.2.volumes"]
        );
        let mut off = draft.clone();
        off.definition.volumes = false;
        off.definition.volume_sync = "nonsense".into();
        cands[2].storage = Default::default();
        assert!(
            off.validate(&cands).is_ok(),
            "nothing is checked while volumes are off"
        );
    }

    #[test]
    fn node_checks() {
        let mut cands = vec![candidate("1", "10.77.0.11"), candidate("2", "10.77.0.12")];
        let mut draft = ClusterDraft {
            definition: good(),
            members: vec![
                member("1", SwarmRole::Worker),
                member("2", SwarmRole::Worker),
            ],
        };
        assert!(
            fields(draft.validate(&cands)).contains(&"members".to_string()),
            "zero managers refused"
        );

        draft.members[0].role = SwarmRole::Manager;
        draft.members[1].interface = "wlan0".into();
        draft.members[1].labels = "Bad=1".into();
        let f = fields(draft.validate(&cands));
        assert!(
            f.contains(&"members.2.interface".to_string())
                && f.contains(&"members.2.labels".to_string()),
            "{f:?}"
        );

        draft.members[1] = member("2", SwarmRole::Manager);
        let spec = draft.validate(&cands).expect("valid");
        assert_eq!(warnings(&spec).len(), 1, "two managers draw a warning");

        cands[1].online = false;
        assert_eq!(fields(draft.validate(&cands)), vec!["members.2.node"]);
        cands[1].online = true;
        cands[1].cluster = Some("other".into());
        assert_eq!(fields(draft.validate(&cands)), vec!["members.2.node"]);
    }

    #[test]
    fn an_added_node_is_checked_against_the_cluster() {
        let def = good().validate().expect("valid");
        let cands = [candidate("4", "10.77.0.14"), candidate("5", "10.200.3.4")];
        assert!(
            member("4", SwarmRole::Worker)
                .validate_addition(&cands, &def)
                .is_ok()
        );
        let clash = member("5", SwarmRole::Worker)
            .validate_addition(&cands, &def)
            .expect_err("overlap");
        assert_eq!(clash[0].field, "members.5.node");
        let mut bad = member("4", SwarmRole::Worker);
        bad.labels = "x".into();
        bad.interface = "wlan0".into();
        let problems = bad.validate_addition(&cands, &def).expect_err("bad");
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn pools_must_not_overlap_the_nodes_networks_and_vips_must_be_reachable() {
        let cands = [candidate("1", "10.77.0.11")];
        let mut draft = ClusterDraft {
            definition: good(),
            members: vec![member("1", SwarmRole::Manager)],
        };
        draft.definition.pools = vec!["10.0.0.0/8".into()];
        let problems = draft.validate(&cands).expect_err("overlap");
        assert_eq!(
            problem(&problems, "pools.0"),
            Some("overlaps edge-1's network 10.77.0.0/24")
        );

        draft.definition.pools = vec!["10.200.0.0/16".into()];
        draft.definition.vips[0].address = "192.168.9.9/24".into();
        let problems = draft.validate(&cands).expect_err("unreachable vip");
        assert!(
            problem(&problems, "vips.0.address").is_some_and(|m| m.contains("not in the network"))
        );

        draft.definition.vips[0].address = "10.77.0.11/24".into();
        let problems = draft.validate(&cands).expect_err("node address");
        assert!(problem(&problems, "vips.0.address").is_some_and(|m| m.contains("own address")));

        draft.definition.vips[0].address = "10.77.0.100/24".into();
        draft.members[0].vip = false;
        assert_eq!(fields(draft.validate(&cands)), vec!["members"]);
    }
}

/// A VIP in the cluster list: its address and which node holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipView {
    pub address: String,
    pub vrid: u8,
    /// Hostnames of the nodes whose live report says they hold it (exactly one when healthy).
    pub owners: Vec<String>,
    /// Nodes whose last claim no longer counts: silent, or not heard from since another node
    /// took the VIP over.
    #[serde(default)]
    pub stale_owners: Vec<String>,
    /// Only nodes where this TCP port answers locally may hold it.
    pub track_port: Option<u16>,
}

/// One row of the cluster list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub id: String,
    pub name: String,
    pub health: crate::health::Health,
    pub reason: String,
    pub online: usize,
    pub available: usize,
    pub members: usize,
    pub managers: usize,
    pub workloads: usize,
    pub vips: Vec<VipView>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub node_id: String,
    pub hostname: String,
    pub role: SwarmRole,
    pub labels: Vec<NodeLabel>,
    pub interface: String,
    pub vip: bool,
    pub online: bool,
    /// Connected, but its heartbeat is overdue.
    #[serde(default)]
    pub silent: bool,
    pub address: Option<String>,
    /// What the swarm's managers say of this node.
    pub swarm: Option<crate::swarm::SwarmNodeView>,
    /// KeepAlived's view of this node's VIPs.
    pub vip_states: Vec<crate::protocol::VipObservation>,
    /// The cluster volume on this node.
    #[serde(default)]
    pub volume: crate::health::VolumeState,
    /// The volume's copies as this node sees them, when it holds one.
    #[serde(default)]
    pub copies: Option<crate::storage::CopiesFacts>,
    /// The async volume on this node, when it has a role in one.
    #[serde(default)]
    pub standby: Option<crate::standby::StandbyFacts>,
    /// The disk that holds this node's part of the cluster volume (its copy, or its snapshots).
    #[serde(default)]
    pub volume_disk: Option<crate::storage::DiskFacts>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterDetail {
    pub summary: ClusterSummary,
    pub definition: Definition,
    pub members: Vec<MemberView>,
    /// The newest workflow (progress, or why it stopped).
    pub workflow: Option<crate::workflow::WorkflowView>,
    /// The newest workflows with their step timelines, newest first.
    pub activity: Vec<crate::workflow::WorkflowView>,
    pub leader: Option<String>,
    /// Swarm settings as the swarm reports them (pool, subnet size, data-path port).
    pub swarm_pools: Vec<String>,
    pub swarm_subnet_size: Option<u32>,
    pub swarm_data_path_port: Option<u32>,
    pub has_tokens: bool,
    /// Overlay networks as a manager reports them (empty until one has).
    pub networks: Vec<crate::network::NetworkView>,
    /// Members whose kernel lacks IPVS: there the ingress routing mesh cannot carry traffic and
    /// services publish in host mode with dnsrr endpoints.
    pub without_ipvs: Vec<String>,
    /// The async volume's recovery point: how old the newest snapshot the standby holds
    /// complete was at the nodes' last reports, in seconds (`None` before the first sync or
    /// without an async volume).
    #[serde(default)]
    pub volume_rpo_secs: Option<u64>,
    /// The apps' volumes on the cluster volume.
    #[serde(default)]
    pub volumes_in_use: Vec<crate::storage::VolumeInUse>,
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

/// What can change on an existing cluster. Pools, subnet size and ports are fixed when the swarm
/// is created (Docker cannot change them), VIP addresses come with the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEdit {
    pub name: String,
    pub synctime: String,
    #[serde(default)]
    pub volumes: bool,
    #[serde(default = "default_volume_sync")]
    pub volume_sync: String,
}

/// A validated [`ClusterEdit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditSpec {
    pub name: String,
    pub synctime_cs: u16,
    pub volumes: bool,
    /// The new sync interval; `None` keeps the cluster's (volumes off and nothing valid typed).
    pub volume_sync_secs: Option<u32>,
}

impl ClusterEdit {
    /// The new name, synctime and volume settings. Whether the nodes can hold the volumes is
    /// checked against them ([`crate::storage::check_nodes`]).
    pub fn validate(&self) -> Result<EditSpec, Vec<ValidationError>> {
        let mut e = vec![];
        if let Some(m) = [&self.name, &self.synctime, &self.volume_sync]
            .into_iter()
            .find_map(|t| too_long(t))
        {
            return Err(vec![ValidationError::new("name", m)]);
        }
        let name = parse_cluster_name(&self.name)
            .map_err(|m| err(&mut e, "name", m))
            .ok();
        let synctime = parse_synctime(&self.synctime)
            .map_err(|m| err(&mut e, "synctime", m))
            .ok();
        let volume_sync_secs = match crate::storage::parse_sync_secs(&self.volume_sync) {
            Ok(secs) => Some(secs),
            Err(m) if self.volumes => {
                err(&mut e, "volume_sync", m);
                None
            }
            Err(_) => None,
        };
        match (name, synctime) {
            (Some(name), Some(synctime_cs)) if e.is_empty() => Ok(EditSpec {
                name,
                synctime_cs,
                volumes: self.volumes,
                volume_sync_secs,
            }),
            _ => Err(e),
        }
    }
}

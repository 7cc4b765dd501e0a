//! The Add Cluster wizard's input: its definition (name, volumes, VIPs, swarm settings) and the
//! whole draft, validated into a [`ClusterSpec`].
use super::*;

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterDraft {
    pub definition: DefinitionDraft,
    pub members: Vec<MemberDraft>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSpec {
    pub address: Cidr,
    pub interface: Option<String>,
    pub peers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub track_port: Option<u16>,
}

/// A validated cluster: what the orchestrator builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub definition: Definition,
    pub members: Vec<MemberSpec>,
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

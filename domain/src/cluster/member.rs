//! One node of a cluster as an operator chooses it (role, labels, interface, VIP), checked
//! against what the panel knows of the node ([`Candidate`]).
use super::*;

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    pub node_id: String,
    pub role: SwarmRole,
    pub labels: Vec<NodeLabel>,
    pub interface: String,
    pub vip: bool,
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

pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
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

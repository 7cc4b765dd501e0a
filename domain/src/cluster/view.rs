//! What the panel shows of clusters: the list's rows and a cluster's page.
use super::*;

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

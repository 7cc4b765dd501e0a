//! The agent wire protocol (version [`PROTOCOL_VERSION`]).
//!
//! Transport: WebSocket text frames carrying JSON.
//! * `GET /agent/v1/enrol` (upgrade): the agent sends one [`EnrolRequest`], the panel answers one
//!   [`EnrolResponse`] and closes. This happens once per node.
//! * `GET /agent/v1/connect` (upgrade, `Authorization: Bearer <node token>`): the long-lived link.
//!   Every frame is an [`Envelope`]: `{"v":1,"id":"…","kind":"…","body":…}`. The agent starts with
//!   `hello`, then sends `heartbeat`s; the panel answers `hello` with `welcome` and sends
//!   `command`s, which the agent answers with a `command_result` carrying the same `id`.
//!
//! Commands are idempotent and the agent remembers recent ids, so a resend after a reconnect does
//! not act twice.
use serde::{Deserialize, Serialize};

use crate::config::objects::ObjectKind;
use crate::firmware::{FirmwareState, SignedManifest};
use crate::node::NodeFacts;
use crate::swarm::{Availability, NodeLabel, SwarmRole, SwarmSnapshot};
use crate::workload::spec::{RegistryAuth, ServiceSpec, StackObjects};

pub const PROTOCOL_VERSION: u16 = 1;
pub const ENROL_PATH: &str = "/agent/v1/enrol";
pub const CONNECT_PATH: &str = "/agent/v1/connect";
/// Frames larger than this are refused (facts of a node are a few kilobytes).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<M> {
    pub v: u16,
    /// Correlation id: a command's id, echoed by its result; otherwise a sender-chosen sequence.
    pub id: String,
    #[serde(flatten)]
    pub msg: M,
}

impl<M: Serialize> Envelope<M> {
    pub fn new(id: impl Into<String>, msg: M) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id: id.into(),
            msg,
        }
    }

    pub fn encode(&self) -> String {
        // Serializing plain data structs to a String cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Agent → panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum AgentMessage {
    Hello(Box<NodeFacts>),
    Heartbeat,
    /// Facts changed (or a `refresh_facts` command asked for them).
    Facts(Box<NodeFacts>),
    CommandResult(Outcome),
    /// A manager's view of its swarm, sent when it changes (checked every few seconds).
    Swarm(SwarmSnapshot),
    /// The KeepAlived state of this node's virtual IPs, sent when it changes.
    Vips(Vec<VipObservation>),
    /// The cluster volume's state on this node, sent after every heartbeat while the node takes
    /// part in a volume.
    Volume(Box<crate::storage::VolumeBeat>),
}

/// Panel → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum PanelMessage {
    Welcome(Welcome),
    Command(Command),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub node_id: String,
    pub heartbeat_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Command {
    /// Collect facts now and send them.
    RefreshFacts,
    /// Create a swarm with this node as its first manager. Idempotent: a node that already
    /// manages a swarm answers with that swarm.
    SwarmInit(SwarmInit),
    /// Join a swarm. Idempotent: a node already in a swarm answers with its membership.
    SwarmJoin(SwarmJoin),
    /// Leave the swarm (`force` for managers). Idempotent: a node outside a swarm is done.
    SwarmLeave { force: bool },
    /// Change a swarm node (run on a manager). Only the given fields change.
    NodeUpdate(NodeUpdate),
    /// Remove a node that left from the swarm's node list (run on a manager).
    NodeRemove { swarm_node_id: String },
    /// Set how often the swarm's nodes report to their managers, in seconds (run on a manager).
    /// A node is declared down, and its tasks rescheduled, a few periods after its last report.
    /// Idempotent.
    SwarmHeartbeat { secs: u8 },
    /// Read (or rotate, then read) the join tokens (run on a manager).
    JoinTokens { rotate: bool },
    /// Run KeepAlived for these virtual IPs (replacing any previous set); empty stops it.
    Vips(VipConfig),
    /// Set this node's VRRP offset (KeepAlived's track file, added to the base priority):
    /// 0 normally, [`VIP_BOOST`] for a hand-off target, [`VIP_FENCE`] to keep the node from
    /// becoming master. Persists over restarts and reboots. Idempotent.
    VipOffset { value: i16 },
    /// Create an overlay network (run on a manager). Idempotent: an existing overlay network of
    /// that name is done.
    NetworkCreate(NetworkCreate),
    /// Remove an overlay network (run on a manager). Idempotent: a missing network is done.
    NetworkRemove { name: String },
    /// Create an app's own networks, secrets and configs (run on a manager). Idempotent: what
    /// exists already is kept (Swarm secrets and configs cannot change).
    StackObjects(StackObjects),
    /// Create a service, or update the existing one of that name to this spec (run on a
    /// manager). Idempotent.
    ServiceApply(Box<ServiceSpec>),
    /// Remove one service (run on a manager). Idempotent: a missing service is done.
    ServiceRemove { name: String },
    /// Remove a stack's services, then its networks, secrets and configs (run on a manager).
    /// Idempotent: what is gone is done.
    StackRemove { stack: String },
    /// Remove the Global Secrets' Swarm objects that no service uses, except the current
    /// versions in `keep` (run on a manager). Idempotent.
    SecretsPrune { keep: Vec<String> },
    /// Remove one Swarm secret or config by name (run on a manager). Idempotent: a missing one
    /// is done; one a service uses is refused by Swarm.
    SwarmObjectRemove { kind: ObjectKind, name: String },
    /// Set up, mount or take down the cluster's volume on this node.
    Storage(crate::storage::StorageCommand),
    /// The newest `tail` log lines of a service's tasks (run on a manager).
    ServiceLogs { name: String, tail: u32 },
    /// `docker login` on this node (the engine logs in to the registry from here); failed with
    /// the registry's words when it refuses.
    RegistryLogin(RegistryAuth),
    /// Download the artifact ([`FIRMWARE_PATH`], resumable), check its signature and checksum,
    /// and hand it to the installer (`install FILE`). Idempotent: an artifact installed already
    /// is done. Answers with the node's firmware state.
    FirmwareInstall(SignedManifest),
    /// Reboot into the installed firmware (installer `reboot`). The node then runs it on trial:
    /// it rolls back by itself when no commit comes within `trial_secs` of its start.
    FirmwareReboot { trial_secs: u32 },
    /// Keep the firmware on trial (installer `commit`). Idempotent.
    FirmwareCommit,
    /// Give up the firmware on trial or installed (installer `rollback`, then `reboot` when
    /// the node runs it), with the reason the node reports.
    FirmwareRollback { reason: String },
    /// A rollout gate's HTTP check from this node: `GET url` answers `status` within
    /// `timeout_secs`; failed with what it answered instead.
    HttpCheck {
        url: String,
        status: u16,
        timeout_secs: u32,
    },
    /// Write this version of the cluster's Global Config into the node's `flotilla-appconfig`
    /// volume (atomically) and report it in the facts. Idempotent: the version held already is
    /// done.
    GlobalConfig {
        cluster_id: String,
        version: u64,
        document: String,
    },
}

/// The offset that makes a node the target of a make-before-break VIP hand-off (it preempts the
/// holder at equal base priorities).
pub const VIP_BOOST: i16 = 50;
/// The offset that fences a node from VRRP (priority ≤ 0: FAULT, never master).
pub const VIP_FENCE: i16 = -254;

/// Where agents download firmware artifacts (`/agent/firmware/<artifact id>`), with their node
/// token and HTTP range requests.
pub const FIRMWARE_PATH: &str = "/agent/firmware";

/// Most log lines one `service_logs` answer carries.
pub const MAX_LOG_LINES: u32 = 500;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmInit {
    /// Interface whose IPv4 address is used to advertise, listen and carry the data path.
    pub interface: String,
    pub listen_port: u16,
    pub data_path_port: u16,
    pub address_pools: Vec<String>,
    pub subnet_size: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmJoin {
    pub interface: String,
    pub listen_port: u16,
    /// `ip:port` of a manager.
    pub remote: String,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCreate {
    pub name: String,
    pub subnet: Option<String>,
    pub attachable: bool,
    pub encrypted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeUpdate {
    pub swarm_node_id: String,
    pub role: Option<SwarmRole>,
    pub availability: Option<Availability>,
    pub labels: Option<Vec<NodeLabel>>,
}

/// Everything KeepAlived needs on one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipConfig {
    pub instances: Vec<VipInstance>,
    /// Advertisement interval in centiseconds.
    pub advert_cs: u16,
    /// Hold a VIP only while this node is an active swarm member with a reachable engine.
    pub require_swarm: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipInstance {
    /// `address/prefix`.
    pub address: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub unicast_peers: Vec<String>,
    /// Also require a healthy local TCP port (host-mode published service).
    pub track_port: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VrrpState {
    Master,
    Backup,
    Fault,
    Stopped,
    Unknown,
}

impl VrrpState {
    pub fn label(self) -> &'static str {
        match self {
            VrrpState::Master => "MASTER",
            VrrpState::Backup => "BACKUP",
            VrrpState::Fault => "FAULT",
            VrrpState::Stopped => "STOPPED",
            VrrpState::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipObservation {
    pub address: String,
    pub vrid: u8,
    pub state: VrrpState,
    /// The address is on this node's interface right now.
    pub holds: bool,
    /// The node's VRRP offset (see [`Command::VipOffset`]).
    #[serde(default)]
    pub offset: i16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        #[serde(default)]
        reply: Reply,
    },
    Failed {
        message: String,
    },
}

impl Outcome {
    pub const DONE: Outcome = Outcome::Done { reply: Reply::None };
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    #[default]
    None,
    /// This node's swarm membership after init or join.
    Member(SwarmMember),
    Tokens(JoinTokens),
    /// Log lines, oldest first. (A struct variant: the internally tagged enum cannot carry a
    /// bare sequence.)
    Logs {
        lines: Vec<String>,
    },
    /// The node's firmware state after a firmware command.
    Firmware(FirmwareState),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmMember {
    pub swarm_node_id: String,
    pub cluster_id: String,
    /// The address the node advertises (`ip`), resolved from the requested interface.
    pub address: String,
    /// Join tokens, when the node is a manager.
    pub tokens: Option<JoinTokens>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokens {
    pub worker: String,
    pub manager: String,
}

impl std::fmt::Debug for JoinTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinTokens(<redacted>)")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub v: u16,
    pub key: String,
    pub hostname: String,
    pub machine_id: String,
    /// The node's current token, when a node that is already enrolled enrols again (e.g. to
    /// rotate its token). A machine id that is already enrolled needs it, or an Administrator's
    /// "allow re-enrolment" on that node; otherwise anybody who learnt the machine id could take
    /// the node over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_token: Option<String>,
}

impl std::fmt::Debug for EnrolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolRequest")
            .field("v", &self.v)
            .field("hostname", &self.hostname)
            .field("machine_id", &self.machine_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum EnrolResponse {
    Enrolled {
        node_id: String,
        token: String,
        /// The panel's Ed25519 public key (base64) that signs firmware manifests; the agent
        /// keeps it with its identity and refuses artifacts it did not sign.
        #[serde(default)]
        firmware_key: String,
    },
    Refused {
        reason: String,
    },
}

impl std::fmt::Debug for EnrolResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnrolResponse::Enrolled { node_id, .. } => f
                .debug_struct("Enrolled")
                .field("node_id", node_id)
                .finish_non_exhaustive(),
            EnrolResponse::Refused { reason } => {
                f.debug_struct("Refused").field("reason", reason).finish()
            }
        }
    }
}

/// Most virtual IPs one node may report (a cluster has far fewer).
pub const MAX_REPORTED_VIPS: usize = 64;
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame is not valid JSON for this protocol: {0}")]
    Malformed(String),
    #[error("protocol version {0} is not supported (expected {PROTOCOL_VERSION})")]
    Version(u16),
    #[error("frame of {0} bytes is larger than the limit")]
    TooLarge(usize),
}

/// Parses one frame and checks its version and size.
pub fn decode<M: for<'de> Deserialize<'de>>(text: &str) -> Result<Envelope<M>, ProtocolError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge(text.len()));
    }
    #[derive(Deserialize)]
    struct VersionOnly {
        v: u16,
    }
    let version: VersionOnly =
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if version.v != PROTOCOL_VERSION {
        return Err(ProtocolError::Version(version.v));
    }
    serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::facts;

    #[test]
    fn frames_round_trip() {
        let hello = Envelope::new("1", AgentMessage::Hello(Box::new(facts("n1"))));
        let back: Envelope<AgentMessage> = decode(&hello.encode()).expect("decodes");
        assert_eq!(back, hello);

        let cmd = Envelope::new("c-1", PanelMessage::Command(Command::RefreshFacts));
        assert_eq!(
            cmd.encode(),
            r#"{"v":1,"id":"c-1","kind":"command","body":{"action":"refresh_facts"}}"#
        );
        let hb = Envelope::new("2", AgentMessage::Heartbeat);
        assert_eq!(hb.encode(), r#"{"v":1,"id":"2","kind":"heartbeat"}"#);
    }

    #[test]
    fn malformed_and_foreign_versions_are_refused() {
        assert!(matches!(
            decode::<AgentMessage>("{not json"),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            decode::<AgentMessage>(r#"{"v":1,"id":"1","kind":"launch_missiles"}"#),
            Err(ProtocolError::Malformed(_))
        ));
        assert_eq!(
            decode::<AgentMessage>(r#"{"v":9,"id":"1","kind":"heartbeat"}"#),
            Err(ProtocolError::Version(9))
        );
        let big = format!(
            r#"{{"v":1,"id":"{}","kind":"heartbeat"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(
            decode::<AgentMessage>(&big),
            Err(ProtocolError::TooLarge(_))
        ));
    }

    #[test]
    fn every_reply_encodes() {
        for reply in [
            Reply::None,
            Reply::Logs {
                lines: vec!["hello".into()],
            },
            Reply::Tokens(JoinTokens {
                worker: "w".into(),
                manager: "m".into(),
            }),
        ] {
            let frame = Envelope::new(
                "1",
                AgentMessage::CommandResult(Outcome::Done {
                    reply: reply.clone(),
                }),
            )
            .encode();
            let back: Envelope<AgentMessage> = decode(&frame).expect("decodes");
            assert_eq!(
                back.msg,
                AgentMessage::CommandResult(Outcome::Done { reply })
            );
        }
    }

    #[test]
    fn enrol_response_shape() {
        let r = EnrolResponse::Refused {
            reason: "expired".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap_or_default(),
            r#"{"result":"refused","reason":"expired"}"#
        );
    }
}

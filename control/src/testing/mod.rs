//! Test support shared by the tests of every crate (feature `testing`): a panel on a scratch
//! database (SQLite, or PostgreSQL when `FLOTILLA_TEST_POSTGRES_URL` is set) with its first
//! Administrator and an enrolment key, node facts, enrolment, and agents whose link is a pair of
//! in-memory channels instead of a WebSocket, and a scripted fleet of them (`Fleet`).
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use domain::enrolment::NewEnrolmentKey;
use domain::node::{EngineFacts, NetInterface, NodeFacts, SwarmFacts, SwarmState};
use domain::protocol::{
    self, AgentMessage, Command, EnrolRequest, EnrolResponse, Envelope, Outcome, PanelMessage,
};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use crate::auth::Actor;
use crate::gateway::{Close, Inbound};
use crate::store::AgentIdentity;
use crate::{Panel, PanelConfig};

mod fleet;

pub use crate::store::testing::scratch_url;
pub use fleet::{Fleet, FleetNode};

pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The address tests sign in from.
pub const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The configuration of a test panel whose files live in `dir`.
pub async fn config(dir: &Path, heartbeat: Duration) -> PanelConfig {
    PanelConfig {
        database_url: scratch_url(dir).await,
        heartbeat,
        session_ttl: Duration::from_secs(3600),
        secure_cookies: false,
        agent_url: "http://10.9.0.1:3100".into(),
        key_file: dir.join("master.key"),
        firmware_dir: dir.join("firmware"),
        // Small, so that tests can go over it.
        firmware_max_bytes: 64 * 1024,
        // Short enough that a test sees another process take a workflow over.
        workflow: crate::workflow::Timing {
            lease: Duration::from_secs(2),
            renew_every: Duration::from_millis(500),
            max_attempts: 3,
            retry_after: Duration::from_millis(100),
        },
    }
}

/// A panel with its Administrator and an enrolment key without a use limit.
pub struct TestPanel {
    pub panel: Panel,
    pub admin: Actor,
    pub key: String,
    pub config: PanelConfig,
    _dir: tempfile::TempDir,
}

impl TestPanel {
    pub async fn open(heartbeat: Duration) -> TestPanel {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config(dir.path(), heartbeat).await;
        let panel = Panel::open(&config).await.expect("panel opens");
        panel
            .auth
            .bootstrap_admin(Some(ADMIN_PASSWORD))
            .await
            .expect("bootstrap");
        let admin = sign_in(&panel).await;
        let key = panel
            .enrolment
            .create_key(
                &admin,
                NewEnrolmentKey::parse("lab", "1", Some("0")).expect("valid"),
            )
            .await
            .expect("key")
            .secret;
        TestPanel {
            panel,
            admin,
            key,
            config,
            _dir: dir,
        }
    }

    /// Another panel process on this panel's database and master key: a replica. PostgreSQL
    /// only (SQLite serves one process), so it fails without `FLOTILLA_TEST_POSTGRES_URL`.
    pub async fn replica(&self) -> Panel {
        assert!(
            self.config.database_url.starts_with("postgres"),
            "replicas need PostgreSQL: set FLOTILLA_TEST_POSTGRES_URL (./dev test does)"
        );
        Panel::open(&self.config).await.expect("replica opens")
    }

    /// Closes this handle on the panel but keeps its files, so that a test can open the same
    /// panel again (a restart).
    pub fn keep_files(self) -> tempfile::TempDir {
        self._dir
    }

    /// A signed-in user `name` with `role` (password `<name> password`).
    pub async fn user(&self, name: &str, role: domain::Role) -> Actor {
        let password = format!("{name} password");
        let user = self
            .panel
            .auth
            .create_user(
                &self.admin,
                domain::user::Username::parse(name).expect("name"),
                domain::user::Password::parse(&password).expect("password"),
                role,
            )
            .await
            .expect("user");
        self.panel
            .auth
            .login(&user.username, &password, HERE)
            .await
            .expect("login")
            .actor
    }

    /// A library app `name` with version "1" of `compose`; answers the version's id.
    pub async fn app_version(&self, name: &str, compose: &str) -> String {
        use domain::workload::library::{AppDraft, VersionDraft, WorkloadKind};
        let lib = &self.panel.workloads;
        let app = lib
            .create_app(
                &self.admin,
                AppDraft {
                    name: name.into(),
                    kind: WorkloadKind::App,
                    model_format: String::new(),
                    description: String::new(),
                },
            )
            .await
            .expect("app");
        lib.add_version(
            &self.admin,
            &app,
            VersionDraft {
                version: "1".into(),
                compose: compose.into(),
            },
        )
        .await
        .expect("version")
    }

    /// Enrols `host` (machine id `machine-<host>`) with the panel's key.
    pub async fn enrol(&self, host: &str) -> Enrolled {
        enrol(&self.panel, &self.key, host).await
    }
}

/// The Administrator's actor on `panel`.
pub async fn sign_in(panel: &Panel) -> Actor {
    panel
        .auth
        .login("admin", ADMIN_PASSWORD, HERE)
        .await
        .expect("login")
        .actor
}

/// A node that enrolled: who it is and its token.
#[derive(Clone, Debug)]
pub struct Enrolled {
    pub identity: AgentIdentity,
    pub token: String,
}

impl Enrolled {
    pub fn node_id(&self) -> &str {
        &self.identity.node_id
    }
}

pub fn machine_id(host: &str) -> String {
    format!("machine-{host}")
}

/// The enrolment request an agent on `host` sends.
pub fn enrol_request(key: &str, host: &str) -> EnrolRequest {
    EnrolRequest {
        v: protocol::PROTOCOL_VERSION,
        key: key.into(),
        hostname: host.into(),
        machine_id: machine_id(host),
        node_token: None,
    }
}

pub async fn enrol(panel: &Panel, key: &str, host: &str) -> Enrolled {
    match panel
        .enrolment
        .enrol(enrol_request(key, host))
        .await
        .expect("enrol runs")
    {
        EnrolResponse::Enrolled { node_id, token, .. } => Enrolled {
            identity: AgentIdentity {
                node_id,
                machine_id: machine_id(host),
            },
            token,
        },
        EnrolResponse::Refused { reason } => panic!("enrolment of {host} refused: {reason}"),
    }
}

/// Facts of a healthy standalone node `host`, with `eth0` at `ip/24` when given.
pub fn facts(host: &str, ip: Option<&str>) -> NodeFacts {
    NodeFacts {
        hostname: host.into(),
        machine_id: machine_id(host),
        os: "Debian".into(),
        kernel: "6.1".into(),
        arch: "x86_64".into(),
        cpu_model: "cpu".into(),
        cpu_count: 2,
        memory_total_bytes: 1,
        memory_available_bytes: 1,
        disk_path: "/".into(),
        disk_total_bytes: 1,
        disk_available_bytes: 1,
        interfaces: ip
            .map(|ip| NetInterface {
                name: "eth0".into(),
                mac: None,
                up: true,
                addresses: vec![format!("{ip}/24")],
            })
            .into_iter()
            .collect(),
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
        agent_version: "test".into(),
        firmware_version: "fw".into(),
        uptime_secs: 1,
        ipvs: false,
        global_config: None,
        board: String::new(),
        firmware: Default::default(),
        storage: Default::default(),
    }
}

/// What a node ready for cluster volumes in either mode reports.
pub fn ready_storage() -> domain::storage::StorageFacts {
    use domain::storage::{BRICKS_DIR, DiskFacts, SNAPSHOTS_DIR, StorageFacts};
    let disk = |path: &str, fs: &str| DiskFacts {
        path: path.into(),
        fs: fs.into(),
        total_bytes: 1 << 30,
        available_bytes: 1 << 29,
    };
    StorageFacts {
        gluster: Some("10.3".into()),
        glusterd: true,
        fuse: true,
        btrfs_tools: true,
        bricks: Some(disk(BRICKS_DIR, "xfs")),
        snapshots: Some(disk(SNAPSHOTS_DIR, "btrfs")),
        mount: None,
        fenced: false,
        copies: None,
        standby: None,
        peers: None,
    }
}

/// The agent side of a session: frames to the panel, frames from it, and the panel's end of
/// the session (which says why it closed).
pub struct AgentLink {
    pub node_id: String,
    pub to_panel: mpsc::Sender<Inbound>,
    pub from_panel: mpsc::Receiver<String>,
    pub session: tokio::task::JoinHandle<Close>,
}

impl AgentLink {
    /// Authenticates with `token`, says hello with `facts` and waits for the welcome.
    pub async fn connect(panel: &Panel, token: &str, facts: NodeFacts) -> AgentLink {
        let identity = panel
            .gateway
            .authenticate(Some(token), "test")
            .await
            .expect("token accepted");
        let mut link = Self::open(panel, identity);
        link.send(AgentMessage::Hello(Box::new(facts))).await;
        let welcome: Envelope<PanelMessage> =
            protocol::decode(&link.from_panel.next().await.expect("welcome")).expect("decodes");
        assert!(
            matches!(welcome.msg, PanelMessage::Welcome(ref w) if w.node_id == link.node_id),
            "expected a welcome, got {welcome:?}"
        );
        link
    }

    /// A session for `identity` on which nothing was sent yet.
    pub fn open(panel: &Panel, identity: AgentIdentity) -> AgentLink {
        let (to_panel, incoming) = mpsc::channel(64);
        let (outgoing, from_panel) = mpsc::channel(64);
        let gw = panel.gateway.clone();
        let node_id = identity.node_id.clone();
        let session = tokio::spawn(async move {
            gw.serve(identity, incoming, outgoing.sink_map_err(|_| ()))
                .await
        });
        AgentLink {
            node_id,
            to_panel,
            from_panel,
            session,
        }
    }

    pub async fn send(&mut self, msg: AgentMessage) {
        self.send_as("x", msg).await;
    }

    pub async fn send_as(&mut self, id: &str, msg: AgentMessage) {
        self.to_panel
            .send(Inbound::Text(Envelope::new(id, msg).encode()))
            .await
            .expect("sent");
    }

    /// The next command the panel sends, with its id.
    pub async fn next_command(&mut self) -> Option<(String, Command)> {
        while let Some(frame) = self.from_panel.next().await {
            if let Ok(Envelope {
                id,
                msg: PanelMessage::Command(cmd),
                ..
            }) = protocol::decode::<PanelMessage>(&frame)
            {
                return Some((id, cmd));
            }
        }
        None
    }

    pub async fn answer(&mut self, id: &str, outcome: Outcome) {
        self.send_as(id, AgentMessage::CommandResult(outcome)).await;
    }
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

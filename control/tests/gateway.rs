//! Gateway sessions driven through in-memory channels instead of a WebSocket.
use std::time::Duration;

use control::auth::Actor;
use control::gateway::{Close, Inbound};
use control::{ControlError, Panel, PanelConfig};
use domain::enrolment::NewEnrolmentKey;
use domain::node::{Connectivity, EngineFacts, NodeFacts, SwarmFacts, SwarmState};
use domain::protocol::{
    self, AgentMessage, Command, EnrolRequest, EnrolResponse, Envelope, Outcome, PanelMessage,
};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

struct Harness {
    panel: Panel,
    admin: Actor,
    key: String,
    _dir: tempfile::TempDir,
}

async fn harness(heartbeat: Duration) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PanelConfig {
        database_url: control::store::testing::scratch_url(dir.path()).await,
        heartbeat,
        session_ttl: Duration::from_secs(3600),
        secure_cookies: false,
        agent_url: "http://10.9.0.1:3100".into(),
        key_file: dir.path().join("master.key"),
    };
    let panel = Panel::open(&config).await.expect("panel opens");
    panel
        .auth
        .bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    let admin = panel
        .auth
        .login("admin", "correct horse battery")
        .await
        .expect("login")
        .actor;
    let key = panel
        .enrolment
        .create_key(&admin, NewEnrolmentKey::parse("lab", "1").expect("valid"))
        .await
        .expect("key")
        .secret;
    Harness {
        panel,
        admin,
        key,
        _dir: dir,
    }
}

fn facts(hostname: &str) -> NodeFacts {
    NodeFacts {
        hostname: hostname.into(),
        machine_id: format!("machine-{hostname}"),
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
        interfaces: vec![],
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
    }
}

/// An enrolled node and the agent side of its connection.
struct Agent {
    node_id: String,
    to_panel: mpsc::Sender<Inbound>,
    from_panel: mpsc::Receiver<String>,
    session: tokio::task::JoinHandle<Close>,
}

impl Agent {
    async fn connect(h: &Harness, hostname: &str) -> Agent {
        let request = EnrolRequest {
            v: protocol::PROTOCOL_VERSION,
            key: h.key.clone(),
            hostname: hostname.into(),
            machine_id: format!("machine-{hostname}"),
        };
        let EnrolResponse::Enrolled { token, .. } =
            h.panel.enrolment.enrol(request).await.expect("enrol runs")
        else {
            panic!("enrolment refused");
        };
        let node_id = h
            .panel
            .gateway
            .authenticate(Some(&token), "test")
            .await
            .expect("token accepted");
        let (mut to_panel, incoming) = mpsc::channel(16);
        let (outgoing, mut from_panel) = mpsc::channel(16);
        let gw = h.panel.gateway.clone();
        let id = node_id.clone();
        let session =
            tokio::spawn(
                async move { gw.serve(id, incoming, outgoing.sink_map_err(|_| ())).await },
            );
        let hello = Envelope::new("1", AgentMessage::Hello(Box::new(facts(hostname))));
        to_panel
            .send(Inbound::Text(hello.encode()))
            .await
            .expect("hello sent");
        let welcome: Envelope<PanelMessage> =
            protocol::decode(&from_panel.next().await.expect("welcome")).expect("decodes");
        assert!(matches!(welcome.msg, PanelMessage::Welcome(ref w) if w.node_id == node_id));
        Agent {
            node_id,
            to_panel,
            from_panel,
            session,
        }
    }

    async fn send(&mut self, msg: AgentMessage) {
        self.to_panel
            .send(Inbound::Text(Envelope::new("x", msg).encode()))
            .await
            .expect("sent");
    }
}

async fn connectivity(h: &Harness, node_id: &str) -> Connectivity {
    h.panel
        .nodes
        .get(&h.admin, node_id)
        .await
        .expect("node exists")
        .node
        .connectivity
}

#[tokio::test]
async fn hello_brings_a_node_online_and_heartbeats_do_not_write_the_store() {
    let h = harness(Duration::from_secs(5)).await;
    let mut a = Agent::connect(&h, "edge-1").await;
    assert_eq!(connectivity(&h, &a.node_id).await, Connectivity::Online);
    let stored_before = h
        .panel
        .store
        .node_by_id(&a.node_id)
        .await
        .expect("query")
        .expect("row")
        .last_seen_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.send(AgentMessage::Heartbeat).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stored_after = h
        .panel
        .store
        .node_by_id(&a.node_id)
        .await
        .expect("query")
        .expect("row")
        .last_seen_at;
    assert_eq!(
        stored_before, stored_after,
        "a heartbeat must not write to the database"
    );
    let live = h.panel.gateway.is_online(&a.node_id).expect("online");
    assert!(
        Some(live) > stored_before,
        "the heartbeat moved the in-memory last-seen time"
    );
}

#[tokio::test]
async fn a_malformed_frame_closes_only_that_connection() {
    let h = harness(Duration::from_secs(5)).await;
    let mut bad = Agent::connect(&h, "edge-bad").await;
    let mut good = Agent::connect(&h, "edge-good").await;
    bad.to_panel
        .send(Inbound::Text("{\"v\":1,\"kind\":".into()))
        .await
        .expect("sent");
    let close = bad.session.await.expect("session ends");
    assert_eq!(close.code, 1008);
    assert_eq!(connectivity(&h, &bad.node_id).await, Connectivity::Offline);
    assert_eq!(connectivity(&h, &good.node_id).await, Connectivity::Online);
    good.send(AgentMessage::Heartbeat).await;
    assert!(!good.session.is_finished());
}

#[tokio::test]
async fn binary_frames_and_missing_hello_are_refused() {
    let h = harness(Duration::from_secs(5)).await;
    let mut a = Agent::connect(&h, "edge-1").await;
    a.to_panel.send(Inbound::Binary).await.expect("sent");
    assert_eq!(a.session.await.expect("ends").code, 1008);

    let (mut to_panel, incoming) = mpsc::channel(4);
    let (outgoing, _rx) = mpsc::channel::<String>(4);
    to_panel
        .send(Inbound::Text(
            Envelope::new("1", AgentMessage::Heartbeat).encode(),
        ))
        .await
        .expect("sent");
    let close = h
        .panel
        .gateway
        .serve(a.node_id.clone(), incoming, outgoing.sink_map_err(|_| ()))
        .await;
    assert_eq!(close.reason, "expected hello first");
}

#[tokio::test]
async fn wrong_tokens_are_refused() {
    let h = harness(Duration::from_secs(5)).await;
    for token in [Some("flt_nt_forged"), Some(""), None] {
        assert!(matches!(
            h.panel.gateway.authenticate(token, "test").await,
            Err(ControlError::Unauthenticated)
        ));
    }
}

#[tokio::test]
async fn a_silent_node_goes_offline_after_three_heartbeats() {
    let h = harness(Duration::from_millis(100)).await;
    let a = Agent::connect(&h, "edge-1").await;
    assert_eq!(h.panel.gateway.sweep(), 0, "fresh connection is not silent");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(h.panel.gateway.sweep(), 1);
    let close = a.session.await.expect("ends");
    assert_eq!(close.reason, "missed heartbeats");
    let node = h.panel.nodes.get(&h.admin, &a.node_id).await.expect("node");
    assert_eq!(node.node.connectivity, Connectivity::Offline);
    assert!(
        node.node.last_seen_ms.is_some(),
        "last seen is kept after going offline"
    );
}

#[tokio::test]
async fn commands_round_trip_by_id() {
    let h = harness(Duration::from_secs(5)).await;
    let mut a = Agent::connect(&h, "edge-1").await;
    let gw = h.panel.gateway.clone();
    let id = a.node_id.clone();
    let call = tokio::spawn(async move {
        gw.command(&id, Command::RefreshFacts, Duration::from_secs(5))
            .await
    });
    let frame: Envelope<PanelMessage> =
        protocol::decode(&a.from_panel.next().await.expect("command")).expect("decodes");
    assert_eq!(frame.msg, PanelMessage::Command(Command::RefreshFacts));
    // The agent answers a different id first (ignored), then the right one.
    a.to_panel
        .send(Inbound::Text(
            Envelope::new("c-other", AgentMessage::CommandResult(Outcome::DONE)).encode(),
        ))
        .await
        .expect("sent");
    a.to_panel
        .send(Inbound::Text(
            Envelope::new(frame.id, AgentMessage::CommandResult(Outcome::DONE)).encode(),
        ))
        .await
        .expect("sent");
    assert_eq!(call.await.expect("joins").expect("answered"), Outcome::DONE);
}

#[tokio::test]
async fn commands_to_offline_or_mute_nodes_fail_clearly() {
    let h = harness(Duration::from_secs(5)).await;
    let a = Agent::connect(&h, "edge-1").await;
    let err = h
        .panel
        .gateway
        .command(
            &a.node_id,
            Command::RefreshFacts,
            Duration::from_millis(100),
        )
        .await;
    assert!(matches!(err, Err(ControlError::Unavailable(m)) if m.contains("did not answer")));
    let err = h
        .panel
        .gateway
        .command(
            "no-such-node",
            Command::RefreshFacts,
            Duration::from_millis(100),
        )
        .await;
    assert!(matches!(err, Err(ControlError::Unavailable(m)) if m.contains("offline")));
}

#[tokio::test]
async fn a_second_connection_replaces_the_first() {
    let h = harness(Duration::from_secs(5)).await;
    let first = Agent::connect(&h, "edge-1").await;
    let _second = Agent::connect(&h, "edge-1").await;
    assert_eq!(
        first.session.await.expect("ends").reason,
        "replaced by a newer connection"
    );
    assert_eq!(connectivity(&h, &first.node_id).await, Connectivity::Online);
}

#[tokio::test]
async fn revoked_keys_enrol_nothing() {
    let h = harness(Duration::from_secs(5)).await;
    let keys = h.panel.enrolment.list_keys(&h.admin).await.expect("list");
    h.panel
        .enrolment
        .revoke_key(&h.admin, &keys[0].id)
        .await
        .expect("revoke");
    let request = EnrolRequest {
        v: 1,
        key: h.key.clone(),
        hostname: "edge".into(),
        machine_id: "m".into(),
    };
    assert_eq!(
        h.panel.enrolment.enrol(request).await.expect("runs"),
        EnrolResponse::Refused {
            reason: "enrolment key revoked".into()
        }
    );
    assert!(h.panel.nodes.list(&h.admin).await.expect("list").is_empty());
}

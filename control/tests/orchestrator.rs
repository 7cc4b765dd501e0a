//! A panel that dies in the middle of building a cluster resumes after a restart, without
//! running finished steps again. The agents here are scripted peers on in-memory channels (the
//! real agents and engines are exercised by the browser tests against the lab).
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::gateway::Inbound;
use control::{Panel, PanelConfig};
use domain::cluster::{ClusterDraft, DefinitionDraft, MemberDraft, SwarmRole};
use domain::enrolment::NewEnrolmentKey;
use domain::node::{EngineFacts, NetInterface, NodeFacts, SwarmFacts, SwarmState};
use domain::protocol::{
    self, AgentMessage, Command, EnrolRequest, EnrolResponse, Envelope, JoinTokens, Outcome,
    PanelMessage, Reply, SwarmMember,
};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

async fn config(dir: &Path) -> PanelConfig {
    PanelConfig {
        database_url: control::store::testing::scratch_url(dir).await,
        heartbeat: Duration::from_secs(5),
        session_ttl: Duration::from_secs(3600),
        secure_cookies: false,
        agent_url: "http://10.9.0.1:3100".into(),
        key_file: dir.join("master.key"),
    }
}

fn facts(host: &str, ip: &str) -> NodeFacts {
    NodeFacts {
        hostname: host.into(),
        machine_id: format!("machine-{host}"),
        os: "test".into(),
        kernel: "6".into(),
        arch: "x86_64".into(),
        cpu_model: "cpu".into(),
        cpu_count: 1,
        memory_total_bytes: 1,
        memory_available_bytes: 1,
        disk_path: "/".into(),
        disk_total_bytes: 1,
        disk_available_bytes: 1,
        interfaces: vec![NetInterface {
            name: "eth0".into(),
            mac: None,
            up: true,
            addresses: vec![format!("{ip}/24")],
        }],
        engine: EngineFacts::Up {
            version: "20.10".into(),
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

/// A scripted agent: answers swarm commands like a healthy node would, except that it can be told
/// to never answer a join (so the panel dies while that step runs). Records what it was asked.
fn scripted_agent(
    panel: &Panel,
    node_id: String,
    host: &'static str,
    ip: &'static str,
    answer_join: bool,
) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(vec![]));
    let (mut to_panel, incoming) = mpsc::channel(16);
    let (outgoing, mut from_panel) = mpsc::channel::<String>(16);
    let gw = panel.gateway.clone();
    tokio::spawn(async move {
        gw.serve(node_id, incoming, outgoing.sink_map_err(|_| ()))
            .await
    });
    let log = seen.clone();
    tokio::spawn(async move {
        let hello = Envelope::new("1", AgentMessage::Hello(Box::new(facts(host, ip))));
        let _ = to_panel.send(Inbound::Text(hello.encode())).await;
        while let Some(frame) = from_panel.next().await {
            let Ok(Envelope {
                id,
                msg: PanelMessage::Command(cmd),
                ..
            }) = protocol::decode::<PanelMessage>(&frame)
            else {
                continue;
            };
            let member = |tokens| {
                Reply::Member(SwarmMember {
                    swarm_node_id: format!("swarm-{host}"),
                    cluster_id: "swarm-1".into(),
                    address: ip.into(),
                    tokens,
                })
            };
            let (kind, outcome) = match cmd {
                Command::SwarmInit(_) => {
                    let tokens = JoinTokens {
                        worker: "SWMTKN-w".into(),
                        manager: "SWMTKN-m".into(),
                    };
                    (
                        "init",
                        Some(Outcome::Done {
                            reply: member(Some(tokens)),
                        }),
                    )
                }
                Command::SwarmJoin(j) => {
                    assert_eq!(
                        j.token, "SWMTKN-m",
                        "a manager joins with the (decrypted) manager token"
                    );
                    assert_eq!(j.remote, "10.9.0.11:2377");
                    (
                        "join",
                        answer_join.then(|| Outcome::Done {
                            reply: member(None),
                        }),
                    )
                }
                other => panic!("unexpected command {other:?}"),
            };
            log.lock().expect("lock").push(kind.to_string());
            if let Some(outcome) = outcome {
                let _ = to_panel
                    .send(Inbound::Text(
                        Envelope::new(id, AgentMessage::CommandResult(outcome)).encode(),
                    ))
                    .await;
            }
        }
    });
    seen
}

async fn enrol(panel: &Panel, key: &str, host: &str) -> String {
    let req = EnrolRequest {
        v: 1,
        key: key.into(),
        hostname: host.into(),
        machine_id: format!("machine-{host}"),
    };
    match panel.enrolment.enrol(req).await.expect("enrol runs") {
        EnrolResponse::Enrolled { node_id, .. } => node_id,
        other => panic!("refused: {other:?}"),
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_restarted_panel_resumes_cluster_creation_without_repeating_steps() {
    let dir = tempfile::tempdir().expect("temp dir");

    // Panel A: starts building, then dies while the join step waits for an answer.
    let first = tokio::runtime::Runtime::new().expect("runtime");
    let cfg = first.block_on(config(dir.path()));
    let (key, n1, n2, cluster_id) = first.block_on(async {
        let panel = Panel::open(&cfg).await.expect("opens");
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
        let n1 = enrol(&panel, &key, "edge-1").await;
        let n2 = enrol(&panel, &key, "edge-2").await;
        let seen1 = scripted_agent(&panel, n1.clone(), "edge-1", "10.9.0.11", true);
        let seen2 = scripted_agent(&panel, n2.clone(), "edge-2", "10.9.0.12", false);
        wait_for("both agents online", async || {
            panel.gateway.presence().len() == 2
        })
        .await;
        let member = |id: &str| MemberDraft {
            node_id: id.into(),
            role: SwarmRole::Manager,
            labels: String::new(),
            interface: "eth0".into(),
            vip: false,
        };
        let draft = ClusterDraft {
            definition: DefinitionDraft {
                name: "resume".into(),
                ..Default::default()
            },
            members: vec![member(&n1), member(&n2)],
        };
        let cluster_id = panel.clusters.create(&admin, draft).await.expect("created");
        wait_for("the join step to be running", async || {
            seen2.lock().expect("lock").contains(&"join".to_string())
        })
        .await;
        assert_eq!(*seen1.lock().expect("lock"), vec!["init"]);
        (key, n1, n2, cluster_id)
    });
    drop(first); // the panel dies: every task of it stops mid-step

    // Panel B: same database and key; the agents reconnect; the workflow resumes at the join.
    let second = tokio::runtime::Runtime::new().expect("runtime");
    second.block_on(async {
        let panel = Panel::open(&cfg).await.expect("reopens");
        let admin = panel
            .auth
            .login("admin", "correct horse battery")
            .await
            .expect("login")
            .actor;
        assert_eq!(
            enrol(&panel, &key, "edge-1").await,
            n1,
            "same machine, same node"
        );
        assert_eq!(enrol(&panel, &key, "edge-2").await, n2);
        let seen1 = scripted_agent(&panel, n1.clone(), "edge-1", "10.9.0.11", true);
        let seen2 = scripted_agent(&panel, n2.clone(), "edge-2", "10.9.0.12", true);
        wait_for("both agents online", async || {
            panel.gateway.presence().len() == 2
        })
        .await;
        assert_eq!(panel.orchestrator.resume().await.expect("resumes"), 1);
        wait_for("the cluster to be active", async || {
            panel
                .clusters
                .get(&admin, &cluster_id)
                .await
                .ok()
                .and_then(|d| d.workflow)
                .map(|w| w.status)
                .as_deref()
                == Some("done")
        })
        .await;
        let detail = panel
            .clusters
            .get(&admin, &cluster_id)
            .await
            .expect("cluster");
        assert!(detail.has_tokens);
        assert!(
            detail
                .workflow
                .expect("workflow")
                .steps
                .iter()
                .all(|s| s.state == domain::cluster::StepState::Done)
        );
        assert!(
            seen1.lock().expect("lock").is_empty(),
            "init is not run again"
        );
        assert_eq!(
            *seen2.lock().expect("lock"),
            vec!["join"],
            "the interrupted join runs again, once"
        );
    });
}

//! A panel that dies in the middle of building a cluster resumes after a restart, without
//! running finished steps again. The agents here are scripted peers on in-memory channels (the
//! real agents and engines are exercised by the browser tests against the lab).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::Panel;
use control::testing::{AgentLink, TestPanel, facts, sign_in, wait_for};
use domain::cluster::{ClusterDraft, DefinitionDraft, MemberDraft, SwarmRole};
use domain::protocol::{Command, JoinTokens, Outcome, Reply, SwarmMember};

/// A scripted agent: answers swarm commands like a healthy node would, except that it can be told
/// to never answer a join (so the panel dies while that step runs). Records what it was asked.
fn scripted_agent(
    panel: &Panel,
    token: String,
    host: &'static str,
    ip: &'static str,
    answer_join: bool,
) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(vec![]));
    let log = seen.clone();
    let panel = panel.clone();
    tokio::spawn(async move {
        let mut link = AgentLink::connect(&panel, &token, facts(host, Some(ip))).await;
        while let Some((id, cmd)) = link.next_command().await {
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
                link.answer(&id, outcome).await;
            }
        }
    });
    seen
}

#[test]
fn a_restarted_panel_resumes_cluster_creation_without_repeating_steps() {
    // Panel A: starts building, then dies while the join step waits for an answer.
    let first = tokio::runtime::Runtime::new().expect("runtime");
    let (cfg, _files, t1, t2, cluster_id) = first.block_on(async {
        let h = TestPanel::open(Duration::from_secs(5)).await;
        let (panel, admin) = (h.panel.clone(), h.admin.clone());
        let e1 = h.enrol("edge-1").await;
        let e2 = h.enrol("edge-2").await;
        let (n1, n2) = (e1.node_id().to_owned(), e2.node_id().to_owned());
        let seen1 = scripted_agent(&panel, e1.token.clone(), "edge-1", "10.9.0.11", true);
        let seen2 = scripted_agent(&panel, e2.token.clone(), "edge-2", "10.9.0.12", false);
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
        (
            h.config.clone(),
            h.keep_files(),
            e1.token,
            e2.token,
            cluster_id,
        )
    });
    drop(first); // the panel dies: every task of it stops mid-step

    // Panel B: same database; the agents reconnect with their tokens; the workflow resumes at
    // the join.
    let second = tokio::runtime::Runtime::new().expect("runtime");
    second.block_on(async {
        let panel = Panel::open(&cfg).await.expect("reopens");
        let admin = sign_in(&panel).await;
        let seen1 = scripted_agent(&panel, t1, "edge-1", "10.9.0.11", true);
        let seen2 = scripted_agent(&panel, t2, "edge-2", "10.9.0.12", true);
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

/// A swarm report counts only from the cluster's own managers: a node of another cluster (or of
/// none) that claims to speak for this swarm is ignored.
#[tokio::test]
async fn a_spoofed_swarm_report_from_another_node_is_ignored() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let manager = h.enrol("edge-1").await;
    let intruder = h.enrol("edge-9").await;
    let mut m =
        AgentLink::connect(&h.panel, &manager.token, facts("edge-1", Some("10.9.0.11"))).await;
    let mut i = AgentLink::connect(
        &h.panel,
        &intruder.token,
        facts("edge-9", Some("10.9.0.19")),
    )
    .await;
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "guarded".into(),
            ..Default::default()
        },
        members: vec![MemberDraft {
            node_id: manager.node_id().to_owned(),
            role: SwarmRole::Manager,
            labels: String::new(),
            interface: "eth0".into(),
            vip: false,
        }],
    };
    let cluster_id = h
        .panel
        .clusters
        .create(&h.admin, draft)
        .await
        .expect("created");
    let (id, cmd) = m.next_command().await.expect("init");
    assert!(matches!(cmd, Command::SwarmInit(_)), "{cmd:?}");
    m.answer(
        &id,
        Outcome::Done {
            reply: Reply::Member(SwarmMember {
                swarm_node_id: "swarm-edge-1".into(),
                cluster_id: "swarm-1".into(),
                address: "10.9.0.11".into(),
                tokens: Some(JoinTokens {
                    worker: "SWMTKN-w".into(),
                    manager: "SWMTKN-m".into(),
                }),
            }),
        },
    )
    .await;
    wait_for("the cluster to be active", async || {
        h.panel
            .clusters
            .get(&h.admin, &cluster_id)
            .await
            .ok()
            .and_then(|d| d.workflow)
            .is_some_and(|w| w.status == "done")
    })
    .await;
    let report = |leader: &str, subnet_size: u32| domain::protocol::SwarmSnapshot {
        cluster_id: "swarm-1".into(),
        nodes: vec![domain::protocol::SwarmNodeView {
            id: "swarm-edge-1".into(),
            hostname: leader.into(),
            role: SwarmRole::Manager,
            availability: domain::health::Availability::Active,
            state: "ready".into(),
            leader: true,
            reachability: Some("reachable".into()),
            address: "10.9.0.11".into(),
            engine_version: "20.10".into(),
            labels: vec![],
        }],
        default_addr_pool: vec!["10.200.0.0/16".into()],
        subnet_size,
        data_path_port: 4789,
        networks: vec![],
    };
    m.send(domain::protocol::AgentMessage::Swarm(report("edge-1", 24)))
        .await;
    wait_for("the manager's report", async || {
        h.panel
            .clusters
            .get(&h.admin, &cluster_id)
            .await
            .is_ok_and(|d| d.swarm_subnet_size == Some(24))
    })
    .await;
    // The intruder's newer report of the same swarm changes nothing.
    i.send(domain::protocol::AgentMessage::Swarm(report("edge-9", 28)))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let detail = h
        .panel
        .clusters
        .get(&h.admin, &cluster_id)
        .await
        .expect("cluster");
    assert_eq!(detail.swarm_subnet_size, Some(24));
    assert_eq!(detail.leader.as_deref(), Some("edge-1"));
}

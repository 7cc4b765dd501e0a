//! Cluster scenarios against scripted agents on in-memory channels (the real agents and engines
//! are exercised by the browser tests against the lab): resuming creation after a panel restart,
//! spoofed swarm reports, deletion, adding and removing nodes, quorum refusals and networks
//! (the cluster volume's scenarios are in `volumes.rs`).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::Panel;
use control::testing::{AgentLink, Fleet, TestPanel, facts, sign_in, wait_for};
use domain::cluster::{ClusterDraft, DefinitionDraft, MemberDraft, NodeAction};
use domain::list::ListQuery;
use domain::protocol::{Command, JoinTokens, Outcome, Reply, SwarmMember};
use domain::swarm::SwarmRole;
use domain::workflow::{StepStatus, WorkflowStatus};

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
        // On SQLite the restarted panel takes its leftover lease back at once; on PostgreSQL it
        // waits for the dead process's lease to expire.
        let mut resumed = 0;
        wait_for("the interrupted workflow to be taken over", async || {
            resumed += panel.engine.start().await.expect("resumes");
            resumed > 0
        })
        .await;
        assert_eq!(resumed, 1);
        wait_for("the cluster to be active", async || {
            panel
                .clusters
                .get(&admin, &cluster_id)
                .await
                .ok()
                .and_then(|d| d.workflow)
                .map(|w| w.status)
                == Some(WorkflowStatus::Done)
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
                .all(|s| s.status == StepStatus::Done)
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
            .is_some_and(|w| w.status == WorkflowStatus::Done)
    })
    .await;
    let report = |leader: &str, subnet_size: u32| domain::swarm::SwarmSnapshot {
        cluster_id: "swarm-1".into(),
        nodes: vec![domain::swarm::SwarmNodeView {
            id: "swarm-edge-1".into(),
            hostname: leader.into(),
            role: SwarmRole::Manager,
            availability: domain::swarm::Availability::Active,
            state: domain::swarm::SwarmNodeState::Ready,
            leader: true,
            reachability: Some(domain::swarm::Reachability::Reachable),
            address: "10.9.0.11".into(),
            engine_version: "20.10".into(),
            labels: vec![],
            os: "linux".into(),
            arch: "x86_64".into(),
        }],
        default_addr_pool: vec!["10.200.0.0/16".into()],
        subnet_size,
        data_path_port: 4789,
        networks: vec![],
        services: vec![],
        secrets: vec![],
        configs: vec![],
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

#[tokio::test]
async fn deleting_a_cluster_takes_it_apart_on_every_node_then_forgets_it() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3"]).await;
    let id = f
        .cluster(vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Manager),
            f.member("edge-3", SwarmRole::Worker),
        ])
        .await;
    assert_eq!(f.node("edge-2").asked(), vec!["join:SWMTKN-m"]);
    assert_eq!(f.node("edge-3").asked(), vec!["join:SWMTKN-w"]);
    f.h.panel
        .clusters
        .delete(&f.h.admin, &id)
        .await
        .expect("deletes");
    wait_for("the cluster to be gone", async || {
        matches!(
            f.h.panel.clusters.get(&f.h.admin, &id).await,
            Err(control::ControlError::NotFound(_))
        )
    })
    .await;
    assert_eq!(
        f.node("edge-3").asked().last().map(String::as_str),
        Some("leave:false")
    );
    assert!(
        f.node("edge-1")
            .asked()
            .contains(&"update:swarm-edge-2".to_string()),
        "edge-2 demoted through edge-1"
    );
    assert_eq!(
        f.node("edge-2").asked().last().map(String::as_str),
        Some("leave:false")
    );
    assert_eq!(
        f.node("edge-1").asked().last().map(String::as_str),
        Some("leave:true"),
        "the first manager ends the swarm"
    );
    let candidates =
        f.h.panel
            .clusters
            .candidates(&f.h.admin)
            .await
            .expect("candidates");
    assert!(
        candidates.iter().all(|c| c.cluster.is_none()),
        "every node is free again"
    );
}

#[tokio::test]
async fn a_page_of_the_cluster_list_shows_each_cluster_with_its_own_members() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3"]).await;
    f.cluster_named("line-b", vec![f.member("edge-1", SwarmRole::Manager)])
        .await;
    f.cluster_named(
        "line-a",
        vec![
            f.member("edge-2", SwarmRole::Manager),
            f.member("edge-3", SwarmRole::Worker),
        ],
    )
    .await;
    let page =
        f.h.panel
            .clusters
            .page(&f.h.admin, &ListQuery::default())
            .await
            .expect("a page");
    let rows: Vec<_> = page
        .page
        .rows
        .iter()
        .map(|c| (c.name.as_str(), c.members, c.managers, c.online))
        .collect();
    assert_eq!(rows, vec![("line-a", 2, 1, 2), ("line-b", 1, 1, 1)]);
    assert_eq!((page.total, page.page.matched), (2, 2));
}

#[tokio::test]
async fn nodes_are_added_to_and_removed_from_a_running_cluster() {
    let f = Fleet::new(&["edge-1", "edge-2"]).await;
    let id = f
        .cluster(vec![f.member("edge-1", SwarmRole::Manager)])
        .await;
    f.h.panel
        .clusters
        .add_node(&f.h.admin, &id, f.member("edge-2", SwarmRole::Worker))
        .await
        .expect("adds");
    f.settled(&id).await;
    assert_eq!(f.node("edge-2").asked(), vec!["join:SWMTKN-w"]);
    let detail =
        f.h.panel
            .clusters
            .get(&f.h.admin, &id)
            .await
            .expect("cluster");
    assert_eq!(detail.members.len(), 2);
    let added = &detail.activity[0];
    assert_eq!(added.kind, domain::workflow::WorkflowKind::AddNode);
    assert_eq!(
        added.steps[0].node.as_deref(),
        Some("edge-2"),
        "the timeline names the node"
    );
    assert!(
        added
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Done && s.started_at_ms.is_some())
    );

    f.h.panel
        .clusters
        .remove_node(&f.h.admin, &id, &f.node("edge-2").node_id)
        .await
        .expect("removes");
    f.settled(&id).await;
    assert_eq!(
        f.node("edge-2").asked().last().map(String::as_str),
        Some("leave:false")
    );
    assert!(
        f.node("edge-1")
            .asked()
            .contains(&"remove:swarm-edge-2".to_string())
    );
    let detail =
        f.h.panel
            .clusters
            .get(&f.h.admin, &id)
            .await
            .expect("cluster");
    assert_eq!(detail.members.len(), 1);
    assert!(matches!(
        f.h.panel.clusters.remove_node(&f.h.admin, &id, &f.node("edge-1").node_id).await,
        Err(control::ControlError::Conflict(m)) if m.contains("only node")
    ));
}

#[tokio::test]
async fn changes_that_would_lose_quorum_or_the_last_active_node_are_refused() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3"]).await;
    let managers = ["edge-1", "edge-2", "edge-3"];
    let id = f
        .cluster(
            managers
                .iter()
                .map(|m| f.member(m, SwarmRole::Manager))
                .collect(),
        )
        .await;
    // edge-3 is down: two of three managers are reachable.
    f.node("edge-3").task.abort();
    let panel = f.h.panel.clone();
    wait_for("edge-3 offline", async || {
        panel.gateway.presence().len() == 2
    })
    .await;
    f.report(&managers, &[], &["edge-1", "edge-2"], vec![])
        .await;
    let demote =
        f.h.panel
            .clusters
            .node_action(
                &f.h.admin,
                &id,
                &f.node("edge-2").node_id,
                NodeAction::Demote,
            )
            .await;
    assert!(
        matches!(demote, Err(control::ControlError::Conflict(ref m)) if m.contains("lose quorum")),
        "{demote:?}"
    );
    let remove =
        f.h.panel
            .clusters
            .remove_node(&f.h.admin, &id, &f.node("edge-1").node_id)
            .await;
    assert!(
        matches!(remove, Err(control::ControlError::Conflict(ref m)) if m.contains("lose quorum")),
        "{remove:?}"
    );
    assert!(
        !f.node("edge-1")
            .asked()
            .iter()
            .any(|c| c.starts_with("update:")),
        "nothing was sent to the swarm"
    );
    // Draining the only other node that can run tasks is refused too.
    f.report(&managers, &[], &["edge-1"], vec![]).await;
    let drain =
        f.h.panel
            .clusters
            .node_action(
                &f.h.admin,
                &id,
                &f.node("edge-1").node_id,
                NodeAction::Availability {
                    availability: domain::swarm::Availability::Drain,
                },
            )
            .await;
    assert!(
        matches!(drain, Err(control::ControlError::Conflict(ref m)) if m.contains("stay active")),
        "{drain:?}"
    );
}

#[tokio::test]
async fn networks_are_created_and_removed_only_when_unused() {
    let f = Fleet::new(&["edge-1"]).await;
    let id = f
        .cluster(vec![f.member("edge-1", SwarmRole::Manager)])
        .await;
    let net = |name: &str, services: usize| domain::network::NetworkView {
        id: format!("id-{name}"),
        name: name.into(),
        subnets: vec![],
        attachable: true,
        encrypted: false,
        ingress: false,
        services,
    };
    f.report(
        &["edge-1"],
        &[],
        &["edge-1"],
        vec![net("busy", 2), net("idle", 0)],
    )
    .await;
    f.h.panel
        .clusters
        .create_network(
            &f.h.admin,
            &id,
            domain::network::NetworkDraft {
                name: "fresh".into(),
                subnet: "10.200.9.0/24".into(),
                attachable: true,
                encrypted: true,
            },
        )
        .await
        .expect("creates");
    assert!(
        f.node("edge-1")
            .asked()
            .contains(&"network-create:fresh".to_string())
    );
    let busy =
        f.h.panel
            .clusters
            .delete_network(&f.h.admin, &id, "busy")
            .await;
    assert!(
        matches!(busy, Err(control::ControlError::Conflict(ref m)) if m.contains("2 service")),
        "{busy:?}"
    );
    f.h.panel
        .clusters
        .delete_network(&f.h.admin, &id, "idle")
        .await
        .expect("deletes");
    let asked = f.node("edge-1").asked();
    assert!(asked.contains(&"network-remove:idle".to_string()));
    assert!(!asked.contains(&"network-remove:busy".to_string()));
}

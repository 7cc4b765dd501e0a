//! Cluster scenarios against scripted agents on in-memory channels (the real agents and engines
//! are exercised by the browser tests against the lab): resuming creation after a panel restart,
//! spoofed swarm reports, deletion, adding and removing nodes, quorum refusals and networks.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::Panel;
use control::testing::{AgentLink, Fleet, TestPanel, facts, ready_storage, sign_in, wait_for};
use domain::cluster::{ClusterDraft, ClusterEdit, DefinitionDraft, MemberDraft, NodeAction};
use domain::list::ListQuery;
use domain::protocol::{AgentMessage, Command, JoinTokens, Outcome, Reply, SwarmMember};
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
async fn cluster_volumes_are_refused_per_node_until_each_can_hold_them() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3"]).await;
    let id = f
        .cluster(vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Worker),
        ])
        .await;
    let edit = |volumes: bool, sync: &str| ClusterEdit {
        name: "line-1".into(),
        synctime: "0.1".into(),
        volumes,
        volume_sync: sync.into(),
    };
    let clusters = &f.h.panel.clusters;
    let refused = |r: Result<(), control::ControlError>| match r {
        Err(control::ControlError::Invalid(p)) => p,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Neither node reports what async standby (2 nodes) needs.
    let problems = refused(clusters.edit(&f.h.admin, &id, edit(true, "5")).await);
    let mut fields: Vec<_> = problems.iter().map(|p| p.field.clone()).collect();
    fields.sort();
    let key = |host: &str| format!("members.{}.volumes", f.node(host).node_id);
    let mut want = vec![key("edge-1"), key("edge-2")];
    want.sort();
    assert_eq!(fields, want);
    assert!(
        problems[0]
            .message
            .contains("cannot hold async standby volumes: btrfs-progs"),
        "{}",
        problems[0].message
    );
    let problems = refused(clusters.edit(&f.h.admin, &id, edit(true, "0")).await);
    assert_eq!(problems[0].field, "volume_sync");

    f.node("edge-1").report_storage(ready_storage()).await;
    f.node("edge-2").report_storage(ready_storage()).await;
    wait_for("both nodes' storage facts", async || {
        clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.glusterd).count() == 2)
    })
    .await;
    clusters
        .edit(&f.h.admin, &id, edit(true, "30"))
        .await
        .expect("both nodes can hold them");
    // The async volume is set up on the two.
    f.settled(&id).await;
    let d = clusters.get(&f.h.admin, &id).await.expect("cluster");
    assert!(d.definition.volumes);
    assert_eq!(d.definition.volume_sync_secs, 30);

    // A third node makes the volumes replicated; edge-3 has no GlusterFS.
    let refused_add = clusters
        .add_node(&f.h.admin, &id, f.member("edge-3", SwarmRole::Worker))
        .await;
    let problems = refused(refused_add);
    assert_eq!(problems[0].field, key("edge-3"));
    assert!(
        problems[0]
            .message
            .contains("cannot hold replicated volumes")
    );

    clusters
        .edit(&f.h.admin, &id, edit(false, "x"))
        .await
        .expect("volumes off");
    let d = clusters.get(&f.h.admin, &id).await.expect("cluster");
    assert!(!d.definition.volumes);
    assert_eq!(d.definition.volume_sync_secs, 30, "the interval is kept");
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

#[tokio::test]
async fn the_replicated_volume_is_set_up_mounted_everywhere_and_taken_down_by_workflows() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3", "edge-4"]).await;
    for host in ["edge-1", "edge-2", "edge-3", "edge-4"] {
        f.node(host).report_storage(ready_storage()).await;
    }
    let clusters = &f.h.panel.clusters;
    wait_for("every node's storage facts", async || {
        clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.glusterd).count() == 4)
    })
    .await;
    let storage = |host: &str| -> Vec<String> {
        f.node(host)
            .asked()
            .into_iter()
            .filter(|a| a.starts_with("storage:"))
            .collect()
    };
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "line-1".into(),
            volumes: true,
            ..Default::default()
        },
        members: ["edge-1", "edge-2", "edge-3"]
            .iter()
            .map(|h| f.member(h, SwarmRole::Manager))
            .collect(),
    };
    let id = clusters.create(&f.h.admin, draft).await.expect("created");
    f.settled(&id).await;
    // The first node joins the others into its pool and makes the volume; all three mount it.
    assert_eq!(
        storage("edge-1"),
        vec![
            "storage:peers:10.9.0.12,10.9.0.13",
            "storage:create:3",
            "storage:mount:3"
        ]
    );
    assert_eq!(storage("edge-2"), vec!["storage:mount:3"]);
    let created = clusters.get(&f.h.admin, &id).await.expect("cluster");
    let titles: Vec<&str> = created.activity[0]
        .steps
        .iter()
        .map(|s| s.title.as_str())
        .collect();
    assert!(
        titles.contains(&"Create the replicated volume on edge-1, edge-2, edge-3"),
        "{titles:?}"
    );

    // A fourth node mounts it; a node that holds a copy cannot leave; the fourth can.
    clusters
        .add_node(&f.h.admin, &id, f.member("edge-4", SwarmRole::Worker))
        .await
        .expect("adds");
    f.settled(&id).await;
    assert_eq!(storage("edge-4"), vec!["storage:mount:3"]);
    assert!(matches!(
        clusters.remove_node(&f.h.admin, &id, &f.node("edge-2").node_id).await,
        Err(control::ControlError::Conflict(m)) if m.contains("holds a copy of the cluster volume")
    ));
    clusters
        .remove_node(&f.h.admin, &id, &f.node("edge-4").node_id)
        .await
        .expect("removes");
    f.settled(&id).await;
    let asked = f.node("edge-4").asked();
    let unmounted = asked.iter().position(|a| a == "storage:unmount");
    let left = asked.iter().position(|a| a.starts_with("leave:"));
    assert!(unmounted.is_some() && unmounted < left, "{asked:?}");

    // Volumes off: unmounted everywhere, deleted on the first node, every copy cleared.
    let edit = |volumes: bool| ClusterEdit {
        name: "line-1".into(),
        synctime: "0.1".into(),
        volumes,
        volume_sync: "5".into(),
    };
    clusters
        .edit(&f.h.admin, &id, edit(false))
        .await
        .expect("off");
    f.settled(&id).await;
    assert_eq!(
        storage("edge-1")[3..],
        ["storage:unmount", "storage:delete:2", "storage:clear"]
    );
    assert_eq!(storage("edge-3")[1..], ["storage:unmount", "storage:clear"]);
    let d = clusters.get(&f.h.admin, &id).await.expect("cluster");
    assert_eq!(
        d.activity[0].kind,
        domain::workflow::WorkflowKind::RemoveVolumes
    );

    // On again, then the cluster is deleted: the volume goes first.
    clusters
        .edit(&f.h.admin, &id, edit(true))
        .await
        .expect("on");
    f.settled(&id).await;
    assert_eq!(
        storage("edge-1")[6..],
        [
            "storage:peers:10.9.0.12,10.9.0.13",
            "storage:create:3",
            "storage:mount:3"
        ]
    );
    clusters.delete(&f.h.admin, &id).await.expect("deletes");
    wait_for("the cluster to be forgotten", async || {
        clusters.get(&f.h.admin, &id).await.is_err()
    })
    .await;
    assert_eq!(
        storage("edge-1")[9..],
        ["storage:unmount", "storage:delete:2", "storage:clear"]
    );
    let asked = f.node("edge-2").asked();
    let cleared = asked.iter().position(|a| a == "storage:clear");
    let left = asked.iter().rposition(|a| a.starts_with("leave:"));
    assert!(cleared.is_some() && cleared < left, "{asked:?}");
}

#[tokio::test]
async fn two_nodes_get_an_async_volume_whose_primary_is_the_worker_and_keeps_its_label() {
    let f = Fleet::new(&["edge-1", "edge-2"]).await;
    for host in ["edge-1", "edge-2"] {
        f.node(host).report_storage(ready_storage()).await;
    }
    let clusters = &f.h.panel.clusters;
    wait_for("every node's storage facts", async || {
        clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.btrfs_tools).count() == 2)
    })
    .await;
    let storage = |host: &str| -> Vec<String> {
        f.node(host)
            .asked()
            .into_iter()
            .filter(|a| a.starts_with("storage:"))
            .collect()
    };
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "pair".into(),
            volumes: true,
            volume_sync: "7".into(),
            ..Default::default()
        },
        members: vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Worker),
        ],
    };
    let id = clusters.create(&f.h.admin, draft).await.expect("created");
    f.settled(&id).await;
    // The manager listens as the standby, the worker's data is primary and ships to it.
    let standby_address = "10.9.0.11";
    assert_eq!(storage("edge-1"), vec!["storage:standby:1"]);
    assert_eq!(
        storage("edge-2"),
        vec![format!("storage:primary:1:{standby_address}:7")]
    );
    let primary_label = "io.flotilla.volume-primary=true";
    let labelled = |host: &str| {
        f.node("edge-1").asked().iter().any(|a| {
            a.starts_with(&format!("update:swarm-{host}:labels=")) && a.contains(primary_label)
        })
    };
    assert!(labelled("edge-2"), "{:?}", f.node("edge-1").asked());
    assert!(!labelled("edge-1"));

    f.report(&["edge-1"], &["edge-2"], &["edge-1", "edge-2"], vec![])
        .await;
    // The volume's state comes with every heartbeat, ahead of the facts: a failing sync shows
    // on the node (and in the status: domain::health), the next good one clears it.
    let beat = |error: Option<&str>| {
        AgentMessage::Volume(Box::new(domain::storage::VolumeBeat {
            standby: Some(domain::standby::StandbyFacts {
                role: domain::standby::StandbyRole::Primary,
                epoch: 1,
                synced_at_ms: Some(1),
                last_bytes: 0,
                last_took_ms: 0,
                error: error.map(str::to_owned),
                conflicts: vec![],
            }),
            ..Default::default()
        }))
    };
    let reported = async || {
        clusters
            .get(&f.h.admin, &id)
            .await
            .ok()
            .and_then(|d| d.members.into_iter().find(|m| m.hostname == "edge-2"))
            .and_then(|m| m.standby)
            .and_then(|s| s.error)
    };
    f.node("edge-2")
        .say(beat(Some("the standby did not answer")))
        .await;
    wait_for("the failing sync in the view", async || {
        reported().await.as_deref() == Some("the standby did not answer")
    })
    .await;
    f.node("edge-2").say(beat(None)).await;
    wait_for("the view without it", async || reported().await.is_none()).await;

    // The operator's labels on the primary keep Flotilla's; Flotilla's own cannot be typed.
    let edge2 = f.node("edge-2").node_id.clone();
    clusters
        .node_action(
            &f.h.admin,
            &id,
            &edge2,
            NodeAction::Labels {
                labels: "zone=a".into(),
            },
        )
        .await
        .expect("labels");
    let last = f.node("edge-1").asked().last().cloned().unwrap_or_default();
    assert_eq!(
        last,
        format!("update:swarm-edge-2:labels=zone=a,{primary_label}")
    );
    assert!(matches!(
        clusters
            .node_action(
                &f.h.admin,
                &id,
                &edge2,
                NodeAction::Labels { labels: primary_label.into() },
            )
            .await,
        Err(control::ControlError::Validation(e)) if e.message.contains("set by Flotilla")
    ));

    // A new interval goes to the primary; a two-node async volume keeps both nodes.
    let edit = |volumes: bool, sync: &str| ClusterEdit {
        name: "pair".into(),
        synctime: "0.1".into(),
        volumes,
        volume_sync: sync.into(),
    };
    clusters
        .edit(&f.h.admin, &id, edit(true, "2"))
        .await
        .expect("interval");
    f.settled(&id).await;
    assert_eq!(
        storage("edge-2").last(),
        Some(&format!("storage:primary:1:{standby_address}:2"))
    );
    assert!(matches!(
        clusters.remove_node(&f.h.admin, &id, &f.node("edge-1").node_id).await,
        Err(control::ControlError::Conflict(m)) if m.contains("async cluster volume's two nodes")
    ));

    // Off: both drop the data, the panel forgets the key, the primary's label goes.
    clusters
        .edit(&f.h.admin, &id, edit(false, "2"))
        .await
        .expect("off");
    f.settled(&id).await;
    assert_eq!(
        storage("edge-1").last().map(String::as_str),
        Some("storage:standby-off")
    );
    assert_eq!(
        storage("edge-2").last().map(String::as_str),
        Some("storage:standby-off")
    );
    let last_labels = f
        .node("edge-1")
        .asked()
        .into_iter()
        .rfind(|a| a.starts_with("update:swarm-edge-2:labels="));
    assert_eq!(
        last_labels.as_deref(),
        Some("update:swarm-edge-2:labels=zone=a")
    );
}

/// Two nodes that can hold an async volume, in a cluster "pair" with volumes on (sync every 7 s):
/// edge-1 the manager and standby, edge-2 the worker and primary.
async fn async_pair() -> (Fleet, String) {
    let f = Fleet::new(&["edge-1", "edge-2"]).await;
    for host in ["edge-1", "edge-2"] {
        f.node(host).report_storage(ready_storage()).await;
    }
    let p = &f.h.panel;
    wait_for("every node's storage facts", async || {
        p.clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.btrfs_tools).count() == 2)
    })
    .await;
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "pair".into(),
            volumes: true,
            volume_sync: "7".into(),
            ..Default::default()
        },
        members: vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Worker),
        ],
    };
    let id = p.clusters.create(&f.h.admin, draft).await.expect("created");
    f.settled(&id).await;
    (f, id)
}

#[tokio::test]
async fn a_silent_async_primary_is_taken_over_by_a_standby_with_a_complete_snapshot() {
    use domain::standby::{StandbyFacts, StandbyRole};
    let (f, id) = async_pair().await;
    let p = &f.h.panel;
    let _watch = control::volumes::failover::Failover::new(
        p.store.clone(),
        p.gateway.clone(),
        p.engine.clone(),
    )
    .spawn();
    let standby = |synced_at_ms: Option<u64>| domain::storage::StorageFacts {
        standby: Some(StandbyFacts {
            role: StandbyRole::Standby,
            epoch: 1,
            synced_at_ms,
            last_bytes: 0,
            last_took_ms: 0,
            error: None,
            conflicts: vec![],
        }),
        ..ready_storage()
    };
    let promoted = || {
        f.node("edge-1")
            .asked()
            .contains(&"storage:primary:2:10.9.0.12:7".to_string())
    };

    // The primary goes; a standby without a complete snapshot has nothing to take over with.
    f.node("edge-1").report_storage(standby(None)).await;
    f.node("edge-2").task.abort();
    tokio::time::sleep(control::volumes::failover::PROMOTE_AFTER + Duration::from_secs(3)).await;
    assert!(!promoted(), "{:?}", f.node("edge-1").asked());

    // With one, it takes over in a new epoch, shipping to the old primary's address, and the
    // primary's label moves to it.
    f.node("edge-1").report_storage(standby(Some(1))).await;
    wait_for("the standby to take over", async || promoted()).await;
    f.settled(&id).await;
    let row = p.store.standby(&id).await.expect("store").expect("row");
    assert_eq!(
        (row.primary_node_id.as_str(), row.epoch),
        (f.node("edge-1").node_id.as_str(), 2)
    );
    let asked = f.node("edge-1").asked();
    let labelled = asked
        .iter()
        .position(|a| a == "update:swarm-edge-1:labels=io.flotilla.volume-primary=true");
    let unlabelled = asked
        .iter()
        .rposition(|a| a == "update:swarm-edge-2:labels=");
    assert!(labelled.is_some() && unlabelled > labelled, "{asked:?}");
    let d = p.clusters.get(&f.h.admin, &id).await.expect("cluster");
    assert_eq!(
        d.activity[0].kind,
        domain::workflow::WorkflowKind::PromoteVolume
    );
}

#[tokio::test]
async fn draining_the_async_primary_hands_the_volume_over_with_a_final_snapshot() {
    use domain::swarm::Availability;
    let (f, id) = async_pair().await;
    let p = &f.h.panel;
    // The managers report edge-2 drained, with no task.
    f.report_swarm(&["edge-1"], &["edge-2"], &["edge-1", "edge-2"], |s| {
        for n in s.nodes.iter_mut().filter(|n| n.hostname == "edge-2") {
            n.availability = Availability::Drain;
        }
    })
    .await;
    let drain = |host: &str| {
        p.clusters.node_action(
            &f.h.admin,
            &id,
            &f.node(host).node_id,
            NodeAction::Availability {
                availability: Availability::Drain,
            },
        )
    };
    drain("edge-2").await.expect("handing over");
    f.settled(&id).await;

    // Drained through the manager; the primary sends its last snapshot and waits as a standby;
    // the standby takes over in epoch 2, shipping to edge-2; the label moves; edge-2 is the
    // standby of epoch 2.
    let edge1 = f.node("edge-1").asked();
    let at = |all: &[String], what: &str| {
        all.iter()
            .position(|a| a == what)
            .unwrap_or_else(|| panic!("{what} not in {all:?}"))
    };
    let drained = at(&edge1, "update:swarm-edge-2:drain");
    let promoted = at(&edge1, "storage:primary:2:10.9.0.12:7");
    let labelled = at(
        &edge1,
        "update:swarm-edge-1:labels=io.flotilla.volume-primary=true",
    );
    assert!(drained < promoted && promoted < labelled, "{edge1:?}");
    let edge2 = f.node("edge-2").asked();
    let storage: Vec<&String> = edge2.iter().filter(|a| a.starts_with("storage:")).collect();
    assert_eq!(
        storage[storage.len() - 2..],
        [
            &"storage:handover".to_string(),
            &"storage:standby:2".to_string()
        ]
    );
    let row = p.store.standby(&id).await.expect("store").expect("row");
    assert_eq!(
        (row.primary_node_id.as_str(), row.epoch),
        (f.node("edge-1").node_id.as_str(), 2)
    );
    let d = p.clusters.get(&f.h.admin, &id).await.expect("cluster");
    assert_eq!(
        (d.activity[0].kind, d.activity[0].status),
        (
            domain::workflow::WorkflowKind::HandOverVolume,
            WorkflowStatus::Done
        )
    );

    // The new primary's standby away (active again in the swarm): draining the primary is
    // refused with the reason, nothing started.
    f.report(&["edge-1"], &["edge-2"], &["edge-1", "edge-2"], vec![])
        .await;
    f.node("edge-2").task.abort();
    wait_for("edge-2 offline", async || {
        p.gateway.is_online(&f.node("edge-2").node_id).is_none()
    })
    .await;
    let refused = drain("edge-1").await;
    assert!(
        matches!(&refused, Err(control::ControlError::Conflict(m))
            if m.contains("edge-1 is the async cluster volume's primary and its standby edge-2 is not online")),
        "{refused:?}"
    );
    let newest = p
        .clusters
        .get(&f.h.admin, &id)
        .await
        .expect("cluster")
        .activity[0]
        .id
        .clone();
    assert_eq!(newest, d.activity[0].id, "no workflow started");
}

#[tokio::test]
async fn a_node_holding_a_copy_is_drained_only_while_every_copy_is_whole() {
    use domain::storage::{CopiesFacts, VolumeBeat};
    use domain::swarm::Availability;
    let hosts = ["edge-1", "edge-2", "edge-3"];
    let f = Fleet::new(&hosts).await;
    for host in hosts {
        f.node(host).report_storage(ready_storage()).await;
    }
    let clusters = &f.h.panel.clusters;
    wait_for("every node's storage facts", async || {
        clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.glusterd).count() == 3)
    })
    .await;
    let draft = ClusterDraft {
        definition: DefinitionDraft {
            name: "line-1".into(),
            volumes: true,
            ..Default::default()
        },
        members: hosts
            .iter()
            .map(|h| f.member(h, SwarmRole::Manager))
            .collect(),
    };
    let id = clusters.create(&f.h.admin, draft).await.expect("created");
    f.settled(&id).await;
    f.report(&hosts, &[], &hosts, vec![]).await;
    let edge2 = f.node("edge-2").node_id.clone();
    let drain = async || {
        clusters
            .node_action(
                &f.h.admin,
                &id,
                &edge2,
                NodeAction::Availability {
                    availability: Availability::Drain,
                },
            )
            .await
    };
    let refusal = async || match drain().await {
        Err(control::ControlError::Conflict(m)) => m,
        other => format!("{other:?}"),
    };
    // Nothing known of the copies yet: no drain.
    let m = refusal().await;
    assert!(
        m.contains("edge-2 holds a copy of the cluster volume")
            && m.contains("has not reported the volume's copies yet"),
        "{m}"
    );
    // A holder's heartbeat says a copy has entries to heal: no drain, with the count.
    let beat = |to_heal| {
        AgentMessage::Volume(Box::new(VolumeBeat {
            copies: Some(CopiesFacts {
                bricks: 3,
                bricks_up: 3,
                to_heal,
                split_brain: 0,
            }),
            ..Default::default()
        }))
    };
    for host in hosts {
        f.node(host).say(beat(0)).await;
    }
    f.node("edge-1").say(beat(12)).await;
    wait_for("the heal backlog named", async || {
        refusal()
            .await
            .contains("12 entries to heal (as edge-1 sees it)")
    })
    .await;
    let sent = |host: &str| {
        f.node(host)
            .asked()
            .iter()
            .any(|a| a.starts_with("update:swarm-edge-2"))
    };
    assert!(!hosts.iter().any(|h| sent(h)), "nothing went to the swarm");
    // Whole again: the drain goes to the swarm.
    f.node("edge-1").say(beat(0)).await;
    wait_for("the drain allowed", async || drain().await.is_ok()).await;
}

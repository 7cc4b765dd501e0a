//! Cluster volume scenarios against scripted agents on in-memory channels (the real GlusterFS,
//! btrfs and agents are exercised by the browser tests against the lab): per-node refusals, the
//! replicated volume's workflows, moving a copy off a leaving node, the async pair's roles,
//! take-over and hand-over, and the drain gate.
use std::time::Duration;

use control::testing::{Fleet, ready_storage, wait_for};
use domain::cluster::{ClusterDraft, ClusterEdit, DefinitionDraft, NodeAction};
use domain::protocol::AgentMessage;
use domain::swarm::SwarmRole;
use domain::workflow::WorkflowStatus;

/// A fleet of `hosts` whose storage facts (ready for either mode) the panel has.
async fn ready_fleet(hosts: &[&'static str]) -> Fleet {
    let f = Fleet::new(hosts).await;
    for host in hosts {
        f.node(host).report_storage(ready_storage()).await;
    }
    wait_for("every node's storage facts", async || {
        f.h.panel
            .clusters
            .candidates(&f.h.admin)
            .await
            .is_ok_and(|c| c.iter().filter(|c| c.storage.glusterd).count() == hosts.len())
    })
    .await;
    f
}

/// A cluster of `hosts` (managers) with volumes on, built and reported by its managers.
async fn volume_cluster(f: &Fleet, hosts: &[&'static str]) -> String {
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
    let id =
        f.h.panel
            .clusters
            .create(&f.h.admin, draft)
            .await
            .expect("created");
    f.settled(&id).await;
    f.report(hosts, &[], hosts, vec![]).await;
    id
}

/// A holder's heartbeat: every copy answers, `to_heal` entries left to heal.
fn copies_beat(to_heal: u64) -> AgentMessage {
    AgentMessage::Volume(Box::new(domain::storage::VolumeBeat {
        copies: Some(domain::storage::CopiesFacts {
            bricks: 3,
            bricks_up: 3,
            to_heal,
            split_brain: 0,
        }),
        ..Default::default()
    }))
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
async fn the_replicated_volume_is_set_up_mounted_everywhere_and_taken_down_by_workflows() {
    let f = ready_fleet(&["edge-1", "edge-2", "edge-3", "edge-4"]).await;
    let clusters = &f.h.panel.clusters;
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

    // A fourth node mounts it; a node that holds a copy cannot leave while nothing says its
    // copies are whole (a_leaving_node_moves_its_copy… moves one); the fourth can.
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
    let f = ready_fleet(&["edge-1", "edge-2"]).await;
    let clusters = &f.h.panel.clusters;
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
    let f = ready_fleet(&["edge-1", "edge-2"]).await;
    let p = &f.h.panel;
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
    use domain::swarm::Availability;
    let hosts = ["edge-1", "edge-2", "edge-3"];
    let f = ready_fleet(&hosts).await;
    let clusters = &f.h.panel.clusters;
    let id = volume_cluster(&f, &hosts).await;
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
    for host in hosts {
        f.node(host).say(copies_beat(0)).await;
    }
    f.node("edge-1").say(copies_beat(12)).await;
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
    f.node("edge-1").say(copies_beat(0)).await;
    wait_for("the drain allowed", async || drain().await.is_ok()).await;
}

#[tokio::test]
async fn a_leaving_node_moves_its_copy_to_the_next_member_first() {
    let hosts = ["edge-1", "edge-2", "edge-3", "edge-4", "edge-5"];
    let f = ready_fleet(&hosts).await;
    let clusters = &f.h.panel.clusters;
    let id = volume_cluster(&f, &hosts).await;
    let whole = async |host: &str| f.node(host).say(copies_beat(0)).await;
    let storage = |host: &str| -> Vec<String> {
        f.node(host)
            .asked()
            .into_iter()
            .filter(|a| a.starts_with("storage:"))
            .collect()
    };
    let remove = async |host: &str| {
        clusters
            .remove_node(&f.h.admin, &id, &f.node(host).node_id)
            .await
    };

    // edge-2 is online: removed only while every copy is whole.
    let refused = remove("edge-2").await;
    assert!(
        matches!(&refused, Err(control::ControlError::Conflict(m))
            if m.contains("edge-2 holds a copy of the cluster volume, which would move to edge-4, but")),
        "{refused:?}"
    );
    for host in ["edge-1", "edge-2", "edge-3", "edge-4"] {
        whole(host).await;
    }
    wait_for("the removal of edge-2 accepted", async || {
        remove("edge-2").await.is_ok()
    })
    .await;
    f.settled(&id).await;
    // It unmounts, its copy moves to edge-4 through edge-1, its old copy goes, then it leaves;
    // the members that stay mount from the new copies.
    assert_eq!(storage("edge-2")[1..], ["storage:unmount", "storage:clear"]);
    assert_eq!(
        storage("edge-1")[3..],
        ["storage:move:10.9.0.12>10.9.0.14", "storage:mount:3"]
    );
    assert_eq!(storage("edge-4")[1..], ["storage:mount:3"]);
    let asked = f.node("edge-2").asked();
    let cleared = asked.iter().position(|a| a == "storage:clear");
    let left = asked.iter().position(|a| a.starts_with("leave:"));
    assert!(cleared.is_some() && cleared < left, "{asked:?}");
    let d = clusters.get(&f.h.admin, &id).await.expect("cluster");
    let titles: Vec<&str> = d.activity[0]
        .steps
        .iter()
        .map(|s| s.title.as_str())
        .collect();
    assert!(
        titles.contains(&"Move edge-2's copy of the cluster volume to edge-4")
            && titles.contains(&"Wait until edge-4's new copy is whole"),
        "{titles:?}"
    );
    assert_eq!(d.activity[0].status, WorkflowStatus::Done);

    // edge-3 is gone for good: its copy moves to edge-5 through the others, nothing is asked of it.
    f.node("edge-3").task.abort();
    whole("edge-5").await;
    wait_for("the removal of edge-3 accepted", async || {
        remove("edge-3").await.is_ok()
    })
    .await;
    f.settled(&id).await;
    assert_eq!(
        storage("edge-1")[5..],
        ["storage:move:10.9.0.13>10.9.0.15", "storage:mount:3"]
    );
    assert!(!storage("edge-3").contains(&"storage:unmount".to_string()));

    // Three members hold the three copies: none of them can leave now.
    let m = match remove("edge-4").await {
        Err(control::ControlError::Conflict(m)) => m,
        other => format!("{other:?}"),
    };
    assert!(m.contains("no other member can take it"), "{m}");
}

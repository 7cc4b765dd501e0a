//! Starting firmware rollouts on clusters of scripted agents: what is refused before anything is
//! stored (quorum, targets, roles), the order of the nodes (workers first, then managers) and a
//! cluster's own gates.
use control::ControlError;
use control::testing::Fleet;
use domain::Role;
use domain::firmware::gates::GateDraft;
use domain::firmware::{FirmwareDraft, RolloutDraft};
use domain::swarm::SwarmRole;

/// Uploads a small image for `target` and returns its id.
async fn artifact(f: &Fleet, version: &str, target: &str) -> String {
    let fw = &f.h.panel.firmware;
    let draft = FirmwareDraft {
        version: version.into(),
        target: target.into(),
        notes: String::new(),
    };
    let mut upload = fw
        .begin_upload(&f.h.admin, &draft, None)
        .await
        .expect("begins");
    upload.write(b"version=2.0\n").await.expect("writes");
    fw.finish(upload).await.expect("finishes").id
}

fn rollout(cluster_id: &str, artifact_id: &str) -> RolloutDraft {
    RolloutDraft {
        cluster_id: cluster_id.into(),
        artifact_id: artifact_id.into(),
        gate_secs: "60".into(),
    }
}

fn invalid(e: ControlError) -> String {
    match e {
        ControlError::Invalid(all) => all
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rollout_that_would_lose_quorum_or_misses_the_target_is_refused() {
    let f = Fleet::new(&["edge-1", "edge-2"]).await;
    let id = f
        .cluster(vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Manager),
        ])
        .await;
    let fw = &f.h.panel.firmware;
    let good = artifact(&f, "2.0", "x86_64").await;
    let e = fw
        .rollout(&f.h.admin, &rollout(&id, &good))
        .await
        .expect_err("2 managers");
    let text = invalid(e);
    assert!(
        text.contains("cannot take its managers down one at a time"),
        "{text}"
    );
    assert!(text.contains("quorum"), "{text}");
    let other = artifact(&f, "2.0", "aarch64").await;
    let text = invalid(
        fw.rollout(&f.h.admin, &rollout(&id, &other))
            .await
            .expect_err("another target"),
    );
    assert!(
        text.contains("edge-1 is x86_64, the firmware is for aarch64"),
        "{text}"
    );
    // An Editor may not start one, whatever the input.
    let editor = f.h.user("eddie", Role::Editor).await;
    assert!(matches!(
        fw.rollout(&editor, &RolloutDraft::default()).await,
        Err(ControlError::Forbidden)
    ));
    assert!(
        f.h.panel
            .engine
            .views_of(&id, 10)
            .await
            .expect("activity")
            .iter()
            .all(|w| w.kind != domain::workflow::WorkflowKind::FirmwareRollout),
        "nothing was started"
    );
}

#[tokio::test]
async fn workers_go_first_and_each_node_gets_the_whole_sequence() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3", "edge-4"]).await;
    let id = f
        .cluster(vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Manager),
            f.member("edge-3", SwarmRole::Manager),
            f.member("edge-4", SwarmRole::Worker),
        ])
        .await;
    let good = artifact(&f, "2.0", "x86_64").await;
    f.h.panel
        .firmware
        .rollout(&f.h.admin, &rollout(&id, &good))
        .await
        .expect("starts");
    let activity = f.h.panel.engine.views_of(&id, 10).await.expect("activity");
    let run = activity
        .iter()
        .find(|w| w.kind == domain::workflow::WorkflowKind::FirmwareRollout)
        .expect("the rollout");
    assert_eq!(run.steps.len(), 4 * 10);
    assert_eq!(run.steps[0].title, "Check that edge-4 can go down");
    let titles: Vec<&str> = run.steps[..10].iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Check that edge-4 can go down",
            "Hand edge-4's virtual IPs over",
            "Fence edge-4 from VRRP",
            "Drain edge-4 until it runs no task",
            "Download and install 2.0 on edge-4",
            "Reboot edge-4 into 2.0",
            "Wait until edge-4 runs 2.0 healthy",
            "Set edge-4 active; its tasks run again",
            "Unfence edge-4; its KeepAlived is healthy",
            "Commit 2.0 on edge-4",
        ]
    );
    // A second rollout while this one runs is refused.
    let again =
        f.h.panel
            .firmware
            .rollout(&f.h.admin, &rollout(&id, &good))
            .await;
    assert!(matches!(again, Err(ControlError::Conflict(_))), "{again:?}");
}

fn http_gate(name: &str, url: &str) -> GateDraft {
    GateDraft {
        name: name.into(),
        kind: "http".into(),
        url: url.into(),
        status: "200".into(),
        timeout_secs: "10".into(),
        ..GateDraft::default()
    }
}

#[tokio::test]
async fn a_clusters_gates_are_checked_kept_and_run_after_each_node_before_its_commit() {
    let f = Fleet::new(&["edge-1", "edge-2", "edge-3"]).await;
    let id = f
        .cluster(vec![
            f.member("edge-1", SwarmRole::Manager),
            f.member("edge-2", SwarmRole::Manager),
            f.member("edge-3", SwarmRole::Manager),
        ])
        .await;
    let fw = &f.h.panel.firmware;
    // Supervisors only, before the input is looked at; then the input, field by field.
    let editor = f.h.user("eddie", Role::Editor).await;
    assert!(matches!(
        fw.add_gate(&editor, &id, &GateDraft::default()).await,
        Err(ControlError::Forbidden)
    ));
    let text = invalid(
        fw.add_gate(&f.h.admin, &id, &http_gate("web", "https://x/"))
            .await
            .expect_err("https"),
    );
    assert!(text.starts_with("url: "), "{text}");
    fw.add_gate(
        &f.h.admin,
        &id,
        &http_gate("web", "http://10.77.0.102:8080/"),
    )
    .await
    .expect("added");
    let text = invalid(
        fw.add_gate(&f.h.admin, &id, &http_gate("web", "http://other/"))
            .await
            .expect_err("same name"),
    );
    assert!(text.contains("name: "), "{text}");
    let job = GateDraft {
        name: "smoke".into(),
        kind: "job".into(),
        image: "flotilla-lab/busybox:1".into(),
        command: "true".into(),
        timeout_secs: "60".into(),
        ..GateDraft::default()
    };
    fw.add_gate(&f.h.admin, &id, &job).await.expect("added");
    let gates = fw.gates(&editor, &id).await.expect("Editors read them");
    let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["web", "smoke"]);
    assert_eq!(gates[1].check.describe(), "job flotilla-lab/busybox:1 true");

    let good = artifact(&f, "2.0", "x86_64").await;
    fw.rollout(&f.h.admin, &rollout(&id, &good))
        .await
        .expect("starts");
    let activity = f.h.panel.engine.views_of(&id, 10).await.expect("activity");
    let run = activity
        .iter()
        .find(|w| w.kind == domain::workflow::WorkflowKind::FirmwareRollout)
        .expect("the rollout");
    assert_eq!(run.steps.len(), 3 * 11);
    assert_eq!(
        run.steps[9].title,
        "Pass the cluster's 2 gates with edge-1 back"
    );
    assert_eq!(run.steps[10].title, "Commit 2.0 on edge-1");

    // Removed once; a second time it is not found.
    fw.delete_gate(&f.h.admin, &id, &gates[0].id)
        .await
        .expect("removed");
    assert!(matches!(
        fw.delete_gate(&f.h.admin, &id, &gates[0].id).await,
        Err(ControlError::NotFound(_))
    ));
    assert_eq!(fw.gates(&f.h.admin, &id).await.expect("gates").len(), 1);
}

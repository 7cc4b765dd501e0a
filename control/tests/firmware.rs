//! Starting firmware rollouts on clusters of scripted agents: what is refused before anything is
//! stored (quorum, targets, roles), and the order of the nodes (workers first, then managers).
use control::ControlError;
use control::testing::Fleet;
use domain::Role;
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
            "Wait until edge-4 run 2.0 healthy",
            "Set edge-4 active; its tasks run again",
            "Commit 2.0 on edge-4",
            "Unfence edge-4; its KeepAlived is healthy",
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

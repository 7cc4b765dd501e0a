//! The library: apps and models with versions whose compose files must parse.
use std::time::Duration;

use control::ControlError;
use control::testing::TestPanel;
use domain::Role;
use domain::workload::compose::ServiceMode;
use domain::workload::library::{AppDraft, VersionDraft, WorkloadKind};

const COMPOSE: &str = "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n  once:\n    image: busybox\n    deploy:\n      mode: global-job\n";

fn model(name: &str) -> AppDraft {
    AppDraft {
        name: name.into(),
        kind: WorkloadKind::Model,
        model_format: "onnx".into(),
        description: "finds defects".into(),
    }
}

fn version(v: &str, compose: &str) -> VersionDraft {
    VersionDraft {
        version: v.into(),
        compose: compose.into(),
    }
}

#[tokio::test]
async fn apps_and_versions_are_added_and_listed() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let editor = h.user("eddie", Role::Editor).await;
    let lib = &h.panel.workloads;
    let id = lib
        .create_app(&editor, model("Defects"))
        .await
        .expect("created");
    lib.add_version(&editor, &id, version("1.0", COMPOSE))
        .await
        .expect("version");
    let apps = lib.library(&editor).await.expect("lists");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].kind_label(), "model: onnx");
    let services = &apps[0].versions[0].services;
    assert_eq!(
        services
            .iter()
            .map(|s| (s.name.as_str(), s.mode, s.replicas))
            .collect::<Vec<_>>(),
        [
            ("web", ServiceMode::Replicated, Some(2)),
            ("once", ServiceMode::GlobalJob, None)
        ]
    );
    let text = lib
        .version_compose(&editor, &apps[0].versions[0].id)
        .await
        .expect("compose");
    assert_eq!(text, COMPOSE);
}

#[tokio::test]
async fn bad_input_is_refused_by_field_and_nothing_is_written() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let lib = &h.panel.workloads;
    let id = lib
        .create_app(&h.admin, model("Defects"))
        .await
        .expect("created");
    // Names are unique regardless of case.
    match lib.create_app(&h.admin, model("DEFECTS")).await {
        Err(ControlError::Validation(v)) => assert_eq!(v.field, "name"),
        other => panic!("expected a name error, got {other:?}"),
    }
    // A compose file that does not parse: every problem, with its line.
    let bad = "services:\n  web:\n    image: busybox\n    build: .\n    networks: [back]\n";
    match lib.add_version(&h.admin, &id, version("1.0", bad)).await {
        Err(ControlError::Invalid(all)) => {
            let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
            assert!(
                messages
                    .iter()
                    .any(|m| m.starts_with("line 4: `build` is not supported by Swarm")),
                "{messages:?}"
            );
            assert!(
                messages
                    .iter()
                    .any(|m| m.contains("network back, which is not declared")),
                "{messages:?}"
            );
            assert!(all.iter().all(|e| e.field == "compose"));
        }
        other => panic!("expected compose errors, got {other:?}"),
    }
    lib.add_version(&h.admin, &id, version("1.0", COMPOSE))
        .await
        .expect("good version");
    match lib
        .add_version(&h.admin, &id, version("1.0", COMPOSE))
        .await
    {
        Err(ControlError::Validation(v)) => assert_eq!(v.field, "version"),
        other => panic!("expected a version error, got {other:?}"),
    }
    assert!(matches!(
        lib.add_version(&h.admin, "no-such-app", version("2.0", COMPOSE))
            .await,
        Err(ControlError::NotFound(_))
    ));
    let apps = lib.library(&h.admin).await.expect("lists");
    assert_eq!((apps.len(), apps[0].versions.len()), (1, 1));
}

#[tokio::test]
async fn roles_decide_who_changes_the_library() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let viewer = h.user("vera", Role::Viewer).await;
    let editor = h.user("eddie", Role::Editor).await;
    let lib = &h.panel.workloads;
    assert!(matches!(
        lib.create_app(&viewer, model("Defects")).await,
        Err(ControlError::Forbidden)
    ));
    let id = lib
        .create_app(&editor, model("Defects"))
        .await
        .expect("created");
    assert!(matches!(
        lib.add_version(&viewer, &id, version("1", COMPOSE)).await,
        Err(ControlError::Forbidden)
    ));
    // Removing an app is for Supervisors.
    assert!(matches!(
        lib.delete_app(&editor, &id).await,
        Err(ControlError::Forbidden)
    ));
    assert_eq!(lib.library(&viewer).await.expect("reads").len(), 1);
    lib.delete_app(&h.admin, &id).await.expect("deleted");
    assert!(lib.library(&viewer).await.expect("reads").is_empty());
    let audit = h.panel.store.audit_actions().await.expect("audit");
    assert!(audit.contains(&"app.create".to_string()));
    assert!(audit.contains(&"app.delete".to_string()));
}

//! A cluster's Global Config: versions, conflicts, named saves, restore and reset, and its
//! delivery to member nodes with each node's state (scripted agents that write it like the real
//! one: facts with the new version, then the result).
use control::ControlError;
use control::testing::{Fleet, wait_for};
use domain::Role;
use domain::config::global::{Change, SyncState};
use domain::config::objects::ObjectKind;
use domain::config::secrets::SecretDraft;
use domain::protocol::AgentMessage;
use domain::swarm::SwarmRole;
use domain::workload::install::{InstallDraft, WorkloadPhase};

const HOSTS: [&str; 3] = ["edge-1", "edge-2", "edge-3"];

async fn cluster() -> (Fleet, String) {
    let f = Fleet::new(&HOSTS).await;
    let members = HOSTS
        .iter()
        .map(|h| f.member(h, SwarmRole::Manager))
        .collect();
    let id = f.cluster(members).await;
    (f, id)
}

/// Each node's (hostname, state, version held).
async fn states(f: &Fleet, id: &str) -> Vec<(String, SyncState, Option<u64>)> {
    let view = f.h.panel.configs.view(&f.h.admin, id).await.expect("view");
    view.nodes
        .into_iter()
        .map(|n| (n.hostname, n.state, n.version))
        .collect()
}

async fn all_synced(f: &Fleet, id: &str, version: u64) {
    wait_for(&format!("every node on v{version}"), async || {
        states(f, id)
            .await
            .iter()
            .all(|(_, s, v)| *s == SyncState::Synced && *v == Some(version))
    })
    .await;
}

#[tokio::test]
async fn a_saved_version_reaches_every_node_and_a_failing_node_says_why_until_it_catches_up() {
    let (f, id) = cluster().await;
    let sync = f.h.panel.configs.spawn_sync();
    let configs = &f.h.panel.configs;
    let editor = f.h.user("eddie", Role::Editor).await;

    // Nothing saved: the empty document, which every node has.
    let view = configs.view(&editor, &id).await.expect("view");
    assert_eq!((view.version, view.document.as_str()), (0, "{}"));
    assert!(view.nodes.iter().all(|n| n.state == SyncState::Synced));

    let v1 = configs
        .save(&editor, &id, 0, "{\"line\": 1}", false)
        .await
        .expect("saved");
    assert_eq!(v1, 1);
    all_synced(&f, &id, 1).await;
    for host in HOSTS {
        assert!(
            f.node(host)
                .asked()
                .contains(&"global-config:1".to_string()),
            "{host}: {:?}",
            f.node(host).asked()
        );
    }

    // edge-3 cannot write: it shows the agent's words, the others move on.
    f.node("edge-3")
        .refuse_config
        .store(true, std::sync::atomic::Ordering::SeqCst);
    configs
        .save(&editor, &id, 1, "{\"line\": 2}", true)
        .await
        .expect("saved");
    wait_for("edge-3's error", async || {
        states(&f, &id).await.iter().any(|(h, s, v)| {
            h == "edge-3"
                && *s
                    == SyncState::Error {
                        message: "no space left on device".into(),
                    }
                && *v == Some(1)
        })
    })
    .await;
    // The others' pushes run beside edge-3's: each acknowledges in its own time.
    wait_for("the other nodes to hold version 2", async || {
        states(&f, &id)
            .await
            .iter()
            .filter(|(h, ..)| h != "edge-3")
            .all(|(_, s, v)| *s == SyncState::Synced && *v == Some(2))
    })
    .await;
    // Fixed on the node, it reports again (as after a restart) and gets v2 by itself.
    f.node("edge-3")
        .refuse_config
        .store(false, std::sync::atomic::Ordering::SeqCst);
    f.node("edge-3")
        .say(AgentMessage::Facts(Box::new(control::testing::facts(
            "edge-3",
            Some("10.9.0.13"),
        ))))
        .await;
    all_synced(&f, &id, 2).await;
    sync.abort();
}

#[tokio::test]
async fn versions_conflicts_history_restore_reset_and_named_saves() {
    let (f, id) = cluster().await;
    let configs = &f.h.panel.configs;
    let editor = f.h.user("eddie", Role::Editor).await;
    let viewer = f.h.user("vic", Role::Viewer).await;

    // Viewers read, never write; bad documents are refused by field with line and column.
    assert!(matches!(
        configs.save(&viewer, &id, 0, "{}", false).await,
        Err(ControlError::Forbidden)
    ));
    match configs
        .save(&editor, &id, 0, "{\n  \"a\": 1,\n  oops\n}", false)
        .await
    {
        Err(ControlError::Validation(v)) => {
            assert_eq!(v.field, "document");
            assert!(v.message.starts_with("Line 3, column 3"), "{}", v.message);
        }
        other => panic!("expected a document error, got {other:?}"),
    }
    assert!(matches!(
        configs.save(&editor, &id, 0, "[1, 2]", true).await,
        Err(ControlError::Validation(_))
    ));
    assert_eq!(configs.view(&editor, &id).await.expect("view").version, 0);

    configs
        .save(&editor, &id, 0, "{\"a\": 1, \"b\": {\"c\": true}}", false)
        .await
        .expect("v1");
    configs
        .save(&editor, &id, 1, "{\"a\": 2, \"b\": {\"c\": true}}", true)
        .await
        .expect("v2");
    // Saved on top of v1 while v2 exists: refused, naming who saved.
    match configs.save(&f.h.admin, &id, 1, "{\"x\": 0}", false).await {
        Err(ControlError::Conflict(m)) => assert!(m.contains("v2") && m.contains("eddie"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The same document again is no new version.
    assert_eq!(
        configs
            .save(&editor, &id, 2, "{\"a\": 2, \"b\": {\"c\": true}}", false)
            .await
            .expect("same"),
        2
    );

    let restored = configs.restore(&editor, &id, 2, 1).await.expect("restored");
    assert_eq!(restored, 3);
    let reset = configs.reset(&editor, &id, 3).await.expect("reset");
    assert_eq!(reset, 4);
    let view = configs.view(&viewer, &id).await.expect("view");
    assert_eq!((view.version, view.document.as_str()), (4, "{}"));

    let history = configs.history(&viewer, &id).await.expect("history");
    let summary: Vec<(u64, &str)> = history
        .iter()
        .map(|v| (v.version, v.origin.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (4, "reset to empty"),
            (3, "restored v1"),
            (2, "uploaded"),
            (1, "edited")
        ]
    );
    assert_eq!(
        history[2].changes,
        [Change::Changed {
            path: "/a".into(),
            from: "1".into(),
            to: "2".into()
        }]
    );
    assert_eq!(history[3].changes.len(), 2);
    assert_eq!(
        configs.version_document(&viewer, &id, 2).await.expect("v2"),
        "{\"a\": 2, \"b\": {\"c\": true}}"
    );

    // Named saves: kept without being applied, loaded, deleted; names are checked.
    configs
        .save_named(&editor, &id, " night shift ", "{\"speed\": 3}")
        .await
        .expect("named");
    assert!(matches!(
        configs.save_named(&editor, &id, "", "{oops").await,
        Err(ControlError::Invalid(all)) if all.len() == 2
    ));
    assert!(matches!(
        configs.save_named(&viewer, &id, "x", "{}").await,
        Err(ControlError::Forbidden)
    ));
    let view = configs.view(&viewer, &id).await.expect("view");
    assert_eq!(
        (view.version, view.saved.clone()),
        (4, vec!["night shift".to_string()])
    );
    assert_eq!(
        configs
            .named(&viewer, &id, "night shift")
            .await
            .expect("loaded"),
        "{\"speed\": 3}"
    );
    configs
        .delete_named(&editor, &id, "night shift")
        .await
        .expect("deleted");
    assert!(matches!(
        configs.named(&viewer, &id, "night shift").await,
        Err(ControlError::NotFound(_))
    ));

    let audit = f.h.panel.store.audit_actions().await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.starts_with("cluster.config."))
            .count(),
        6,
        "{audit:?}"
    );
}

#[tokio::test]
async fn secrets_are_sealed_and_only_supervisors_read_them_back() {
    let (f, id) = cluster().await;
    let configs = &f.h.panel.configs;
    let editor = f.h.user("eddie", Role::Editor).await;
    let viewer = f.h.user("vic", Role::Viewer).await;
    let supervisor = f.h.user("sue", Role::Supervisor).await;
    let draft = |name: &str, value: &str| SecretDraft {
        name: name.into(),
        value: value.into(),
    };

    assert_eq!(
        configs
            .put_secret(&editor, &id, &draft("DB_PASSWORD", "hunter2"), true)
            .await
            .expect("added"),
        1
    );
    // Stored sealed: the row does not hold the value.
    let rows = f.h.panel.store.secrets(&id).await.expect("rows");
    assert!(!rows[0].value.contains("hunter2"));
    // Names are immutable and unique; values are bounded; Viewers write nothing.
    match configs
        .put_secret(&editor, &id, &draft("DB_PASSWORD", "x"), true)
        .await
    {
        Err(ControlError::Invalid(all)) => assert!(all[0].message.contains("already"), "{all:?}"),
        other => panic!("expected a name error, got {other:?}"),
    }
    assert!(matches!(
        configs
            .put_secret(&editor, &id, &draft("NEW", "x"), false)
            .await,
        Err(ControlError::NotFound(_))
    ));
    let big = "x".repeat(domain::config::secrets::MAX_VALUE_BYTES + 1);
    match configs
        .put_secret(&editor, &id, &draft("bad name", &big), true)
        .await
    {
        Err(ControlError::Invalid(all)) => assert_eq!(all.len(), 2, "{all:?}"),
        other => panic!("expected two field errors, got {other:?}"),
    }
    assert!(matches!(
        configs
            .put_secret(&viewer, &id, &draft("A", "1"), true)
            .await,
        Err(ControlError::Forbidden)
    ));
    // A new value is a new version; Editors and Viewers see that it exists and who changed it.
    assert_eq!(
        configs
            .put_secret(&editor, &id, &draft("DB_PASSWORD", "correct horse"), false)
            .await
            .expect("replaced"),
        2
    );
    let list = configs.secrets(&viewer, &id).await.expect("list");
    assert_eq!(
        list.iter()
            .map(|s| (
                s.name.as_str(),
                s.version,
                s.size_bytes,
                s.updated_by.as_str()
            ))
            .collect::<Vec<_>>(),
        [("DB_PASSWORD", 2, 13, "eddie")]
    );
    for actor in [&editor, &viewer] {
        assert!(matches!(
            configs.reveal_secret(actor, &id, "DB_PASSWORD").await,
            Err(ControlError::Forbidden)
        ));
        assert!(matches!(
            configs.export_secrets(actor, &id).await,
            Err(ControlError::Forbidden)
        ));
    }
    assert_eq!(
        configs
            .reveal_secret(&supervisor, &id, "DB_PASSWORD")
            .await
            .expect("revealed"),
        "correct horse"
    );

    // Import: one bad line and nothing is taken; then all of them.
    match configs
        .import_secrets(&editor, &id, "API_TOKEN=abc\nbroken line\n")
        .await
    {
        Err(ControlError::Invalid(all)) => {
            assert_eq!(all.len(), 1);
            assert!(all[0].message.starts_with("Line 2:"), "{all:?}");
        }
        other => panic!("expected the bad line, got {other:?}"),
    }
    assert_eq!(configs.secrets(&viewer, &id).await.expect("list").len(), 1);
    assert_eq!(
        configs
            .import_secrets(
                &editor,
                &id,
                "API_TOKEN=abc\nCERT=\"-----BEGIN-----\\nxyz\"\n"
            )
            .await
            .expect("imported"),
        2
    );
    assert_eq!(
        configs
            .export_secrets(&supervisor, &id)
            .await
            .expect("export"),
        "API_TOKEN=abc\nCERT=\"-----BEGIN-----\\nxyz\"\nDB_PASSWORD=correct horse\n"
    );
    configs
        .delete_secret(&editor, &id, "API_TOKEN")
        .await
        .expect("deleted");
    assert!(matches!(
        configs.delete_secret(&editor, &id, "API_TOKEN").await,
        Err(ControlError::NotFound(_))
    ));
    let audit = f.h.panel.store.audit_actions().await.expect("audit");
    let secret_actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.starts_with("cluster.secret."))
        .map(String::as_str)
        .collect();
    assert_eq!(
        secret_actions,
        [
            "cluster.secret.set",
            "cluster.secret.set",
            "cluster.secret.reveal",
            "cluster.secret.set",
            "cluster.secret.export",
            "cluster.secret.delete"
        ]
    );
    // The cluster's changes list shows them to a Viewer, newest first, with names and versions
    // but never a value.
    let changes =
        f.h.panel
            .clusters
            .changes(&viewer, &id)
            .await
            .expect("changes");
    assert_eq!(changes[0].action, "cluster.secret.delete");
    assert_eq!(changes[0].detail, "API_TOKEN");
    assert!(
        changes
            .iter()
            .any(|c| c.detail == "DB_PASSWORD v2" && c.actor == "eddie")
    );
    for c in &changes {
        for value in ["hunter2", "correct horse", "BEGIN"] {
            assert!(!c.detail.contains(value), "{c:?}");
        }
    }
}

#[tokio::test]
async fn a_changed_secret_rolls_the_services_that_use_it_and_one_in_use_cannot_be_deleted() {
    let (f, id) = cluster().await;
    f.report(&HOSTS, &[], &HOSTS, vec![]).await;
    let configs = &f.h.panel.configs;
    let lib = &f.h.panel.workloads;
    configs
        .put_secret(
            &f.h.admin,
            &id,
            &SecretDraft {
                name: "DB_PASSWORD".into(),
                value: "hunter2".into(),
            },
            true,
        )
        .await
        .expect("added");
    let compose = "services:
  web:
    image: busybox
    secrets: [DB_PASSWORD]
  worker:
    image: busybox
    secrets:
      - source: DB_PASSWORD
        target: /run/secrets/db
  other:
    image: busybox
secrets:
  DB_PASSWORD:
    external: true
";
    let version = f.h.app_version("Shop", compose).await;
    let parsed = domain::workload::compose::parse(compose).expect("parses");
    let workload = lib
        .install(
            &f.h.admin,
            &id,
            InstallDraft::defaults(&version, "shop", &parsed),
        )
        .await
        .expect("installs");
    wait_for("the install", async || {
        lib.installed(&f.h.admin, &id).await.is_ok_and(|w| {
            w.first()
                .is_some_and(|w| w.phase == WorkloadPhase::Deployed)
        })
    })
    .await;

    // The install created the secret's current version, labelled as the cluster's.
    let asked = || f.node("edge-1").asked();
    assert!(
        asked().contains(&"global-secret:DB_PASSWORD_v1".to_string()),
        "{:?}",
        asked()
    );

    // A new value: one workflow gives the two services that use it version 2 (each service
    // step creates it first), then removes what no service uses, keeping the current version.
    let before = asked().len();
    let editor = f.h.user("eddie", Role::Editor).await;
    configs
        .put_secret(
            &editor,
            &id,
            &SecretDraft {
                name: "DB_PASSWORD".into(),
                value: "hunter3".into(),
            },
            false,
        )
        .await
        .expect("changed");
    wait_for("the secret's rollout", async || {
        asked().contains(&"secrets-prune:DB_PASSWORD_v2".to_string())
    })
    .await;
    let rollout: Vec<String> = asked()[before..]
        .iter()
        .filter(|a| !a.starts_with("global-config") && !a.starts_with("refresh"))
        .cloned()
        .collect();
    assert_eq!(
        rollout,
        [
            "global-secret:DB_PASSWORD_v2",
            "stack-objects:shop",
            "service-apply:shop_web",
            "global-secret:DB_PASSWORD_v2",
            "stack-objects:shop",
            "service-apply:shop_worker",
            "secrets-prune:DB_PASSWORD_v2",
        ]
    );
    let flow =
        f.h.panel
            .engine
            .newest_view(&id, domain::workflow::WorkflowKind::ApplySecrets)
            .await
            .expect("views")
            .expect("a secrets workflow");
    assert_eq!(flow.status, domain::workflow::WorkflowStatus::Done);
    // A secret nobody uses changes without a workflow.
    configs
        .put_secret(
            &f.h.admin,
            &id,
            &SecretDraft {
                name: "UNUSED".into(),
                value: "x".into(),
            },
            true,
        )
        .await
        .expect("added");

    match configs.delete_secret(&f.h.admin, &id, "DB_PASSWORD").await {
        Err(ControlError::Conflict(m)) => {
            assert!(m.contains("shop_web, shop_worker"), "{m}");
            assert!(!m.contains("shop_other"), "{m}");
        }
        other => panic!("expected a conflict naming the services, got {other:?}"),
    }
    assert_eq!(
        configs.secrets(&f.h.admin, &id).await.expect("list").len(),
        2
    );
    assert_eq!(
        f.h.panel
            .engine
            .views_of(&id, 50)
            .await
            .expect("views")
            .iter()
            .filter(|w| w.kind == domain::workflow::WorkflowKind::ApplySecrets)
            .count(),
        1
    );

    lib.uninstall(&f.h.admin, &workload)
        .await
        .expect("uninstalls");
    wait_for("the uninstall", async || {
        lib.installed(&f.h.admin, &id)
            .await
            .is_ok_and(|w| w.is_empty())
    })
    .await;
    // The app's services are gone, then every version no service uses but the current ones.
    let tail: Vec<String> = asked().into_iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "secrets-prune:DB_PASSWORD_v2,UNUSED_v1",
            "stack-remove:shop"
        ]
    );
    configs
        .delete_secret(&f.h.admin, &id, "DB_PASSWORD")
        .await
        .expect("deleted once no service uses it");
}

#[tokio::test]
async fn swarm_objects_name_their_origin_and_only_unused_ones_are_deleted_by_supervisors() {
    let (f, id) = cluster().await;
    let configs = &f.h.panel.configs;
    for value in ["one", "two"] {
        configs
            .put_secret(
                &f.h.admin,
                &id,
                &SecretDraft {
                    name: "DB_PASSWORD".into(),
                    value: value.into(),
                },
                value == "one",
            )
            .await
            .expect("saved");
    }
    let object = |name: &str, stack: Option<&str>, global: Option<&str>, services: &[&str]| {
        domain::swarm::SwarmObject {
            name: name.into(),
            created_at_ms: Some(1_000),
            stack: stack.map(Into::into),
            global_secret: global.map(Into::into),
            services: services.iter().map(|s| (*s).into()).collect(),
        }
    };
    let secrets = vec![
        object("by-hand", None, None, &[]),
        object("DB_PASSWORD_v1", None, Some("DB_PASSWORD"), &[]),
        object("DB_PASSWORD_v2", None, Some("DB_PASSWORD"), &["shop_web"]),
        object(
            "shop_token",
            Some("shop"),
            None,
            &["shop_web", "shop_worker"],
        ),
    ];
    let configs_reported = vec![object("shop_conf", Some("shop"), None, &[])];
    f.report_swarm(&HOSTS, &[], &HOSTS, |s| {
        s.secrets = secrets;
        s.configs = configs_reported;
    })
    .await;

    let viewer = f.h.user("vic", Role::Viewer).await;
    let editor = f.h.user("eddie", Role::Editor).await;
    let view = configs
        .swarm_objects(&viewer, &id)
        .await
        .expect("a Viewer reads");
    assert!(view.reported);
    let origins: Vec<(String, String, bool)> = view
        .secrets
        .iter()
        .chain(&view.configs)
        .map(|o| (o.name.clone(), o.origin.label(), o.deletable()))
        .collect();
    assert_eq!(
        origins,
        [
            ("by-hand".into(), "made outside the panel".into(), true),
            (
                "DB_PASSWORD_v1".into(),
                "Global Secret DB_PASSWORD v1 (old)".into(),
                true
            ),
            (
                "DB_PASSWORD_v2".into(),
                "Global Secret DB_PASSWORD v2 (current)".into(),
                false
            ),
            ("shop_token".into(), "app shop".into(), false),
            ("shop_conf".into(), "app shop".into(), true),
        ]
    );

    // Deleting is for Supervisors and Administrators, checked before anything else.
    for actor in [&viewer, &editor] {
        assert!(matches!(
            configs
                .delete_swarm_object(actor, &id, ObjectKind::Secret, "by-hand")
                .await,
            Err(ControlError::Forbidden)
        ));
    }
    // In use: refused with the services' names, nothing is sent.
    match configs
        .delete_swarm_object(&f.h.admin, &id, ObjectKind::Secret, "shop_token")
        .await
    {
        Err(ControlError::Conflict(m)) => assert!(m.contains("shop_web, shop_worker"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        configs
            .delete_swarm_object(&f.h.admin, &id, ObjectKind::Config, "no-such")
            .await,
        Err(ControlError::NotFound(_))
    ));
    let asked = || f.node("edge-1").asked();
    assert!(!asked().iter().any(|a| a.contains("-remove:shop")));

    configs
        .delete_swarm_object(&f.h.admin, &id, ObjectKind::Secret, "by-hand")
        .await
        .expect("an unused secret goes");
    configs
        .delete_swarm_object(&f.h.admin, &id, ObjectKind::Config, "shop_conf")
        .await
        .expect("an unused config goes");
    let removed: Vec<String> = asked()
        .into_iter()
        .filter(|a| a.contains("-remove:"))
        .collect();
    assert_eq!(
        removed,
        ["secret-remove:by-hand", "config-remove:shop_conf"]
    );
    let changes =
        f.h.panel
            .clusters
            .changes(&f.h.admin, &id)
            .await
            .expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c.action == "cluster.swarm-object.delete"
                && c.detail == "secret by-hand (made outside the panel)"),
        "{changes:?}"
    );
}

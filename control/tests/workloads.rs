//! Installing apps on a cluster of scripted agents: the install workflow sends the app's objects
//! and services to a manager, bad drafts are refused before anything is stored, Viewers cannot
//! write, and uninstall removes the stack and forgets the workload.
use control::ControlError;
use control::testing::{Fleet, wait_for};
use domain::Role;
use domain::swarm::SwarmRole;
use domain::workload::compose::{Port, Protocol, PublishMode, ServiceMode};
use domain::workload::install::{InstallDraft, WorkloadPhase};
use domain::workload::library::VersionDraft;
use domain::workload::observe::{ServiceObservation, UpdateObservation, UpdateState};
use domain::workload::registry::{CheckStatus, CredentialDraft};

const COMPOSE: &str = "services:
  web:
    image: registry.lab:5000/flotilla/hello:1
    ports: [\"8080:80\"]
    secrets: [token]
    deploy:
      replicas: 2
  once:
    image: busybox
    deploy:
      mode: replicated-job
      replicas: 3
secrets:
  token: {}
";

/// A 3-manager cluster that reported its swarm, and the id of a library version of COMPOSE.
async fn setup() -> (Fleet, String, String) {
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
    f.report(&managers, &[], &managers, vec![]).await;
    let version = f.h.app_version("Hello", COMPOSE).await;
    (f, id, version)
}

fn draft(version: &str) -> InstallDraft {
    let compose = domain::workload::compose::parse(COMPOSE).expect("parses");
    let mut d = InstallDraft::defaults(version, "hello", &compose);
    d.secrets = vec![("token".into(), "s3cret".into())];
    d
}

async fn phase(f: &Fleet, cluster: &str) -> Option<WorkloadPhase> {
    f.h.panel
        .workloads
        .installed(&f.h.admin, cluster)
        .await
        .ok()
        .and_then(|w| w.first().map(|w| w.phase))
}

#[tokio::test]
async fn install_sends_objects_then_services_and_uninstall_removes_the_stack() {
    let (f, cluster, version) = setup().await;
    let editor = f.h.user("eddie", Role::Editor).await;
    let lib = &f.h.panel.workloads;
    lib.install(&editor, &cluster, draft(&version))
        .await
        .expect("installs");
    wait_for("the install workflow", async || {
        phase(&f, &cluster).await == Some(WorkloadPhase::Deployed)
    })
    .await;
    let asked = f.node("edge-1").asked();
    let deploys: Vec<&str> = asked
        .iter()
        .map(String::as_str)
        .filter(|a| a.starts_with("stack") || a.starts_with("service"))
        .collect();
    assert_eq!(
        deploys,
        [
            "stack-objects:hello",
            "service-apply:hello_web",
            "service-apply:hello_once"
        ]
    );

    // The same name again is refused on the name field; nothing new is stored.
    let again = lib.install(&editor, &cluster, draft(&version)).await;
    assert!(matches!(&again, Err(ControlError::Invalid(e)) if e[0].field == "name"));
    assert_eq!(
        lib.installed(&editor, &cluster).await.map(|w| w.len()).ok(),
        Some(1)
    );

    // Deleting an app that is installed is refused.
    let app = lib.library(&f.h.admin).await.expect("library")[0]
        .id
        .clone();
    assert!(matches!(
        lib.delete_app(&f.h.admin, &app).await,
        Err(ControlError::Conflict(_))
    ));

    // Editors may not uninstall; Supervisors may.
    let installed = lib.installed(&editor, &cluster).await.expect("installed");
    assert!(matches!(
        lib.uninstall(&editor, &installed[0].id).await,
        Err(ControlError::Forbidden)
    ));
    let supervisor = f.h.user("sue", Role::Supervisor).await;
    lib.uninstall(&supervisor, &installed[0].id)
        .await
        .expect("uninstalls");
    wait_for("the uninstall workflow", async || {
        lib.installed(&f.h.admin, &cluster)
            .await
            .is_ok_and(|w| w.is_empty())
    })
    .await;
    assert!(
        f.node("edge-1")
            .asked()
            .contains(&"stack-remove:hello".to_string())
    );
}

#[tokio::test]
async fn bad_drafts_and_viewers_are_refused_before_anything_is_stored() {
    let (f, cluster, version) = setup().await;
    let lib = &f.h.panel.workloads;
    let viewer = f.h.user("vic", Role::Viewer).await;
    assert!(matches!(
        lib.install(&viewer, &cluster, draft(&version)).await,
        Err(ControlError::Forbidden)
    ));

    // Port 8080 is published on the cluster by another service already.
    let managers = ["edge-1", "edge-2", "edge-3"];
    let other = ServiceObservation {
        id: "s1".into(),
        name: "other_web".into(),
        stack: Some("other".into()),
        version: None,
        mode: ServiceMode::Replicated,
        replicas: Some(1),
        image: "busybox".into(),
        ports: vec![Port {
            target: 80,
            published: Some(8080),
            protocol: Protocol::Tcp,
            mode: PublishMode::Ingress,
        }],
        desired: 1,
        running: 1,
        completed: 0,
        update: None,
        tasks: vec![],
        cluster_volume: false,
    };
    f.report_with(&managers, &[], &managers, vec![], vec![other])
        .await;
    // (The report travels on the agents' channels: the refusal reads what was observed.)
    let p = &f.h.panel;
    wait_for("the other service observed", async || {
        let (Ok(Some(c)), Ok(members)) = (
            p.store.cluster(&cluster).await,
            p.store.members(&cluster).await,
        ) else {
            return false;
        };
        p.gateway
            .observed()
            .swarm_of(&c, &members)
            .is_some_and(|s| s.services.iter().any(|s| s.name == "other_web"))
    })
    .await;
    let mut d = draft(&version);
    d.secrets.clear();
    d.services[1].replicas = "0".into();
    d.services[0].constraints = "node.labels.zone = a".into();
    let refused = lib.install(&f.h.admin, &cluster, d).await;
    let Err(ControlError::Invalid(errors)) = refused else {
        panic!("refused as invalid: {refused:?}");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "secret.token",
            "service.web.constraints",
            "service.web.ports",
            "service.once.replicas"
        ]
    );
    assert!(errors[2].message.contains("other_web"));
    assert!(
        lib.installed(&f.h.admin, &cluster)
            .await
            .expect("lists")
            .is_empty()
    );
    assert!(
        !f.node("edge-1")
            .asked()
            .iter()
            .any(|a| a.starts_with("stack") || a.starts_with("service")),
        "nothing was sent"
    );
}

#[tokio::test]
async fn credentials_are_checked_on_every_node_and_given_to_the_services_that_pull_from_there() {
    let (f, cluster, version) = setup().await;
    let lib = &f.h.panel.workloads;
    lib.install(&f.h.admin, &cluster, draft(&version))
        .await
        .expect("installs");
    wait_for("the install workflow", async || {
        phase(&f, &cluster).await == Some(WorkloadPhase::Deployed)
    })
    .await;

    let viewer = f.h.user("vic", Role::Viewer).await;
    let good = CredentialDraft {
        registry: "Registry.Lab:5000".into(),
        username: "ci".into(),
        password: "s3cret-pw".into(),
    };
    assert!(matches!(
        lib.save_credential(&viewer, &cluster, good.clone()).await,
        Err(ControlError::Forbidden)
    ));
    // An import with one bad line saves nothing.
    let bad = lib
        .import_credentials(&f.h.admin, &cluster, "other.lab,ci,pw\nnope\n")
        .await;
    assert!(matches!(&bad, Err(ControlError::Invalid(e)) if e[0].field == "csv.2"));
    assert!(
        lib.credentials(&viewer, &cluster)
            .await
            .expect("lists")
            .is_empty()
    );

    lib.save_credential(&f.h.admin, &cluster, good)
        .await
        .expect("saved");
    wait_for("every node's check", async || {
        lib.credentials(&viewer, &cluster).await.is_ok_and(|c| {
            c.len() == 1
                && c[0].checks.len() == 3
                && c[0].checks.iter().all(|k| k.status == CheckStatus::Valid)
        })
    })
    .await;
    for host in ["edge-1", "edge-2", "edge-3"] {
        assert!(
            f.node(host)
                .asked()
                .contains(&"login:registry.lab:5000".to_string()),
            "{host} logged in"
        );
    }
    // Only the service whose image is on that registry gets it again.
    wait_for("the re-application", async || {
        f.node("edge-1")
            .asked()
            .iter()
            .filter(|a| *a == "service-apply:hello_web")
            .count()
            == 2
    })
    .await;
    assert_eq!(
        f.node("edge-1")
            .asked()
            .iter()
            .filter(|a| *a == "service-apply:hello_once")
            .count(),
        1
    );
    // The password is sealed at rest and exported nowhere.
    let export = lib
        .export_credentials(&viewer, &cluster)
        .await
        .expect("exports");
    assert_eq!(export, "registry,username\nregistry.lab:5000,ci\n");
    let stored =
        f.h.panel
            .store
            .credentials_of(&cluster)
            .await
            .expect("reads");
    assert!(!stored[0].password.contains("s3cret-pw"));
}

#[tokio::test]
async fn update_rolls_to_another_version_and_stop_start_keep_the_choices() {
    let (f, cluster, version) = setup().await;
    let lib = &f.h.panel.workloads;
    lib.install(&f.h.admin, &cluster, draft(&version))
        .await
        .expect("installs");
    wait_for("the install workflow", async || {
        phase(&f, &cluster).await == Some(WorkloadPhase::Deployed)
    })
    .await;
    let app = lib.library(&f.h.admin).await.expect("library")[0]
        .id
        .clone();
    let add = async |v: &str, compose: &str| {
        lib.add_version(
            &f.h.admin,
            &app,
            VersionDraft {
                version: v.into(),
                compose: compose.into(),
            },
        )
        .await
        .expect("version")
    };
    // Version 2: `once` is gone, `extra` is new.
    let two = add(
        "2",
        &COMPOSE.replace("  once:\n    image: busybox\n    deploy:\n      mode: replicated-job\n      replicas: 3\n", "  extra:\n    image: busybox\n"),
    )
    .await;
    // Version 3 makes `web` global: Swarm cannot change a service's mode.
    let three = add(
        "3",
        &COMPOSE.replace("      replicas: 2\n", "      mode: global\n"),
    )
    .await;
    let workload = lib.installed(&f.h.admin, &cluster).await.expect("lists")[0]
        .id
        .clone();

    let viewer = f.h.user("vic", Role::Viewer).await;
    assert!(matches!(
        lib.update(&viewer, &workload, &two).await,
        Err(ControlError::Forbidden)
    ));
    let refused = lib.update(&f.h.admin, &workload, &three).await;
    assert!(
        matches!(&refused, Err(ControlError::Invalid(e)) if e[0].message.contains("cannot change a service's mode")),
        "{refused:?}"
    );
    assert!(matches!(
        lib.update(&f.h.admin, &workload, &version).await,
        Err(ControlError::Invalid(_))
    ));

    lib.update(&f.h.admin, &workload, &two)
        .await
        .expect("updates");
    // Right after the new spec, a manager may still report the previous update as completed:
    // that is not this update's end.
    let managers = ["edge-1", "edge-2", "edge-3"];
    let mut stale = vec![
        observed("hello_web", "2", Some(UpdateState::Completed)),
        observed("hello_extra", "2", Some(UpdateState::Completed)),
    ];
    for s in &mut stale {
        if let Some(u) = &mut s.update {
            u.started_at_ms = Some(0);
        }
    }
    f.report_with(&managers, &[], &managers, vec![], stale)
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let w = lib
        .installed(&f.h.admin, &cluster)
        .await
        .expect("installed");
    assert_ne!(
        w[0].phase,
        WorkloadPhase::Deployed,
        "an earlier update's end is not this one's"
    );
    // The managers report the new version rolled out.
    f.report_with(
        &managers,
        &[],
        &managers,
        vec![],
        vec![
            observed("hello_web", "2", Some(UpdateState::Completed)),
            observed("hello_extra", "2", Some(UpdateState::Completed)),
        ],
    )
    .await;
    wait_for("the update workflow", async || {
        lib.installed(&f.h.admin, &cluster)
            .await
            .is_ok_and(|w| w[0].version == "2" && w[0].phase == WorkloadPhase::Deployed)
    })
    .await;
    let asked = f.node("edge-1").asked();
    assert!(asked.contains(&"service-apply:hello_extra".to_string()));
    assert!(asked.contains(&"service-remove:hello_once".to_string()));

    // Stop, then start: every service that is not a job is applied again each time.
    let applies = || {
        f.node("edge-1")
            .asked()
            .iter()
            .filter(|a| *a == "service-apply:hello_web")
            .count()
    };
    let before = applies();
    lib.set_running(&f.h.admin, &workload, false)
        .await
        .expect("stops");
    wait_for("stopped", async || {
        lib.installed(&f.h.admin, &cluster)
            .await
            .is_ok_and(|w| w[0].stopped && w[0].phase == WorkloadPhase::Deployed)
    })
    .await;
    assert!(matches!(
        lib.set_running(&f.h.admin, &workload, false).await,
        Err(ControlError::Conflict(_))
    ));
    lib.set_running(&f.h.admin, &workload, true)
        .await
        .expect("starts");
    wait_for("started", async || {
        lib.installed(&f.h.admin, &cluster)
            .await
            .is_ok_and(|w| !w[0].stopped && w[0].phase == WorkloadPhase::Deployed)
    })
    .await;
    assert_eq!(applies(), before + 2);
}

/// A service of stack `hello` as a manager reports it: running, at `version`.
fn observed(name: &str, version: &str, update: Option<UpdateState>) -> ServiceObservation {
    ServiceObservation {
        id: name.into(),
        name: name.into(),
        stack: Some("hello".into()),
        version: Some(version.into()),
        mode: ServiceMode::Replicated,
        replicas: Some(1),
        image: "busybox".into(),
        ports: vec![],
        desired: 1,
        running: 1,
        completed: 0,
        update: update.map(|state| UpdateObservation {
            state,
            message: "update rolled back due to failure".into(),
            // Swarm started it just now (after the workflow began).
            started_at_ms: Some(control::secret::now_ms()),
        }),
        tasks: vec![],
        cluster_volume: false,
    }
}

#[tokio::test]
async fn an_update_swarm_rolls_back_fails_and_records_the_version_before() {
    let (f, cluster, version) = setup().await;
    let lib = &f.h.panel.workloads;
    lib.install(&f.h.admin, &cluster, draft(&version))
        .await
        .expect("installs");
    wait_for("the install workflow", async || {
        phase(&f, &cluster).await == Some(WorkloadPhase::Deployed)
    })
    .await;
    let app = lib.library(&f.h.admin).await.expect("library")[0]
        .id
        .clone();
    let two = lib
        .add_version(
            &f.h.admin,
            &app,
            VersionDraft {
                version: "2".into(),
                compose: COMPOSE.replace("replicas: 2", "replicas: 3"),
            },
        )
        .await
        .expect("version");
    let workload = lib.installed(&f.h.admin, &cluster).await.expect("lists")[0]
        .id
        .clone();
    lib.update(&f.h.admin, &workload, &two)
        .await
        .expect("updates");
    let managers = ["edge-1", "edge-2", "edge-3"];
    f.report_with(
        &managers,
        &[],
        &managers,
        vec![],
        vec![
            observed("hello_web", "2", Some(UpdateState::RollbackCompleted)),
            observed("hello_once", "2", None),
        ],
    )
    .await;
    wait_for("the update to fail", async || {
        lib.installed(&f.h.admin, &cluster)
            .await
            .is_ok_and(|w| w[0].phase == WorkloadPhase::Failed && w[0].version == "1")
    })
    .await;
    let detail =
        f.h.panel
            .clusters
            .get(&f.h.admin, &cluster)
            .await
            .expect("detail");
    let update = detail
        .activity
        .iter()
        .find(|w| w.kind == domain::workflow::WorkflowKind::Update)
        .expect("the update workflow");
    assert!(
        update
            .error
            .as_deref()
            .is_some_and(|e| e.contains("Swarm rolled hello_web back")),
        "{:?}",
        update.error
    );
}

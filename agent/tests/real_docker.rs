//! The agent against a real Docker Engine (a lab node's dockerd). `./dev test` brings the lab up
//! and sets FLOTILLA_TEST_DOCKER_HOST; the answers are checked against the docker CLI.
use std::process::Command;

use agent::Config;
use domain::node::{EngineFacts, SwarmState};

fn docker_host() -> String {
    std::env::var("FLOTILLA_TEST_DOCKER_HOST")
        .expect("FLOTILLA_TEST_DOCKER_HOST must name a running dockerd socket (./dev test sets it)")
}

fn docker_cli(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
#[ignore = "needs a real dockerd: run through ./dev test"]
async fn engine_facts_match_what_the_engine_says() {
    let host = docker_host();
    let facts = agent::docker::Engine::new(&host).facts().await;
    let EngineFacts::Up {
        version,
        api_version,
        swarm,
    } = facts
    else {
        panic!("engine unreachable: {facts:?}");
    };
    assert_eq!(
        version,
        docker_cli(&host, &["version", "--format", "{{.Server.Version}}"])
    );
    assert_eq!(
        api_version,
        docker_cli(&host, &["version", "--format", "{{.Server.APIVersion}}"])
    );
    let state = docker_cli(&host, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(swarm.state.label(), state);
    if swarm.state == SwarmState::Inactive {
        assert_eq!(swarm.node_id, None);
    }
}

#[tokio::test]
#[ignore = "needs a real dockerd: run through ./dev test"]
async fn collected_facts_describe_this_machine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let machine_id = dir.path().join("machine-id");
    std::fs::write(&machine_id, "0123456789abcdef\n").expect("write");
    let firmware = dir.path().join("firmware-version");
    std::fs::write(&firmware, "fw-7.1\n").expect("write");
    let config = Config {
        panel: std::sync::Arc::new(
            agent::endpoint::Panels::parse("http://127.0.0.1:9", None).expect("valid URL"),
        ),
        enrolment_key: None,
        state_dir: dir.path().join("state"),
        docker_host: docker_host(),
        machine_id_file: machine_id,
        firmware_version_file: firmware,
        firmware_installer: None,
        disk_path: dir.path().to_path_buf(),
    };
    let engine = agent::docker::Engine::new(&config.docker_host)
        .facts()
        .await;
    let storage = agent::storage::facts(dir.path()).await;
    let facts = agent::facts::collect(&config, engine, storage).expect("facts");
    assert_eq!(facts.machine_id, "0123456789abcdef");
    assert_eq!(facts.firmware_version, "fw-7.1");
    assert_eq!(facts.hostname, agent::facts::hostname().expect("hostname"));
    assert!(facts.cpu_count >= 1);
    assert!(
        facts.memory_total_bytes > facts.memory_available_bytes && facts.memory_available_bytes > 0
    );
    assert!(facts.disk_total_bytes >= facts.disk_available_bytes && facts.disk_total_bytes > 0);
    assert!(facts.interfaces.iter().any(|i| i.name == "lo"));
    // The host itself has no volume disks (the lab's nodes do: checked by the browser tests).
    assert_eq!(
        facts.storage.fuse,
        std::path::Path::new("/dev/fuse").exists()
    );
    assert_eq!(facts.storage.bricks, None);
    assert!(
        matches!(facts.engine, EngineFacts::Up { .. }),
        "{:?}",
        facts.engine
    );
}

#[tokio::test]
#[ignore = "needs a real dockerd: run through ./dev test"]
async fn vip_health_requires_an_answering_engine_and_when_asked_an_active_swarm() {
    let host = docker_host();
    assert_eq!(agent::docker::vip_health(&host, false).await, Ok(()));
    let state = docker_cli(&host, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    let with_swarm = agent::docker::vip_health(&host, true).await;
    if state == "active" {
        assert_eq!(with_swarm, Ok(()));
    } else {
        assert_eq!(with_swarm, Err(format!("swarm state is {state}")));
    }
    assert!(
        agent::docker::vip_health("unix:///nonexistent.sock", false)
            .await
            .is_err()
    );
}

#[tokio::test]
#[ignore = "needs a real dockerd: run through ./dev test"]
async fn the_adapter_answers_with_typed_errors_and_idempotent_changes() {
    use agent::docker::{Engine, EngineError};
    let host = docker_host();
    let engine = Engine::new(&host);
    let state = docker_cli(&host, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    if state == "inactive" {
        // Not in a swarm: manager-only calls say so, and leaving or removing nothing is done.
        assert_eq!(engine.snapshot().await, Ok(None));
        assert_eq!(engine.leave(false).await, Ok(()));
        assert!(matches!(
            engine.remove_node("no-such-node").await,
            Err(EngineError::NotManager(_))
        ));
    }
    assert_eq!(
        engine.remove_network("flotilla-no-such-network").await,
        Ok(())
    );
    let gone = Engine::new("unix:///nonexistent.sock");
    let answer = gone.join_tokens(false).await;
    assert!(
        matches!(answer, Err(EngineError::Unavailable(_))),
        "{answer:?}"
    );
}

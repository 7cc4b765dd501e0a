use super::*;
use crate::workload::placement::{Attribute, Operator};

const FULL: &str = r#"version: "3.9"
x-defaults: &defaults
  restart_policy:
    condition: on-failure
    delay: 5s
services:
  web:
    image: registry.lab:5000/hello:1
    command: ["httpd", "-f", "-p", "8080"]
    environment:
      GREETING: hello
      PORT: 8080
    ports:
      - "80:8080"
      - target: 9000
        published: 9000
        protocol: udp
        mode: host
    volumes:
      - data:/var/lib/data:ro
      - /etc/localtime:/etc/localtime:ro
      - type: tmpfs
        target: /tmp
    networks: [front]
    secrets:
      - api_key
      - source: tls
        target: /etc/tls.pem
        mode: 0400
    configs: [settings]
    healthcheck:
      test: wget -qO- http://localhost:8080/ || exit 1
      interval: 10s
      retries: 3
    deploy:
      <<: *defaults
      mode: replicated
      replicas: 2
      placement:
        constraints:
          - node.labels.zone == hall-1
          - node.role != manager
        preferences:
          - spread: node.labels.rack
        max_replicas_per_node: 1
      update_config:
        parallelism: 1
        delay: 10s
        failure_action: rollback
        order: start-first
      resources:
        limits: {cpus: "0.5", memory: 128M}
    labels:
      - team=edge
  once:
    image: busybox
    command: sh -c 'echo done'
    deploy:
      mode: replicated-job
      replicas: 3
  agent:
    image: busybox
    deploy:
      mode: global
networks:
  front:
    driver: overlay
    attachable: true
volumes:
  data: {}
secrets:
  api_key: {}
  tls:
    external: true
configs:
  settings:
    content: |
      level = debug
"#;

fn errors(text: &str) -> Vec<(usize, String)> {
    parse(text)
        .expect_err("refused")
        .0
        .into_iter()
        .map(|e| (e.line, e.message))
        .collect()
}

fn refused_with(text: &str, line: usize, says: &str) {
    let all = errors(text);
    assert!(
        all.iter().any(|(l, m)| *l == line && m.contains(says)),
        "expected line {line}: {says:?}, got {all:?}"
    );
}

#[test]
fn a_full_swarm_compose_file_parses_into_types() {
    let c = parse(FULL).expect("parses");
    assert_eq!(
        c.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web", "once", "agent"]
    );
    let web = c.service("web").expect("web");
    assert_eq!(web.line, 7);
    assert_eq!(web.image, "registry.lab:5000/hello:1");
    assert_eq!(
        web.command.as_deref(),
        Some(&["httpd".to_string(), "-f".into(), "-p".into(), "8080".into()][..])
    );
    assert_eq!(
        web.environment,
        vec![
            ("GREETING".into(), "hello".into()),
            ("PORT".into(), "8080".into())
        ]
    );
    assert_eq!(
        web.ports,
        vec![
            Port {
                target: 8080,
                published: Some(80),
                protocol: Protocol::Tcp,
                mode: PublishMode::Ingress
            },
            Port {
                target: 9000,
                published: Some(9000),
                protocol: Protocol::Udp,
                mode: PublishMode::Host
            }
        ]
    );
    assert_eq!(web.mounts[0].kind, MountKind::Volume);
    assert!(web.mounts[0].read_only);
    assert_eq!(web.mounts[1].kind, MountKind::Bind);
    assert_eq!(web.mounts[2].kind, MountKind::Tmpfs);
    assert_eq!(web.networks, ["front"]);
    assert_eq!(web.secrets[1].mode, Some(0o400));
    assert_eq!(
        web.healthcheck.as_ref().map(|h| h.test[0].as_str()),
        Some("CMD-SHELL")
    );
    let d = &web.deploy;
    assert_eq!((d.mode, d.replicas), (ServiceMode::Replicated, Some(2)));
    assert_eq!(d.placement.constraints.len(), 2);
    assert_eq!(
        d.placement.constraints[0].attribute,
        Attribute::NodeLabel("zone".into())
    );
    assert_eq!(d.placement.constraints[1].operator, Operator::Differs);
    assert_eq!(
        d.placement.preferences[0].to_string(),
        "spread=node.labels.rack"
    );
    assert_eq!(d.placement.max_replicas_per_node, Some(1));
    assert_eq!(
        d.update.as_ref().and_then(|u| u.failure_action),
        Some(FailureAction::Rollback)
    );
    assert_eq!(d.resources.limit_nano_cpus, Some(500_000_000));
    assert_eq!(d.resources.limit_memory, Some(128 * 1024 * 1024));
    // Merged from the x-defaults anchor.
    assert_eq!(
        d.restart.as_ref().and_then(|r| r.condition),
        Some(RestartCondition::OnFailure)
    );
    let once = c.service("once").expect("once");
    assert_eq!(once.deploy.mode, ServiceMode::ReplicatedJob);
    assert_eq!(once.command.as_ref().map(Vec::len), Some(3));
    assert_eq!(
        c.service("agent").map(|a| a.deploy.mode),
        Some(ServiceMode::Global)
    );
    assert_eq!(
        c.app_secrets().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["api_key"]
    );
    assert_eq!(c.configs[0].content.as_deref(), Some("level = debug\n"));
}

#[test]
fn invalid_yaml_names_its_line() {
    refused_with("services:\n  web:\n    image: [busybox\n", 4, "");
    let all = errors("services:\n  web:\n    image: busybox\n   bad: indent\n");
    assert!(all[0].0 >= 3, "{all:?}");
}

#[test]
fn unsupported_keys_are_refused_by_name() {
    refused_with(
        "services:\n  web:\n    image: busybox\n    build: .\n",
        4,
        "`build` is not supported by Swarm",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    working_dir: /x\n",
        4,
        "`working_dir` is not supported by Flotilla yet",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    imagee: x\n",
        4,
        "`imagee` is not a key of service web",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    deploy:\n      endpoint_mode: round\n",
        5,
        "endpoint_mode is vip or dnsrr",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    ports: [\"80:80\"]\n    deploy:\n      endpoint_mode: dnsrr\n",
        2,
        "publish its ports with mode: host",
    );
}

#[test]
fn unknown_references_are_refused() {
    refused_with(
        "services:\n  web:\n    image: busybox\n    networks: [back]\n",
        2,
        "uses network back, which is not declared",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    secrets: [key]\n",
        2,
        "uses secret key, which is not declared",
    );
    refused_with(
        "services:\n  web:\n    image: busybox\n    volumes: [\"data:/d\"]\n",
        2,
        "uses volume data, which is not declared",
    );
    refused_with(
        "services:\n  a:\n    image: busybox\n    ports: [\"80:80\"]\n  b:\n    image: busybox\n    ports: [\"80:8080\"]\n",
        5,
        "services a and b both publish port 80",
    );
}

#[test]
fn bad_values_are_refused_where_they_are() {
    for (text, line, says) in [
        ("services:\n  web:\n    command: x\n", 2, "needs an `image`"),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      mode: daemon\n",
            5,
            "mode is replicated, global",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      mode: global\n      replicas: 2\n",
            6,
            "replicas does not apply to global",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      mode: global-job\n      update_config: {parallelism: 1}\n",
            6,
            "update_config does not apply to jobs",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      placement:\n        constraints: [\"node.colour == red\"]\n",
            6,
            "not something Swarm can place by",
        ),
        (
            "services:\n  web:\n    image: busybox\n    ports: [\"99999:80\"]\n",
            4,
            "not a port",
        ),
        (
            "services:\n  web:\n    image: busybox\n    volumes: [\"./data:/d\"]\n",
            4,
            "relative to a folder",
        ),
        (
            "services:\n  web:\n    image: busybox\n    environment: [FOO]\n",
            4,
            "needs a value",
        ),
        (
            "services:\n  web:\n    image: busybox\n    healthcheck:\n      test: [BOGUS]\n",
            5,
            "CMD, CMD-SHELL or NONE",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      update_config:\n        delay: soon\n",
            6,
            "not a duration",
        ),
        (
            "services:\n  Bad Name:\n    image: busybox\n",
            2,
            "letters, digits",
        ),
        ("services: {}\n", 1, "declares no services"),
        ("", 1, "declares no services"),
        (
            "name: demo\nservices:\n  a:\n    image: busybox\n",
            1,
            "`name` is not used",
        ),
    ] {
        refused_with(text, line, says);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let all = errors(
        "services:\n  a:\n    image: busybox\n    build: .\n  b:\n    image: busybox\n    links: [a]\n",
    );
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!((all[0].0, all[1].0), (4, 7));
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let big = "#".repeat(MAX_COMPOSE_BYTES + 1);
    refused_with(&big, 1, "larger than");
}

#[test]
fn services_using_an_external_secret_are_found_by_its_name() {
    let c = parse(
        "services:
  web:
    image: a
    secrets: [db, token]
  worker:
    image: a
    secrets:
      - source: db
        target: /run/secrets/password
  plain:
    image: a
secrets:
  db:
    external: true
  token: {}
",
    )
    .expect("parses");
    assert_eq!(c.services_using_external_secret("db"), ["web", "worker"]);
    // The app's own secret is not a Global Secret.
    assert!(c.services_using_external_secret("token").is_empty());
    assert!(c.services_using_external_secret("other").is_empty());
}

#[test]
fn a_cluster_volume_has_one_writer_unless_the_app_says_otherwise() {
    let ok = parse(
        "services:\n  db:\n    image: busybox\n    volumes: [\"data:/d\"]\n  web:\n    image: busybox\nvolumes:\n  data:\n    driver: flotilla-cluster\n",
    )
    .expect("parses");
    let names: Vec<&str> = ok
        .cluster_volumes()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["data"]);
    assert!(ok.services[0].mounts_volume("data") && !ok.services[1].mounts_volume("data"));
    refused_with(
        "services:\n  db:\n    image: busybox\n    volumes: [\"data:/d\"]\n    deploy:\n      replicas: 2\nvolumes:\n  data:\n    driver: flotilla-cluster\n",
        2,
        "mounts cluster volume data: it runs one task",
    );
    refused_with(
        "services:\n  db:\n    image: busybox\n    volumes: [\"data:/d\"]\n    deploy:\n      mode: global\nvolumes:\n  data:\n    driver: flotilla-cluster\n",
        2,
        "io.flotilla.multi-writer=true",
    );
    let many = parse(
        "services:\n  db:\n    image: busybox\n    volumes: [\"data:/d\"]\n    deploy:\n      mode: global\n      labels:\n        io.flotilla.multi-writer: \"true\"\nvolumes:\n  data:\n    driver: flotilla-cluster\n",
    )
    .expect("a multi-writer app may run several tasks");
    assert!(many.services[0].multi_writer());
    refused_with(
        "services:\n  db:\n    image: busybox\nvolumes:\n  data:\n    driver: flotilla-cluster\n    external: true\n",
        6,
        "cluster volume data is the app's own directory",
    );
}

//! What the panel sends a manager's agent to deploy: an app's stack objects (networks, secrets,
//! configs it owns) and one [`ServiceSpec`] per service, with every name already resolved to its
//! Swarm name (`<stack>_<name>`). Docker-independent: the agent's adapter maps it to the Engine
//! API, the review step of the install wizard shows it as it is.
use serde::{Deserialize, Serialize};

use super::compose::{
    Compose, EndpointMode, FileRef, Healthcheck, Mount, MountKind, Port, Resources, RestartPolicy,
    ServiceMode, UpdateOrder, UpdatePolicy,
};

/// Groups everything of one installed app, as `docker stack deploy` does (so `docker stack ls`
/// and `docker stack ps` show Flotilla's workloads too).
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// Where images without a registry in their name come from (credentials for it use this name).
pub const DOCKER_HUB: &str = "docker.io";
/// The library version a service was deployed from.
pub const VERSION_LABEL: &str = "io.flotilla.version";
/// Marks the Swarm secret of a Global Secret's version with the secret's name: such objects
/// belong to the cluster, not to a stack, and go once no service uses them.
pub const GLOBAL_SECRET_LABEL: &str = "io.flotilla.global-secret";

/// An app's own networks, secrets and configs: created before its services, removed after them.
/// With them the versions of the cluster's Global Secrets that its services use: created when
/// missing, labelled [`GLOBAL_SECRET_LABEL`], never removed with the stack.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackObjects {
    pub stack: String,
    pub networks: Vec<StackNetwork>,
    pub secrets: Vec<StackObject>,
    pub configs: Vec<StackObject>,
    #[serde(default)]
    pub global_secrets: Vec<GlobalSecretObject>,
    /// The app's cluster volumes: directories (relative to the volumes mount) to create before
    /// its services start.
    #[serde(default)]
    pub volume_dirs: Vec<String>,
}

impl std::fmt::Debug for StackObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackObjects")
            .field("stack", &self.stack)
            .field("networks", &self.networks)
            .field("secrets", &self.secrets.len())
            .field("configs", &self.configs.len())
            .field(
                "global_secrets",
                &self
                    .global_secrets
                    .iter()
                    .map(|g| &g.object)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackNetwork {
    pub name: String,
    pub attachable: bool,
    pub internal: bool,
}

/// A secret or config with its content (secrets are sent over the agent's TLS link only).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackObject {
    pub name: String,
    pub data: String,
}

/// One version of a Global Secret as the Swarm secret that carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalSecretObject {
    /// The Global Secret's name (the object's label).
    pub secret: String,
    /// `name_vN`.
    pub object: String,
    pub data: String,
}

/// The current version and value of one of the cluster's Global Secrets, for [`build`].
#[derive(Clone, PartialEq, Eq)]
pub struct GlobalSecret {
    pub name: String,
    pub version: u64,
    pub value: String,
}

impl std::fmt::Debug for GlobalSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalSecret")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Credentials for one registry, sent with a service so that every node can pull its image.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One Swarm service, complete: creating it or updating an existing one to it is the same command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Swarm name: `<stack>_<service>`.
    pub name: String,
    pub stack: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    /// Service labels (`deploy.labels`, the stack and version labels).
    pub labels: Vec<(String, String)>,
    /// Container labels (the service's `labels`).
    pub container_labels: Vec<(String, String)>,
    pub mode: ServiceMode,
    /// Replicas (or completions, for a replicated job); `None` for global modes.
    pub replicas: Option<u64>,
    /// Docker's constraint expressions, e.g. `node.labels.zone == a`.
    pub constraints: Vec<String>,
    /// Spread preferences: the attribute each spreads over, e.g. `node.labels.zone`.
    pub spread: Vec<String>,
    pub max_replicas_per_node: Option<u64>,
    pub endpoint_mode: EndpointMode,
    pub ports: Vec<Port>,
    /// Volume sources carry their Swarm name; bind sources their host path.
    pub mounts: Vec<Mount>,
    /// Swarm network names.
    pub networks: Vec<String>,
    /// Swarm secret names, each with its target path.
    pub secrets: Vec<FileRef>,
    pub configs: Vec<FileRef>,
    pub update: Option<UpdatePolicy>,
    pub rollback: Option<UpdatePolicy>,
    pub resources: Resources,
    pub restart: Option<RestartPolicy>,
    pub healthcheck: Option<Healthcheck>,
    /// Sent as the registry-auth header; never stored in the service's spec by Swarm.
    pub registry_auth: Option<RegistryAuth>,
}

/// The Swarm name of an app's object `name`.
pub fn scoped(stack: &str, name: &str) -> String {
    format!("{stack}_{name}")
}

/// The registry an image is pulled from (Docker's rule: the first path component is a registry
/// when it has a `.` or `:`, or is `localhost`); `None` for Docker Hub.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost"))
        .then_some(first)
}

/// What the operator chose for one service in the install wizard (defaults: the compose file's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChoice {
    pub mode: Option<ServiceMode>,
    pub replicas: Option<u64>,
    /// Constraints as Docker writes them (parsed before they get here).
    pub constraints: Option<Vec<String>>,
    pub spread: Option<Vec<String>>,
    pub ports: Option<Vec<Port>>,
}

/// Builds the stack objects and service specs of `compose` installed as `stack`, with the
/// operator's `choices` per service and the app secrets' values. Names in the file become Swarm
/// names; external objects keep their own name, except an external secret that names one of
/// the cluster's Global Secrets (`globals`): the service gets its current version's object
/// (`name_vN`), still at `/run/secrets/<name>` unless the file says where. The app's default
/// network is `<stack>_default`.
pub fn build(
    stack: &str,
    version: &str,
    compose: &Compose,
    choices: &[(String, ServiceChoice)],
    secret_values: &[(String, String)],
    globals: &[GlobalSecret],
) -> (StackObjects, Vec<ServiceSpec>) {
    let network_name = |n: &str| match compose.networks.iter().find(|d| d.name == n) {
        Some(d) if d.external => n.to_owned(),
        _ => scoped(stack, n),
    };
    let uses_default = compose.services.iter().any(|s| s.networks.is_empty());
    let mut networks: Vec<StackNetwork> = compose
        .networks
        .iter()
        .filter(|n| !n.external)
        .map(|n| StackNetwork {
            name: scoped(stack, &n.name),
            attachable: n.attachable,
            internal: n.internal,
        })
        .collect();
    if uses_default && !compose.networks.iter().any(|n| n.name == "default") {
        networks.push(StackNetwork {
            name: scoped(stack, "default"),
            attachable: false,
            internal: false,
        });
    }
    let object_name =
        |decls: &[super::compose::ObjectDecl], n: &str| match decls.iter().find(|d| d.name == n) {
            Some(d) if d.external => n.to_owned(),
            _ => scoped(stack, n),
        };
    // The Global Secret an external secret of the file stands for.
    let global_of = |n: &str| {
        compose
            .secrets
            .iter()
            .any(|d| d.external && d.name == n)
            .then(|| globals.iter().find(|g| g.name == n))
            .flatten()
    };
    let secret_name = |n: &str| match global_of(n) {
        Some(g) => crate::config::secrets::object_name(&g.name, g.version),
        None => object_name(&compose.secrets, n),
    };
    let mut global_secrets: Vec<GlobalSecretObject> = compose
        .services
        .iter()
        .flat_map(|s| &s.secrets)
        .filter_map(|r| global_of(&r.source))
        .map(|g| GlobalSecretObject {
            secret: g.name.clone(),
            object: crate::config::secrets::object_name(&g.name, g.version),
            data: g.value.clone(),
        })
        .collect();
    global_secrets.sort_by(|a, b| a.object.cmp(&b.object));
    global_secrets.dedup_by(|a, b| a.object == b.object);
    let objects = StackObjects {
        stack: stack.to_owned(),
        networks,
        secrets: compose
            .app_secrets()
            .map(|d| StackObject {
                name: scoped(stack, &d.name),
                data: secret_values
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        configs: compose
            .configs
            .iter()
            .filter(|d| !d.external)
            .map(|d| StackObject {
                name: scoped(stack, &d.name),
                data: d.content.clone().unwrap_or_default(),
            })
            .collect(),
        global_secrets,
        volume_dirs: compose
            .cluster_volumes()
            .iter()
            .map(|d| crate::storage::volume_subdir(stack, &d.name))
            .collect(),
    };
    let services = compose
        .services
        .iter()
        .map(|s| {
            let choice = choices
                .iter()
                .find(|(n, _)| *n == s.name)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let mode = choice.mode.unwrap_or(s.deploy.mode);
            // A single writer on cluster volumes: one task, the old one stopped before the new
            // one starts, restarted a second after it fails (docs/volumes.md).
            let one_writer = compose.single_writer(s);
            let replicas = mode.has_replicas().then(|| {
                if one_writer {
                    1
                } else {
                    choice.replicas.or(s.deploy.replicas).unwrap_or(1)
                }
            });
            let mut labels = s.deploy.labels.clone();
            labels.push((STACK_LABEL.into(), stack.into()));
            labels.push((VERSION_LABEL.into(), version.into()));
            let file_ref = |source: String, r: &FileRef, dir: &str| FileRef {
                source,
                target: Some(
                    r.target
                        .clone()
                        .unwrap_or_else(|| format!("{dir}{}", r.source)),
                ),
                mode: r.mode,
            };
            ServiceSpec {
                name: scoped(stack, &s.name),
                stack: stack.to_owned(),
                image: s.image.clone(),
                command: s.command.clone(),
                entrypoint: s.entrypoint.clone(),
                environment: s.environment.clone(),
                labels,
                container_labels: s.labels.clone(),
                mode,
                replicas,
                constraints: choice.constraints.unwrap_or_else(|| {
                    s.deploy
                        .placement
                        .constraints
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                }),
                spread: choice.spread.unwrap_or_else(|| {
                    s.deploy
                        .placement
                        .preferences
                        .iter()
                        .map(|p| p.0.to_string())
                        .collect()
                }),
                max_replicas_per_node: s.deploy.placement.max_replicas_per_node,
                endpoint_mode: s.deploy.endpoint_mode,
                ports: choice.ports.unwrap_or_else(|| s.ports.clone()),
                mounts: with_global_config(
                    s.mounts
                        .iter()
                        .map(|m| match (m.kind, &m.source) {
                            (MountKind::Volume, Some(v)) => {
                                match compose.volumes.iter().find(|d| d.name == *v) {
                                    Some(d) if d.is_cluster() => Mount {
                                        kind: MountKind::Bind,
                                        source: Some(crate::storage::volume_dir(stack, v)),
                                        ..m.clone()
                                    },
                                    Some(d) if d.external => m.clone(),
                                    _ => Mount {
                                        source: Some(scoped(stack, v)),
                                        ..m.clone()
                                    },
                                }
                            }
                            _ => m.clone(),
                        })
                        .collect(),
                ),
                networks: if s.networks.is_empty() {
                    vec![scoped(stack, "default")]
                } else {
                    s.networks.iter().map(|n| network_name(n)).collect()
                },
                secrets: s
                    .secrets
                    .iter()
                    .map(|r| file_ref(secret_name(&r.source), r, "/run/secrets/"))
                    .collect(),
                configs: s
                    .configs
                    .iter()
                    .map(|r| file_ref(object_name(&compose.configs, &r.source), r, "/"))
                    .collect(),
                update: if one_writer {
                    Some(UpdatePolicy {
                        order: Some(UpdateOrder::StopFirst),
                        ..s.deploy.update.clone().unwrap_or_default()
                    })
                } else {
                    s.deploy.update.clone()
                },
                rollback: s.deploy.rollback.clone(),
                resources: s.deploy.resources.clone(),
                restart: if one_writer {
                    let r = s.deploy.restart.clone().unwrap_or_default();
                    Some(RestartPolicy {
                        delay_ns: r.delay_ns.or(Some(1_000_000_000)),
                        ..r
                    })
                } else {
                    s.deploy.restart.clone()
                },
                healthcheck: s.healthcheck.clone(),
                registry_auth: None,
            }
        })
        .collect();
    (objects, services)
}

/// Every service of an app sees the cluster's Global Config at `/appconfig` (read-only, the
/// node's own copy), unless it mounts something else there.
fn with_global_config(mut mounts: Vec<Mount>) -> Vec<Mount> {
    use crate::config::global::{MOUNT_TARGET, VOLUME};
    if !mounts
        .iter()
        .any(|m| m.target.trim_end_matches('/') == MOUNT_TARGET)
    {
        mounts.push(Mount {
            kind: MountKind::Volume,
            source: Some(VOLUME.into()),
            target: MOUNT_TARGET.into(),
            read_only: true,
        });
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::compose::parse;

    const FILE: &str = "services:
  web:
    image: registry.lab:5000/flotilla/hello:1
    ports: [\"8080:80\"]
    secrets: [token]
    volumes: [\"data:/data\"]
    deploy:
      replicas: 2
      placement:
        constraints: [node.labels.zone == a]
        preferences:
          - spread: node.labels.rack
  once:
    image: busybox
    networks: [shared, back]
    deploy:
      mode: global-job
networks:
  back: {}
  shared:
    external: true
volumes:
  data: {}
secrets:
  token: {}
";

    #[test]
    fn a_cluster_volume_is_a_bind_mount_of_its_directory_with_one_writer() {
        let compose = parse(
            "services:\n  db:\n    image: busybox\n    volumes: [\"data:/var/lib/db\", \"cache:/c\"]\n    deploy:\n      update_config:\n        parallelism: 1\n  web:\n    image: busybox\n    volumes: [\"data:/srv:ro\"]\n    deploy:\n      replicas: 3\n      labels:\n        io.flotilla.multi-writer: \"true\"\nvolumes:\n  data:\n    driver: flotilla-cluster\n  cache: {}\n",
        )
        .expect("parses");
        let choice = ServiceChoice {
            replicas: Some(4),
            ..Default::default()
        };
        let (objects, services) = build(
            "shop",
            "1.0.0",
            &compose,
            &[("db".into(), choice)],
            &[],
            &[],
        );
        assert_eq!(objects.volume_dirs, ["shop/data"]);
        let db = &services[0];
        assert_eq!(
            (db.mounts[0].kind, db.mounts[0].source.as_deref()),
            (MountKind::Bind, Some("/var/lib/flotilla/volumes/shop/data"))
        );
        assert_eq!(db.mounts[1].source.as_deref(), Some("shop_cache"));
        assert_eq!(db.replicas, Some(1), "one writer, whatever was chosen");
        let update = db.update.as_ref().expect("update policy");
        assert_eq!(
            (update.order, update.parallelism),
            (Some(UpdateOrder::StopFirst), Some(1))
        );
        let restart = db.restart.as_ref().expect("restart policy");
        assert_eq!(restart.delay_ns, Some(1_000_000_000));
        // An app that says it is safe with several writers keeps its replicas and policies.
        let web = &services[1];
        assert_eq!(web.replicas, Some(3));
        assert_eq!(web.update, None);
        assert!(web.mounts[0].read_only);
    }

    #[test]
    fn names_are_scoped_and_choices_win() {
        let compose = parse(FILE).expect("parses");
        let choice = ServiceChoice {
            replicas: Some(3),
            ..Default::default()
        };
        let (objects, services) = build(
            "shop",
            "1.0.0",
            &compose,
            &[("web".into(), choice)],
            &[("token".into(), "s3cret".into())],
            &[],
        );
        let names: Vec<&str> = objects.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["shop_back", "shop_default"]);
        assert_eq!(objects.secrets[0].name, "shop_token");
        assert_eq!(objects.secrets[0].data, "s3cret");
        assert!(!format!("{objects:?}").contains("s3cret"));

        let web = &services[0];
        assert_eq!(web.name, "shop_web");
        assert_eq!(web.replicas, Some(3));
        assert_eq!(web.constraints, ["node.labels.zone == a"]);
        assert_eq!(web.spread, ["node.labels.rack"]);
        assert_eq!(web.networks, ["shop_default"]);
        assert_eq!(web.secrets[0].source, "shop_token");
        assert_eq!(web.secrets[0].target.as_deref(), Some("/run/secrets/token"));
        assert_eq!(web.mounts[0].source.as_deref(), Some("shop_data"));
        let appconfig = web.mounts.last().expect("global config mount");
        assert_eq!(
            (
                appconfig.source.as_deref(),
                appconfig.target.as_str(),
                appconfig.read_only
            ),
            (Some("flotilla-appconfig"), "/appconfig", true)
        );
        assert!(web.labels.contains(&(STACK_LABEL.into(), "shop".into())));

        let once = &services[1];
        assert_eq!(once.mode, ServiceMode::GlobalJob);
        assert_eq!(once.replicas, None);
        assert_eq!(once.networks, ["shared", "shop_back"]);
    }

    #[test]
    fn an_external_secret_named_like_a_global_secret_gets_its_current_version() {
        let compose = parse(
            "services:
  web:
    image: busybox
    secrets:
      - API_KEY
      - outside
      - source: API_KEY
        target: /etc/key
secrets:
  API_KEY:
    external: true
  outside:
    external: true
",
        )
        .expect("parses");
        let globals = [
            GlobalSecret {
                name: "API_KEY".into(),
                version: 3,
                value: "k3y".into(),
            },
            GlobalSecret {
                name: "UNUSED".into(),
                version: 1,
                value: "x".into(),
            },
        ];
        let (objects, services) = build("shop", "1", &compose, &[], &[], &globals);
        let refs: Vec<(&str, Option<&str>)> = services[0]
            .secrets
            .iter()
            .map(|r| (r.source.as_str(), r.target.as_deref()))
            .collect();
        assert_eq!(
            refs,
            [
                ("API_KEY_v3", Some("/run/secrets/API_KEY")),
                ("outside", Some("/run/secrets/outside")),
                ("API_KEY_v3", Some("/etc/key")),
            ]
        );
        // Only what the services use, once; never printed with its value.
        let objects_of: Vec<(&str, &str, &str)> = objects
            .global_secrets
            .iter()
            .map(|g| (g.secret.as_str(), g.object.as_str(), g.data.as_str()))
            .collect();
        assert_eq!(objects_of, [("API_KEY", "API_KEY_v3", "k3y")]);
        assert!(objects.secrets.is_empty());
        assert!(!format!("{objects:?} {globals:?}").contains("k3y"));
    }

    #[test]
    fn registries_follow_dockers_rule() {
        assert_eq!(
            registry_of("registry.lab:5000/flotilla/hello:1"),
            Some("registry.lab:5000")
        );
        assert_eq!(registry_of("localhost/x"), Some("localhost"));
        assert_eq!(registry_of("10.77.0.1:5000/x"), Some("10.77.0.1:5000"));
        assert_eq!(registry_of("library/busybox"), None);
        assert_eq!(registry_of("busybox"), None);
    }
}

//! The Swarm subset of Compose v3, parsed into types: what an app version declares. One parser,
//! used by the library (a version is refused unless it parses), the install wizard in the browser
//! and the server. Errors carry the line they are on; keys Swarm or Flotilla do not honour are
//! refused by name, never dropped.
mod read;
mod service;

use serde::{Deserialize, Serialize};

use super::placement::{Constraint, Spread};
use super::yaml::{self, Node, YamlError};
use read::Cx;

/// The largest compose file the panel takes.
pub const MAX_COMPOSE_BYTES: usize = 256 * 1024;
/// The most services, networks, volumes, secrets or configs one app may declare (each).
pub const MAX_OBJECTS: usize = 100;
/// The longest service or object name (the stack name and `_` come in front of it).
pub const MAX_NAME: usize = 40;

/// A compose file that parsed: everything an app version declares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compose {
    pub services: Vec<Service>,
    pub networks: Vec<NetworkDecl>,
    pub volumes: Vec<VolumeDecl>,
    pub secrets: Vec<ObjectDecl>,
    pub configs: Vec<ObjectDecl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub line: usize,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    /// Networks by their name in the file; empty means the app's default network.
    pub networks: Vec<String>,
    pub secrets: Vec<FileRef>,
    pub configs: Vec<FileRef>,
    pub deploy: Deploy,
    pub healthcheck: Option<Healthcheck>,
    pub labels: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceMode {
    #[default]
    Replicated,
    Global,
    ReplicatedJob,
    GlobalJob,
}

impl ServiceMode {
    pub const ALL: [ServiceMode; 4] = [
        ServiceMode::Replicated,
        ServiceMode::Global,
        ServiceMode::ReplicatedJob,
        ServiceMode::GlobalJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceMode::Replicated => "replicated",
            ServiceMode::Global => "global",
            ServiceMode::ReplicatedJob => "replicated-job",
            ServiceMode::GlobalJob => "global-job",
        }
    }

    pub fn parse(text: &str) -> Option<ServiceMode> {
        ServiceMode::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the mode takes a replica count (for jobs: the completions wanted).
    pub fn has_replicas(self) -> bool {
        matches!(self, ServiceMode::Replicated | ServiceMode::ReplicatedJob)
    }

    pub fn is_job(self) -> bool {
        matches!(self, ServiceMode::ReplicatedJob | ServiceMode::GlobalJob)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub mode: ServiceMode,
    /// Replicas (jobs: completions); `None` means Swarm's default of one.
    pub replicas: Option<u64>,
    pub placement: Placement,
    pub update: Option<UpdatePolicy>,
    pub rollback: Option<UpdatePolicy>,
    pub resources: Resources,
    pub restart: Option<RestartPolicy>,
    pub labels: Vec<(String, String)>,
    /// How clients reach the tasks: a virtual IP (default, needs IPVS on the nodes) or DNS
    /// round-robin (works without IPVS; no ingress-published ports).
    #[serde(default)]
    pub endpoint_mode: EndpointMode,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    #[default]
    Vip,
    Dnsrr,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub constraints: Vec<Constraint>,
    pub preferences: Vec<Spread>,
    pub max_replicas_per_node: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureAction {
    Continue,
    Pause,
    Rollback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    StopFirst,
    StartFirst,
}

/// How an update (or a rollback) proceeds; unset fields take Swarm's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdatePolicy {
    pub parallelism: Option<u64>,
    pub delay_ns: Option<u64>,
    pub failure_action: Option<FailureAction>,
    pub monitor_ns: Option<u64>,
    pub max_failure_ratio: Option<f32>,
    pub order: Option<UpdateOrder>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub limit_nano_cpus: Option<u64>,
    pub limit_memory: Option<u64>,
    pub limit_pids: Option<u64>,
    pub reserve_nano_cpus: Option<u64>,
    pub reserve_memory: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    None,
    OnFailure,
    Any,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub condition: Option<RestartCondition>,
    pub delay_ns: Option<u64>,
    pub max_attempts: Option<u64>,
    pub window_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval_ns: Option<u64>,
    pub timeout_ns: Option<u64>,
    pub retries: Option<u64>,
    pub start_period_ns: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// Ingress publishes on every node through the routing mesh; host publishes on the node that
/// runs the task only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    Ingress,
    Host,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub target: u16,
    pub published: Option<u16>,
    pub protocol: Protocol,
    pub mode: PublishMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// The volume's name in the file, or the host path; none for anonymous volumes and tmpfs.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

/// A service's use of a secret or config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub source: String,
    /// Path inside the container (default `/run/secrets/<source>` or `/<source>`).
    pub target: Option<String>,
    pub mode: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDecl {
    pub name: String,
    /// Created outside the app (must exist on the cluster).
    pub external: bool,
    pub attachable: bool,
    pub internal: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeDecl {
    pub name: String,
    pub external: bool,
    pub driver: Option<String>,
    pub driver_opts: Vec<(String, String)>,
}

impl VolumeDecl {
    /// A cluster volume (`driver: flotilla-cluster`): a directory of the cluster's replicated
    /// volume, the same on every node.
    pub fn is_cluster(&self) -> bool {
        self.driver.as_deref() == Some(crate::storage::CLUSTER_VOLUME_DRIVER)
    }
}

impl Compose {
    /// The cluster volumes the app's services mount.
    pub fn cluster_volumes(&self) -> Vec<&VolumeDecl> {
        self.volumes
            .iter()
            .filter(|d| d.is_cluster())
            .filter(|d| self.services.iter().any(|s| s.mounts_volume(&d.name)))
            .collect()
    }
}

impl Compose {
    /// The service keeps data on a cluster volume and runs as its one writer: one task, updated
    /// stop-first (it did not declare itself safe with several writers).
    pub fn single_writer(&self, s: &Service) -> bool {
        !s.multi_writer()
            && self
                .volumes
                .iter()
                .any(|d| d.is_cluster() && s.mounts_volume(&d.name))
    }
}

impl Service {
    /// The service mounts the named volume of the file.
    pub fn mounts_volume(&self, name: &str) -> bool {
        self.mounts
            .iter()
            .any(|m| m.kind == MountKind::Volume && m.source.as_deref() == Some(name))
    }

    /// The app says this service is safe with several writers on its cluster volumes.
    pub fn multi_writer(&self) -> bool {
        self.deploy
            .labels
            .iter()
            .any(|(k, v)| k == crate::storage::MULTI_WRITER_LABEL && v == "true")
    }
}

/// A secret or config the app declares: external (it must exist on the cluster) or the app's
/// own, whose content is inline (configs) or given when installing (secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDecl {
    pub name: String,
    pub external: bool,
    /// A config's inline `content`.
    pub content: Option<String>,
}

impl Compose {
    /// The secrets whose value the installer asks for.
    pub fn app_secrets(&self) -> impl Iterator<Item = &ObjectDecl> {
        self.secrets.iter().filter(|s| !s.external)
    }

    /// The services (names in the file) that use the secret `name` declared `external: true`:
    /// a Global Secret of the cluster it runs on.
    pub fn services_using_external_secret(&self, name: &str) -> Vec<&str> {
        if !self.secrets.iter().any(|d| d.external && d.name == name) {
            return vec![];
        }
        self.services
            .iter()
            .filter(|s| s.secrets.iter().any(|r| r.source == name))
            .map(|s| s.name.as_str())
            .collect()
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Every problem found in a compose file, in line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeErrors(pub Vec<YamlError>);

impl std::fmt::Display for ComposeErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&texts.join("; "))
    }
}

/// Parses a compose file into what Swarm will run, or every problem with its line.
pub fn parse(text: &str) -> Result<Compose, ComposeErrors> {
    if text.len() > MAX_COMPOSE_BYTES {
        return Err(ComposeErrors(vec![YamlError {
            line: 1,
            message: format!("the file is larger than {} KiB", MAX_COMPOSE_BYTES / 1024),
        }]));
    }
    let root = yaml::parse(text).map_err(|e| ComposeErrors(vec![e]))?;
    let mut cx = Cx { errors: vec![] };
    let compose = top(&mut cx, &root);
    cx.errors.sort_by_key(|e| e.line);
    match compose {
        Some(c) if cx.errors.is_empty() => Ok(c),
        _ => {
            if cx.errors.is_empty() {
                cx.errors.push(root.error("the file declares no services"));
            }
            Err(ComposeErrors(cx.errors))
        }
    }
}

/// A name Swarm accepts once the stack name is put in front of it.
fn object_name(cx: &mut Cx, key: &Node, what: &str) -> Option<String> {
    let name = cx.name(key, what, MAX_NAME)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return cx.fail(
            key,
            format!("{what} {name:?} may use letters, digits, '-', '_' and '.' only"),
        );
    }
    Some(name)
}

fn top(cx: &mut Cx, root: &Node) -> Option<Compose> {
    let fields = cx.fields(
        root,
        "the compose file",
        &[
            "version", "services", "networks", "volumes", "secrets", "configs", "name",
        ],
    )?;
    let mut compose = Compose {
        services: vec![],
        networks: vec![],
        volumes: vec![],
        secrets: vec![],
        configs: vec![],
    };
    let mut services_node = None;
    for (key, node) in fields {
        match key {
            "version" => {}
            "name" => {
                cx.fail::<()>(
                    node,
                    "`name` is not used: the app's name comes from the library",
                );
            }
            "services" => services_node = Some(node),
            "networks" => compose.networks = declarations(cx, node, "networks", network),
            "volumes" => compose.volumes = declarations(cx, node, "volumes", volume),
            "secrets" => compose.secrets = declarations(cx, node, "secrets", secret),
            "configs" => compose.configs = declarations(cx, node, "configs", config),
            _ => {}
        }
    }
    let services_node = services_node?;
    let entries = cx.named(services_node, "services");
    if entries.len() > MAX_OBJECTS {
        return cx.fail(services_node, format!("at most {MAX_OBJECTS} services"));
    }
    for (key, node) in entries {
        let Some(name) = object_name(cx, key, "a service name") else {
            continue;
        };
        if let Some(s) = service::parse(cx, &name, key.line, node) {
            compose.services.push(s);
        }
    }
    if compose.services.is_empty() {
        if cx.errors.is_empty() {
            cx.fail::<()>(services_node, "the file declares no services");
        }
        return None;
    }
    references(cx, &compose);
    Some(compose)
}

fn declarations<T>(
    cx: &mut Cx,
    node: &Node,
    what: &str,
    each: fn(&mut Cx, String, &Node) -> Option<T>,
) -> Vec<T> {
    let entries = cx.named(node, what);
    if entries.len() > MAX_OBJECTS {
        cx.fail::<()>(node, format!("at most {MAX_OBJECTS} {what}"));
        return vec![];
    }
    entries
        .into_iter()
        .filter_map(|(key, value)| {
            let name = object_name(cx, key, &format!("a name in {what}"))?;
            each(cx, name, value)
        })
        .collect()
}

fn external(cx: &mut Cx, node: &Node) -> Option<bool> {
    cx.flag(node, "external")
}

fn network(cx: &mut Cx, name: String, node: &Node) -> Option<NetworkDecl> {
    let mut decl = NetworkDecl {
        name,
        external: false,
        attachable: false,
        internal: false,
    };
    for (key, value) in cx.fields(
        node,
        "a network",
        &["driver", "external", "attachable", "internal", "labels"],
    )? {
        match key {
            "driver" => {
                let driver = cx.text(value, "driver")?;
                if driver != "overlay" {
                    cx.fail::<()>(
                        value,
                        format!("a Swarm network uses the overlay driver, not {driver:?}"),
                    );
                }
            }
            "external" => decl.external = external(cx, value)?,
            "attachable" => decl.attachable = cx.flag(value, "attachable")?,
            "internal" => decl.internal = cx.flag(value, "internal")?,
            _ => {
                cx.pairs(value, "labels");
            }
        }
    }
    Some(decl)
}

fn volume(cx: &mut Cx, name: String, node: &Node) -> Option<VolumeDecl> {
    let mut decl = VolumeDecl {
        name,
        external: false,
        driver: None,
        driver_opts: vec![],
    };
    for (key, value) in cx.fields(
        node,
        "a volume",
        &["driver", "driver_opts", "external", "labels"],
    )? {
        match key {
            "driver" => decl.driver = Some(cx.name(value, "driver", 128)?),
            "driver_opts" => decl.driver_opts = cx.pairs(value, "driver_opts")?,
            "external" => decl.external = external(cx, value)?,
            _ => {
                cx.pairs(value, "labels");
            }
        }
    }
    if decl.is_cluster() && (decl.external || !decl.driver_opts.is_empty()) {
        cx.fail::<()>(
            node,
            format!(
                "cluster volume {} is the app's own directory: no external or driver_opts",
                decl.name
            ),
        );
    }
    Some(decl)
}

fn secret(cx: &mut Cx, name: String, node: &Node) -> Option<ObjectDecl> {
    let mut decl = ObjectDecl {
        name,
        external: false,
        content: None,
    };
    for (key, value) in cx.fields(
        node,
        "a secret",
        &["external", "labels", "file", "environment"],
    )? {
        match key {
            "external" => decl.external = external(cx, value)?,
            "file" | "environment" => {
                cx.fail::<()>(
                    value,
                    format!("`{key}` is not used: the installer asks for the secret's value"),
                );
            }
            _ => {
                cx.pairs(value, "labels");
            }
        }
    }
    Some(decl)
}

fn config(cx: &mut Cx, name: String, node: &Node) -> Option<ObjectDecl> {
    let mut decl = ObjectDecl {
        name,
        external: false,
        content: None,
    };
    for (key, value) in cx.fields(node, "a config", &["external", "labels", "content", "file"])? {
        match key {
            "external" => decl.external = external(cx, value)?,
            "content" => decl.content = Some(cx.text(value, "content")?),
            "file" => {
                cx.fail::<()>(
                    value,
                    "`file` is not available to the panel: write the config inline with `content`",
                );
            }
            _ => {
                cx.pairs(value, "labels");
            }
        }
    }
    if !decl.external && decl.content.is_none() {
        return cx.fail(
            node,
            format!("config {} needs `content` or `external: true`", decl.name),
        );
    }
    Some(decl)
}

/// Every network, volume, secret and config a service uses is declared; no two services publish
/// the same port through the routing mesh.
fn references(cx: &mut Cx, compose: &Compose) {
    let mut published: Vec<(u16, Protocol, &str)> = Vec::new();
    for s in &compose.services {
        let line = YamlError {
            line: s.line,
            message: String::new(),
        };
        let mut fail = |message: String| {
            cx.errors.push(YamlError {
                message,
                ..line.clone()
            })
        };
        for n in &s.networks {
            if n != "default" && !compose.networks.iter().any(|d| &d.name == n) {
                fail(format!(
                    "service {} uses network {n}, which is not declared under networks",
                    s.name
                ));
            }
        }
        for m in s.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let Some(v) = &m.source else { continue };
            match compose.volumes.iter().find(|d| &d.name == v) {
                None => fail(format!(
                    "service {} uses volume {v}, which is not declared under volumes",
                    s.name
                )),
                // One writer at a time on a cluster volume, unless the app says otherwise.
                Some(d) if d.is_cluster() && !s.multi_writer() => {
                    let many = match s.deploy.mode {
                        ServiceMode::Replicated | ServiceMode::ReplicatedJob => {
                            s.deploy.replicas.is_some_and(|r| r > 1)
                        }
                        ServiceMode::Global | ServiceMode::GlobalJob => true,
                    };
                    if many {
                        fail(format!(
                            "service {} mounts cluster volume {v}: it runs one task (replicated, \
                             1 replica) unless labelled {}=true",
                            s.name,
                            crate::storage::MULTI_WRITER_LABEL
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        for r in &s.secrets {
            if !compose.secrets.iter().any(|d| d.name == r.source) {
                fail(format!(
                    "service {} uses secret {}, which is not declared under secrets",
                    s.name, r.source
                ));
            }
        }
        for r in &s.configs {
            if !compose.configs.iter().any(|d| d.name == r.source) {
                fail(format!(
                    "service {} uses config {}, which is not declared under configs",
                    s.name, r.source
                ));
            }
        }
        for p in s.ports.iter().filter(|p| p.mode == PublishMode::Ingress) {
            if let Some(port) = p.published {
                if let Some((_, _, other)) = published
                    .iter()
                    .find(|(q, proto, _)| *q == port && *proto == p.protocol)
                {
                    fail(format!(
                        "services {other} and {} both publish port {port}",
                        s.name
                    ));
                }
                published.push((port, p.protocol, &s.name));
            }
        }
    }
}

#[cfg(test)]
mod tests;

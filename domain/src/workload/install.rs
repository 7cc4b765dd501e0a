//! Installing an app version on a cluster: what the wizard sends ([`InstallDraft`]), what it
//! knows of the cluster ([`InstallContext`]), the checks (one function, run inline in the
//! browser and again on the server) and the installed workload as its card shows it.
use serde::{Deserialize, Serialize};

use super::compose::{Compose, Port, Protocol, PublishMode, ServiceMode};
use super::observe::{ServiceState, TaskState};
use super::placement::{self, PlacementNode, Spread};
use super::spec::ServiceChoice;
use crate::ValidationError;

/// The longest workload (stack) name: service names are `<name>_<service>`, at most 63 long.
pub const MAX_WORKLOAD_NAME: usize = 20;
/// The most replicas (or job completions) one service may ask for.
pub const MAX_REPLICAS: u64 = 1000;
/// Swarm's limit on a secret's size.
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

/// One service as the wizard sets it up (text fields as typed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDraft {
    pub name: String,
    pub mode: ServiceMode,
    /// Replicas, or completions of a replicated job; ignored for global modes.
    pub replicas: String,
    /// One constraint per line, e.g. `node.labels.zone == hall-1`.
    pub constraints: String,
    /// One spread preference per line, e.g. `spread=node.labels.rack`.
    pub spread: String,
    pub ports: Vec<PortDraft>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDraft {
    pub target: u16,
    pub protocol: Protocol,
    /// Empty: Swarm picks one (ingress only).
    pub published: String,
    pub mode: PublishMode,
}

/// What the install wizard sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallDraft {
    pub version_id: String,
    pub name: String,
    /// Values of the app's own secrets, by their name in the compose file.
    pub secrets: Vec<(String, String)>,
    pub services: Vec<ServiceDraft>,
}

/// A port some service of the cluster publishes already.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub port: u16,
    pub protocol: Protocol,
    pub service: String,
}

/// What the wizard (and the server's check) knows of the target cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallContext {
    /// Schedulable nodes, as placement sees them.
    pub nodes: Vec<PlacementNode>,
    pub published: Vec<PublishedPort>,
    /// Workloads installed on the cluster already.
    pub taken: Vec<String>,
    /// Networks that exist on the cluster (for `external: true`).
    pub networks: Vec<String>,
    /// The cluster has a replicated volume (for the app's cluster volumes).
    #[serde(default)]
    pub cluster_volumes: bool,
}

/// An install that passed every check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    pub name: String,
    pub secrets: Vec<(String, String)>,
    pub choices: Vec<(String, ServiceChoice)>,
}

impl ServiceDraft {
    /// The wizard's defaults for a service: what the compose file says.
    pub fn of(s: &super::compose::Service) -> ServiceDraft {
        ServiceDraft {
            name: s.name.clone(),
            mode: s.deploy.mode,
            replicas: s.deploy.replicas.unwrap_or(1).to_string(),
            constraints: s
                .deploy
                .placement
                .constraints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            spread: s
                .deploy
                .placement
                .preferences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            ports: s
                .ports
                .iter()
                .map(|p| PortDraft {
                    target: p.target,
                    protocol: p.protocol,
                    published: p.published.map(|n| n.to_string()).unwrap_or_default(),
                    mode: p.mode,
                })
                .collect(),
        }
    }
}

impl ServiceDraft {
    /// A service of a new version set up as the operator chose for it before (an update):
    /// mode, replicas and placement as chosen; ports of the new version, published as chosen
    /// where the same target port was published before.
    pub fn chosen(s: &super::compose::Service, c: &ServiceChoice) -> ServiceDraft {
        let mut d = ServiceDraft::of(s);
        if let Some(m) = c.mode {
            d.mode = m;
        }
        if let Some(r) = c.replicas {
            d.replicas = r.to_string();
        }
        if let Some(cs) = &c.constraints {
            d.constraints = cs.join("\n");
        }
        if let Some(sp) = &c.spread {
            d.spread = sp
                .iter()
                .map(|a| format!("spread={a}"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        for p in &mut d.ports {
            if let Some(before) = c
                .ports
                .iter()
                .flatten()
                .find(|b| b.target == p.target && b.protocol == p.protocol)
            {
                p.published = before.published.map(|n| n.to_string()).unwrap_or_default();
                p.mode = before.mode;
            }
        }
        d
    }
}

impl InstallDraft {
    /// The wizard's defaults for `compose` ("skip and send" sends these).
    pub fn defaults(version_id: &str, name: &str, compose: &Compose) -> InstallDraft {
        InstallDraft {
            version_id: version_id.to_owned(),
            name: name.to_owned(),
            secrets: compose
                .app_secrets()
                .map(|s| (s.name.clone(), String::new()))
                .collect(),
            services: compose.services.iter().map(ServiceDraft::of).collect(),
        }
    }

    /// Checks the draft against the version's compose file and the cluster. Fields are `name`,
    /// `secret.<name>` and `service.<name>.<replicas|constraints|spread|ports>`.
    pub fn validate(
        &self,
        compose: &Compose,
        ctx: &InstallContext,
    ) -> Result<Install, Vec<ValidationError>> {
        let mut errors = vec![];
        let name = self.name.trim().to_owned();
        if let Err(e) = check_name(&name) {
            errors.push(ValidationError::new("name", e));
        } else if ctx.taken.contains(&name) {
            errors.push(ValidationError::new(
                "name",
                format!("{name} is installed on this cluster already: choose another name"),
            ));
        }
        let mut secrets = vec![];
        for decl in compose.app_secrets() {
            let field = format!("secret.{}", decl.name);
            match self.secrets.iter().find(|(n, _)| *n == decl.name) {
                Some((_, v)) if v.len() > MAX_SECRET_BYTES => errors.push(ValidationError::new(
                    field,
                    "Swarm keeps secrets of at most 500 KiB",
                )),
                Some((_, v)) if !v.is_empty() => secrets.push((decl.name.clone(), v.clone())),
                _ => errors.push(ValidationError::new(
                    field,
                    format!("Give the value of the secret {}", decl.name),
                )),
            }
        }
        for n in compose.networks.iter().filter(|n| n.external) {
            if !ctx.networks.contains(&n.name) {
                errors.push(ValidationError::new(
                    "name",
                    format!(
                        "The app uses the network {}, which does not exist on this cluster: create it first",
                        n.name
                    ),
                ));
            }
        }
        let wanted: Vec<&str> = compose
            .cluster_volumes()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        if !wanted.is_empty() && !ctx.cluster_volumes {
            errors.push(ValidationError::new(
                "name",
                format!(
                    "The app keeps data on cluster volumes ({}), which this cluster does not \
                     have: turn cluster volumes on (replicated, 3 or more nodes) first",
                    wanted.join(", ")
                ),
            ));
        }
        let mut choices = vec![];
        let mut ports_here: Vec<(u16, Protocol, String)> = vec![];
        for s in &compose.services {
            let draft = self
                .services
                .iter()
                .find(|d| d.name == s.name)
                .cloned()
                .unwrap_or_else(|| ServiceDraft::of(s));
            let field = |what: &str| format!("service.{}.{what}", s.name);
            let mut choice = ServiceChoice {
                mode: Some(draft.mode),
                ..Default::default()
            };
            if draft.mode.has_replicas() {
                match draft.replicas.trim().parse::<u64>() {
                    Ok(n) if (1..=MAX_REPLICAS).contains(&n) => choice.replicas = Some(n),
                    _ => errors.push(ValidationError::new(
                        field("replicas"),
                        format!("Write a number of replicas from 1 to {MAX_REPLICAS}"),
                    )),
                }
            }
            let several = !matches!(
                draft.mode,
                ServiceMode::Replicated | ServiceMode::ReplicatedJob
            ) || choice.replicas.is_some_and(|n| n > 1);
            if compose.single_writer(s) && several {
                errors.push(ValidationError::new(
                    field("replicas"),
                    "It keeps data on a cluster volume: it runs one task (replicated, 1 replica)",
                ));
            }
            match placement::parse_constraints(&draft.constraints) {
                Ok(c) => {
                    if let (Some(n), Some(max)) =
                        (choice.replicas, s.deploy.placement.max_replicas_per_node)
                    {
                        let eligible = placement::eligible(&c, &ctx.nodes).len();
                        let nodes = if eligible > 0 {
                            eligible
                        } else {
                            ctx.nodes.len()
                        };
                        let room = max.saturating_mul(nodes as u64);
                        if draft.mode == ServiceMode::Replicated && n > room {
                            errors.push(ValidationError::new(
                                field("replicas"),
                                format!(
                                    "{n} replicas do not fit: max_replicas_per_node {max} on {nodes} node(s) allows {room}"
                                ),
                            ));
                        }
                    }
                    choice.constraints = Some(c.iter().map(ToString::to_string).collect());
                }
                Err(e) => errors.push(ValidationError::new(field("constraints"), e)),
            }
            let spread: Result<Vec<String>, String> = draft
                .spread
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Spread::parse(l).map(|s| s.0.to_string()))
                .collect();
            match spread {
                Ok(v) => choice.spread = Some(v),
                Err(e) => errors.push(ValidationError::new(field("spread"), e)),
            }
            let mut ports = vec![];
            for p in &draft.ports {
                let published = match p.published.trim() {
                    "" if p.mode == PublishMode::Host => {
                        errors.push(ValidationError::new(
                            field("ports"),
                            format!("Port {}: host mode needs a published port", p.target),
                        ));
                        continue;
                    }
                    "" => None,
                    text => match text.parse::<u16>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            errors.push(ValidationError::new(
                                field("ports"),
                                format!("{text:?} is not a port (1 to 65535)"),
                            ));
                            continue;
                        }
                    },
                };
                if let Some(n) = published {
                    let proto = p.protocol;
                    if let Some(other) = ctx
                        .published
                        .iter()
                        .find(|o| o.port == n && o.protocol == proto)
                    {
                        errors.push(ValidationError::new(
                            field("ports"),
                            format!(
                                "Port {n}/{} is already published on this cluster by {}",
                                proto_str(proto),
                                other.service
                            ),
                        ));
                    } else if let Some((_, _, by)) =
                        ports_here.iter().find(|(q, pr, _)| *q == n && *pr == proto)
                    {
                        errors.push(ValidationError::new(
                            field("ports"),
                            format!(
                                "Port {n}/{} is published twice in this app (also by {by})",
                                proto_str(proto)
                            ),
                        ));
                    }
                    ports_here.push((n, proto, s.name.clone()));
                }
                ports.push(Port {
                    target: p.target,
                    published,
                    protocol: p.protocol,
                    mode: p.mode,
                });
            }
            choice.ports = Some(ports);
            choices.push((s.name.clone(), choice));
        }
        if errors.is_empty() {
            Ok(Install {
                name,
                secrets,
                choices,
            })
        } else {
            Err(errors)
        }
    }
}

fn proto_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// A workload's name: lowercase letters, digits and '-', starting with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_WORKLOAD_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Use 1 to {MAX_WORKLOAD_NAME} lowercase letters, digits and '-', starting with a letter (e.g. line-monitor)"
        ))
    }
}

/// Where an installed workload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadPhase {
    /// Its deploy (or update) workflow runs.
    Deploying,
    Deployed,
    /// Its last deploy or update workflow failed (see the cluster's activity).
    Failed,
    /// Its uninstall workflow runs.
    Removing,
}

impl WorkloadPhase {
    pub const ALL: [WorkloadPhase; 4] = [
        WorkloadPhase::Deploying,
        WorkloadPhase::Deployed,
        WorkloadPhase::Failed,
        WorkloadPhase::Removing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadPhase::Deploying => "deploying",
            WorkloadPhase::Deployed => "deployed",
            WorkloadPhase::Failed => "failed",
            WorkloadPhase::Removing => "removing",
        }
    }

    pub fn parse(text: &str) -> Option<WorkloadPhase> {
        WorkloadPhase::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// One task on the card: where it runs and how it is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// The node's hostname (empty while Swarm finds none).
    pub node: String,
    pub slot: Option<u64>,
    pub state: TaskState,
    pub desired: TaskState,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The name in the compose file.
    pub name: String,
    /// The Swarm service's name.
    pub swarm_name: String,
    pub mode: ServiceMode,
    pub image: String,
    pub desired: u64,
    pub running: u64,
    pub completed: u64,
    pub state: ServiceState,
    /// Swarm's error texts, newest first.
    pub errors: Vec<String>,
    /// An update or rollback in progress or just finished, with Swarm's message.
    pub update: Option<String>,
    /// The library version the service runs now (after a rollback: the one before the update).
    pub version: Option<String>,
    pub tasks: Vec<TaskView>,
}

/// An installed app or model on a cluster, as its card shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadView {
    pub id: String,
    pub name: String,
    pub app_id: String,
    pub version_id: String,
    pub app_name: String,
    pub kind_label: String,
    pub version: String,
    pub phase: WorkloadPhase,
    pub stopped: bool,
    /// Services as the managers report them; empty while nothing was reported.
    pub services: Vec<ServiceView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::SwarmRole;
    use crate::workload::compose::parse;

    fn node(host: &str, zone: &str) -> PlacementNode {
        PlacementNode {
            id: format!("id-{host}"),
            hostname: host.into(),
            role: SwarmRole::Manager,
            os: "linux".into(),
            arch: "x86_64".into(),
            labels: vec![("zone".into(), zone.into())],
            engine_labels: vec![],
        }
    }

    fn ctx() -> InstallContext {
        InstallContext {
            nodes: vec![
                node("edge-1", "a"),
                node("edge-2", "b"),
                node("edge-3", "b"),
            ],
            published: vec![PublishedPort {
                port: 9000,
                protocol: Protocol::Tcp,
                service: "other_web".into(),
            }],
            taken: vec!["other".into()],
            networks: vec!["shared".into()],
            cluster_volumes: false,
        }
    }

    const FILE: &str = "services:
  web:
    image: busybox
    ports: [\"8080:80\"]
    secrets: [token]
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
secrets:
  token: {}
";

    #[test]
    fn defaults_need_only_the_secrets() {
        let compose = parse(FILE).expect("parses");
        let mut draft = InstallDraft::defaults("v1", "shop", &compose);
        let errors = draft.validate(&compose, &ctx()).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "secret.token");
        draft.secrets = vec![("token".into(), "s3cret".into())];
        let install = draft.validate(&compose, &ctx()).expect("valid");
        assert_eq!(install.choices[0].1.replicas, Some(2));
        assert_eq!(install.choices[0].1.ports.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn bad_choices_name_their_field() {
        let compose = parse(FILE).expect("parses");
        let mut draft = InstallDraft::defaults("v1", "other", &compose);
        draft.secrets = vec![("token".into(), "x".into())];
        draft.services[0].replicas = "4".into();
        draft.services[0].constraints = "node.labels.zone = a".into();
        draft.services[0].ports[0].published = "9000".into();
        let errors = draft.validate(&compose, &ctx()).err().unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "service.web.constraints", "service.web.ports"]
        );
        assert!(
            errors[2]
                .message
                .contains("already published on this cluster by other_web")
        );

        // More replicas than max_replicas_per_node allows on the eligible nodes.
        draft.name = "shop".into();
        draft.services[0].constraints = "node.labels.zone == b".into();
        draft.services[0].ports[0].published = "8080".into();
        let errors = draft.validate(&compose, &ctx()).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "service.web.replicas");
        assert!(
            errors[0].message.contains("allows 2"),
            "{}",
            errors[0].message
        );

        // An impossible constraint is allowed: Swarm says why on the card, and a label fixes it.
        draft.services[0].replicas = "1".into();
        draft.services[0].constraints = "node.labels.zone == nowhere".into();
        assert!(draft.validate(&compose, &ctx()).is_ok());
    }

    #[test]
    fn an_update_keeps_what_was_chosen() {
        let compose = parse(FILE).expect("parses");
        let mut draft = InstallDraft::defaults("v1", "shop", &compose);
        draft.secrets = vec![("token".into(), "x".into())];
        draft.services[0].replicas = "1".into();
        draft.services[0].constraints = "node.labels.zone == b".into();
        draft.services[0].spread = "spread=node.labels.zone".into();
        draft.services[0].ports[0].published = "9090".into();
        let install = draft.validate(&compose, &ctx()).expect("valid");
        let again = ServiceDraft::chosen(&compose.services[0], &install.choices[0].1);
        assert_eq!(again.replicas, "1");
        assert_eq!(again.constraints, "node.labels.zone == b");
        assert_eq!(again.spread, "spread=node.labels.zone");
        assert_eq!(again.ports[0].published, "9090");
    }

    #[test]
    fn an_app_on_cluster_volumes_needs_a_cluster_that_has_them() {
        let compose = parse(
            "services:\n  db:\n    image: busybox\n    volumes: [\"data:/d\"]\nvolumes:\n  data:\n    driver: flotilla-cluster\n",
        )
        .expect("parses");
        let draft = InstallDraft::defaults("v1", "shop", &compose);
        let errors = draft
            .validate(&compose, &ctx())
            .expect_err("no volume here");
        assert_eq!(errors[0].field, "name");
        assert!(
            errors[0].message.contains("cluster volumes (data)"),
            "{}",
            errors[0].message
        );
        let with = InstallContext {
            cluster_volumes: true,
            ..ctx()
        };
        assert!(draft.validate(&compose, &with).is_ok());
        // One writer on it: more replicas, or a global mode, are refused on the service.
        let mut more = draft.clone();
        more.services[0].replicas = "2".into();
        let errors = more.validate(&compose, &with).expect_err("one writer");
        assert_eq!(errors[0].field, "service.db.replicas");
        more.services[0].replicas = "1".into();
        more.services[0].mode = ServiceMode::Global;
        assert!(more.validate(&compose, &with).is_err());
    }

    #[test]
    fn names_follow_the_rules() {
        assert!(check_name("line-monitor").is_ok());
        assert!(check_name("Line").is_err());
        assert!(check_name("1line").is_err());
        assert!(check_name("line-").is_err());
        assert!(check_name(&"a".repeat(MAX_WORKLOAD_NAME + 1)).is_err());
        for p in WorkloadPhase::ALL {
            assert_eq!(WorkloadPhase::parse(p.as_str()), Some(p));
        }
    }
}

//! Apps on the swarm: their services (created or updated to a [`ServiceSpec`]), their removal,
//! their logs, and the services and tasks a manager reports ([`super::stack`] has the objects
//! they use). The only place that knows Docker's service model.
use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount as DockerMount, MountType,
    MountVolumeOptions, NetworkAttachmentConfig, ResourceObject, Service,
    ServiceSpec as DockerServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecModeReplicatedJob, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, Task, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState as DockerTaskState,
};
use bollard::query_parameters::{
    ListServicesOptionsBuilder, ListTasksOptions, LogsOptionsBuilder, UpdateServiceOptionsBuilder,
};
use domain::storage::VOLUMES_DIR;
use domain::workload::compose::{
    EndpointMode, FailureAction, FileRef, MountKind, Port, Protocol, PublishMode, RestartCondition,
    ServiceMode, UpdateOrder, UpdatePolicy,
};
use domain::workload::observe::{
    MAX_REPORTED_SERVICES, MAX_REPORTED_TASKS, ServiceObservation, TaskObservation, TaskState,
    UpdateObservation, UpdateState,
};
use domain::workload::spec::{RegistryAuth, STACK_LABEL, ServiceSpec, VERSION_LABEL};
use futures_util::StreamExt;

use super::stack::{gone, stack_labels};
use super::{CALL_TIMEOUT, Engine, EngineError, SWARM_CALL_TIMEOUT, raw};

impl Engine {
    /// Creates the service, or updates the existing one of that name to `spec`.
    pub async fn apply_service(&self, spec: &ServiceSpec) -> Result<(), EngineError> {
        let secrets = self.secret_ids(None).await?;
        let configs = self.config_ids(None).await?;
        let body = docker_spec(spec, &secrets, &configs)?;
        let current = self.service(&spec.name).await?;
        if let Some(auth) = &spec.registry_auth {
            return self.apply_with_auth(body, current, auth).await;
        }
        match current {
            None => self
                .call("create service", SWARM_CALL_TIMEOUT, async move |d| {
                    d.create_service(body, None).await
                })
                .await
                .map(drop),
            Some(current) => {
                let was = current
                    .spec
                    .as_ref()
                    .and_then(|s| s.mode.as_ref())
                    .map(mode_of);
                if was.is_some_and(|m| m != spec.mode) {
                    return Err(EngineError::Conflict(format!(
                        "{}: Swarm cannot change a service's mode; uninstall and install again",
                        spec.name
                    )));
                }
                let version = current.version.and_then(|v| v.index).unwrap_or_default();
                let options = UpdateServiceOptionsBuilder::new()
                    .version(i32::try_from(version).unwrap_or(i32::MAX))
                    .build();
                let name = spec.name.clone();
                self.call("update service", SWARM_CALL_TIMEOUT, async move |d| {
                    d.update_service(&name, body, options, None).await
                })
                .await
                .map(drop)
            }
        }
    }

    /// Creates or updates a service with registry credentials, which Swarm keeps with the
    /// service and hands to the nodes that pull its image (see `raw`).
    async fn apply_with_auth(
        &self,
        body: DockerServiceSpec,
        current: Option<Service>,
        auth: &RegistryAuth,
    ) -> Result<(), EngineError> {
        let json = serde_json::to_string(&body)
            .map_err(|e| EngineError::Other(format!("service spec: {e}")))?;
        let header = (
            "X-Registry-Auth",
            raw::registry_auth_header(&auth.username, &auth.password, &auth.server),
        );
        let (what, path) = match current {
            None => ("create service", "/services/create".to_owned()),
            Some(s) => {
                let was = s.spec.as_ref().and_then(|s| s.mode.as_ref()).map(mode_of);
                let now = body.mode.as_ref().map(mode_of);
                if was.is_some() && was != now {
                    return Err(EngineError::Conflict(format!(
                        "{}: Swarm cannot change a service's mode; uninstall and install again",
                        body.name.unwrap_or_default()
                    )));
                }
                let version = s.version.and_then(|v| v.index).unwrap_or_default();
                let id = s.id.unwrap_or_default();
                (
                    "update service",
                    format!("/services/{id}/update?version={version}"),
                )
            }
        };
        self.raw(what, "POST", &path, &[header], &json, SWARM_CALL_TIMEOUT)
            .await?
            .into_result(what)
            .map(drop)
    }

    /// Removes one service; a missing one is done.
    pub async fn remove_service(&self, name: &str) -> Result<(), EngineError> {
        let Some(id) = self.service(name).await?.and_then(|s| s.id) else {
            return Ok(());
        };
        self.call("remove service", SWARM_CALL_TIMEOUT, async move |d| {
            d.delete_service(&id).await
        })
        .await
        .or_else(gone)
    }

    /// The newest `tail` lines a service's tasks logged, oldest first.
    pub async fn service_logs(&self, name: &str, tail: u32) -> Result<Vec<String>, EngineError> {
        let id = self
            .service(name)
            .await?
            .and_then(|s| s.id)
            .ok_or_else(|| EngineError::NotFound(name.to_owned()))?;
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        self.call("service logs", CALL_TIMEOUT, async move |d| {
            let mut stream = d.service_logs(&id, Some(options));
            let mut lines = vec![];
            while let Some(chunk) = stream.next().await {
                let text = chunk?.to_string();
                lines.extend(text.lines().map(str::to_owned));
            }
            let skip = lines.len().saturating_sub(tail as usize);
            Ok(lines.split_off(skip))
        })
        .await
    }

    /// Every service with its newest tasks (for the manager's swarm report).
    pub(super) async fn service_views(&self) -> Result<Vec<ServiceObservation>, EngineError> {
        let options = ListServicesOptionsBuilder::new().status(true).build();
        let services = self
            .call("list services", CALL_TIMEOUT, async move |d| {
                d.list_services(Some(options)).await
            })
            .await?;
        let tasks = self
            .call("list tasks", CALL_TIMEOUT, async |d| {
                d.list_tasks(None::<ListTasksOptions>).await
            })
            .await?;
        let mut by_service: HashMap<String, Vec<Task>> = HashMap::new();
        for t in tasks {
            by_service
                .entry(t.service_id.clone().unwrap_or_default())
                .or_default()
                .push(t);
        }
        let mut views: Vec<ServiceObservation> = services
            .into_iter()
            .map(|s| {
                let tasks = by_service
                    .remove(s.id.as_deref().unwrap_or_default())
                    .unwrap_or_default();
                service_view(s, tasks)
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views.truncate(MAX_REPORTED_SERVICES);
        Ok(views)
    }

    async fn service(&self, name: &str) -> Result<Option<Service>, EngineError> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let options = ListServicesOptionsBuilder::new().filters(&filters).build();
        Ok(self
            .call("list services", CALL_TIMEOUT, async move |d| {
                d.list_services(Some(options)).await
            })
            .await?
            .into_iter()
            // The name filter matches prefixes.
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name)))
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn mode_of(m: &ServiceSpecMode) -> ServiceMode {
    if m.global.is_some() {
        ServiceMode::Global
    } else if m.replicated_job.is_some() {
        ServiceMode::ReplicatedJob
    } else if m.global_job.is_some() {
        ServiceMode::GlobalJob
    } else {
        ServiceMode::Replicated
    }
}

fn file_refs<T>(
    refs: &[FileRef],
    ids: &HashMap<String, String>,
    what: &str,
    make: impl Fn(&FileRef, String) -> T,
) -> Result<Vec<T>, EngineError> {
    refs.iter()
        .map(|r| {
            let id = ids
                .get(&r.source)
                .cloned()
                .ok_or_else(|| EngineError::NotFound(format!("{what} {}", r.source)))?;
            Ok(make(r, id))
        })
        .collect()
}

/// The Engine API's service spec for `spec`, with secrets and configs resolved to their ids.
fn docker_spec(
    spec: &ServiceSpec,
    secrets: &HashMap<String, String>,
    configs: &HashMap<String, String>,
) -> Result<DockerServiceSpec, EngineError> {
    let pairs = |v: &[(String, String)]| v.iter().cloned().collect::<HashMap<_, _>>();
    let mode = match spec.mode {
        ServiceMode::Replicated => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(int(spec.replicas.unwrap_or(1))),
            }),
            ..Default::default()
        },
        ServiceMode::Global => ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        },
        ServiceMode::ReplicatedJob => {
            let n = int(spec.replicas.unwrap_or(1));
            ServiceSpecMode {
                replicated_job: Some(ServiceSpecModeReplicatedJob {
                    max_concurrent: Some(n),
                    total_completions: Some(n),
                }),
                ..Default::default()
            }
        }
        ServiceMode::GlobalJob => ServiceSpecMode {
            global_job: Some(HashMap::new()),
            ..Default::default()
        },
    };
    let r = &spec.resources;
    let resources = TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: r.limit_nano_cpus.map(int),
            memory_bytes: r.limit_memory.map(int),
            pids: r.limit_pids.map(int),
        }),
        reservations: Some(ResourceObject {
            nano_cpus: r.reserve_nano_cpus.map(int),
            memory_bytes: r.reserve_memory.map(int),
            generic_resources: None,
        }),
        ..Default::default()
    };
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        labels: Some(pairs(&spec.container_labels)),
        command: spec.entrypoint.clone(),
        args: spec.command.clone(),
        env: Some(
            spec.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        mounts: Some(
            spec.mounts
                .iter()
                .map(|m| DockerMount {
                    target: Some(m.target.clone()),
                    source: m.source.clone(),
                    typ: Some(match m.kind {
                        MountKind::Volume => MountType::VOLUME,
                        MountKind::Bind => MountType::BIND,
                        MountKind::Tmpfs => MountType::TMPFS,
                    }),
                    read_only: Some(m.read_only),
                    volume_options: (m.kind == MountKind::Volume).then(|| MountVolumeOptions {
                        labels: Some(stack_labels(&spec.stack)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
        ),
        health_check: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval_ns.map(int),
            timeout: h.timeout_ns.map(int),
            retries: h.retries.map(int),
            start_period: h.start_period_ns.map(int),
            start_interval: None,
        }),
        secrets: Some(file_refs(&spec.secrets, secrets, "secret", |r, id| {
            TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: r.target.clone(),
                    uid: Some("0".into()),
                    gid: Some("0".into()),
                    mode: Some(r.mode.unwrap_or(0o444)),
                }),
                secret_id: Some(id),
                secret_name: Some(r.source.clone()),
            }
        })?),
        configs: Some(file_refs(&spec.configs, configs, "config", |r, id| {
            TaskSpecContainerSpecConfigs {
                file: Some(TaskSpecContainerSpecFile1 {
                    name: r.target.clone(),
                    uid: Some("0".into()),
                    gid: Some("0".into()),
                    mode: Some(r.mode.unwrap_or(0o444)),
                }),
                config_id: Some(id),
                config_name: Some(r.source.clone()),
                runtime: None,
            }
        })?),
        ..Default::default()
    };
    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(resources),
        restart_policy: spec.restart.as_ref().map(|p| TaskSpecRestartPolicy {
            condition: p.condition.map(|c| match c {
                RestartCondition::None => TaskSpecRestartPolicyConditionEnum::NONE,
                RestartCondition::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
                RestartCondition::Any => TaskSpecRestartPolicyConditionEnum::ANY,
            }),
            delay: p.delay_ns.map(int),
            max_attempts: p.max_attempts.map(int),
            window: p.window_ns.map(int),
        }),
        placement: Some(TaskSpecPlacement {
            constraints: Some(spec.constraints.clone()),
            preferences: Some(
                spec.spread
                    .iter()
                    .map(|s| TaskSpecPlacementPreferences {
                        spread: Some(TaskSpecPlacementSpread {
                            spread_descriptor: Some(s.clone()),
                        }),
                    })
                    .collect(),
            ),
            max_replicas: spec.max_replicas_per_node.map(int),
            platforms: None,
        }),
        networks: Some(
            spec.networks
                .iter()
                .map(|n| NetworkAttachmentConfig {
                    target: Some(n.clone()),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    Ok(DockerServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(pairs(&spec.labels)),
        task_template: Some(task),
        mode: Some(mode),
        update_config: spec.update.as_ref().map(update_config),
        rollback_config: spec.rollback.as_ref().map(rollback_config),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(match spec.endpoint_mode {
                EndpointMode::Vip => EndpointSpecModeEnum::VIP,
                EndpointMode::Dnsrr => EndpointSpecModeEnum::DNSRR,
            }),
            ports: Some(
                spec.ports
                    .iter()
                    .map(|p| EndpointPortConfig {
                        name: None,
                        protocol: Some(match p.protocol {
                            Protocol::Tcp => EndpointPortConfigProtocolEnum::TCP,
                            Protocol::Udp => EndpointPortConfigProtocolEnum::UDP,
                        }),
                        target_port: Some(i64::from(p.target)),
                        published_port: p.published.map(i64::from),
                        publish_mode: Some(match p.mode {
                            PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
                            PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
                        }),
                    })
                    .collect(),
            ),
        }),
        networks: None,
    })
}

fn update_config(p: &UpdatePolicy) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: p.parallelism.map(int),
        delay: p.delay_ns.map(int),
        failure_action: p.failure_action.map(|a| match a {
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
        }),
        monitor: p.monitor_ns.map(int),
        max_failure_ratio: p.max_failure_ratio.map(f64::from),
        order: p.order.map(|o| match o {
            UpdateOrder::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
            UpdateOrder::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        }),
    }
}

fn rollback_config(p: &UpdatePolicy) -> ServiceSpecRollbackConfig {
    ServiceSpecRollbackConfig {
        parallelism: p.parallelism.map(int),
        delay: p.delay_ns.map(int),
        // The compose parser refuses `rollback` as a rollback's failure action.
        failure_action: p.failure_action.map(|a| match a {
            FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            FailureAction::Pause | FailureAction::Rollback => {
                ServiceSpecRollbackConfigFailureActionEnum::PAUSE
            }
        }),
        monitor: p.monitor_ns.map(int),
        max_failure_ratio: p.max_failure_ratio.map(f64::from),
        order: p.order.map(|o| match o {
            UpdateOrder::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
            UpdateOrder::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
        }),
    }
}

fn task_state(s: Option<DockerTaskState>) -> TaskState {
    match s {
        Some(DockerTaskState::NEW) | None => TaskState::New,
        Some(DockerTaskState::ALLOCATED) => TaskState::Allocated,
        Some(DockerTaskState::PENDING) => TaskState::Pending,
        Some(DockerTaskState::ASSIGNED) => TaskState::Assigned,
        Some(DockerTaskState::ACCEPTED) => TaskState::Accepted,
        Some(DockerTaskState::PREPARING) => TaskState::Preparing,
        Some(DockerTaskState::READY) => TaskState::Ready,
        Some(DockerTaskState::STARTING) => TaskState::Starting,
        Some(DockerTaskState::RUNNING) => TaskState::Running,
        Some(DockerTaskState::COMPLETE) => TaskState::Complete,
        Some(DockerTaskState::SHUTDOWN) => TaskState::Shutdown,
        Some(DockerTaskState::FAILED) => TaskState::Failed,
        Some(DockerTaskState::REJECTED) => TaskState::Rejected,
        Some(DockerTaskState::REMOVE) => TaskState::Remove,
        Some(DockerTaskState::ORPHANED) => TaskState::Orphaned,
    }
}

fn service_view(s: Service, mut tasks: Vec<Task>) -> ServiceObservation {
    let spec = s.spec.unwrap_or_default();
    let labels = spec.labels.unwrap_or_default();
    let mode = spec.mode.as_ref().map_or(ServiceMode::Replicated, mode_of);
    let replicas = spec.mode.as_ref().and_then(|m| {
        m.replicated
            .as_ref()
            .and_then(|r| r.replicas)
            .or_else(|| m.replicated_job.as_ref().and_then(|j| j.total_completions))
            .and_then(|n| u64::try_from(n).ok())
    });
    let at = |t: &Task| {
        t.status
            .as_ref()
            .and_then(|s| s.timestamp.clone())
            .unwrap_or_default()
    };
    tasks.sort_by_key(|t| std::cmp::Reverse(at(t)));
    let state = |t: &Task| task_state(t.status.as_ref().and_then(|s| s.state));
    let running = tasks
        .iter()
        .filter(|t| state(t) == TaskState::Running)
        .count() as u64;
    let completed = tasks
        .iter()
        .filter(|t| state(t) == TaskState::Complete)
        .count() as u64;
    let status = s.service_status.unwrap_or_default();
    let desired = match mode {
        ServiceMode::ReplicatedJob => replicas.unwrap_or_default(),
        _ => status.desired_tasks.unwrap_or(replicas.unwrap_or_default()),
    };
    let desired = if mode == ServiceMode::GlobalJob {
        // Swarm counts a global job's nodes as desired until they complete.
        desired.max(completed)
    } else {
        desired
    };
    let container = spec.task_template.and_then(|t| t.container_spec);
    ServiceObservation {
        id: s.id.unwrap_or_default(),
        name: spec.name.unwrap_or_default(),
        stack: labels.get(STACK_LABEL).cloned(),
        version: labels.get(VERSION_LABEL).cloned(),
        mode,
        replicas,
        cluster_volume: container
            .as_ref()
            .and_then(|c| c.mounts.as_ref())
            .is_some_and(|mounts| {
                mounts.iter().any(|m| {
                    m.source
                        .as_deref()
                        .is_some_and(|s| super::volumes::within(s, VOLUMES_DIR))
                })
            }),
        image: container.and_then(|c| c.image).unwrap_or_default(),
        ports: spec
            .endpoint_spec
            .and_then(|e| e.ports)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(Port {
                    target: u16::try_from(p.target_port?).ok()?,
                    published: p.published_port.and_then(|n| u16::try_from(n).ok()),
                    protocol: match p.protocol {
                        Some(EndpointPortConfigProtocolEnum::UDP) => Protocol::Udp,
                        _ => Protocol::Tcp,
                    },
                    mode: match p.publish_mode {
                        Some(EndpointPortConfigPublishModeEnum::HOST) => PublishMode::Host,
                        _ => PublishMode::Ingress,
                    },
                })
            })
            .collect(),
        desired,
        running,
        completed: status.completed_tasks.unwrap_or(completed).max(completed),
        update: s.update_status.and_then(|u| {
            let state = match u.state? {
                ServiceUpdateStatusStateEnum::UPDATING => UpdateState::Updating,
                ServiceUpdateStatusStateEnum::PAUSED => UpdateState::Paused,
                ServiceUpdateStatusStateEnum::COMPLETED => UpdateState::Completed,
                ServiceUpdateStatusStateEnum::ROLLBACK_STARTED => UpdateState::RollbackStarted,
                ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED => UpdateState::RollbackPaused,
                ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED => UpdateState::RollbackCompleted,
                ServiceUpdateStatusStateEnum::EMPTY => return None,
            };
            Some(UpdateObservation {
                state,
                message: u.message.unwrap_or_default(),
                started_at_ms: u
                    .started_at
                    .as_deref()
                    .and_then(domain::time::parse_rfc3339_ms),
            })
        }),
        tasks: tasks
            .into_iter()
            .take(MAX_REPORTED_TASKS)
            .map(|t| {
                let at = at(&t);
                let status = t.status.unwrap_or_default();
                TaskObservation {
                    id: t.id.unwrap_or_default(),
                    node_id: t.node_id.unwrap_or_default(),
                    slot: t.slot.and_then(|s| u64::try_from(s).ok()),
                    state: task_state(status.state),
                    desired: task_state(t.desired_state),
                    message: status.message.unwrap_or_default(),
                    error: status.err.filter(|e| !e.is_empty()),
                    image: t
                        .spec
                        .and_then(|s| s.container_spec)
                        .and_then(|c| c.image)
                        .unwrap_or_default(),
                    at,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::workload::compose::parse;
    use domain::workload::spec::build;

    #[test]
    fn specs_map_to_the_engine_api() {
        let compose = parse(
            "services:
  web:
    image: busybox
    command: [httpd, -f]
    ports: [\"8080:80\"]
    secrets: [token]
    deploy:
      replicas: 2
      placement:
        constraints: [node.role == worker]
        max_replicas_per_node: 1
      update_config:
        parallelism: 1
        failure_action: rollback
secrets:
  token: {}
",
        )
        .expect("parses");
        let (_, services) = build("shop", "1", &compose, &[], &[], &[]);
        let secrets = HashMap::from([("shop_token".to_string(), "id-1".to_string())]);
        let spec = docker_spec(&services[0], &secrets, &HashMap::new()).expect("maps");
        let task = spec.task_template.clone().unwrap_or_default();
        let container = task.container_spec.unwrap_or_default();
        assert_eq!(container.args, Some(vec!["httpd".into(), "-f".into()]));
        assert_eq!(
            container.secrets.unwrap_or_default()[0]
                .secret_id
                .as_deref(),
            Some("id-1")
        );
        let placement = task.placement.unwrap_or_default();
        assert_eq!(
            placement.constraints,
            Some(vec!["node.role == worker".into()])
        );
        assert_eq!(placement.max_replicas, Some(1));
        assert_eq!(
            spec.mode
                .and_then(|m| m.replicated)
                .and_then(|r| r.replicas),
            Some(2)
        );
        assert_eq!(
            spec.update_config.and_then(|u| u.failure_action),
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        assert_eq!(
            spec.labels
                .unwrap_or_default()
                .get(STACK_LABEL)
                .map(String::as_str),
            Some("shop")
        );
        // A secret that does not exist on the swarm is named.
        assert_eq!(
            docker_spec(&services[0], &HashMap::new(), &HashMap::new()).err(),
            Some(EngineError::NotFound("secret shop_token".into()))
        );
    }
}

//! The bollard adapter. Nothing outside this module sees a bollard type: every answer is
//! converted into `domain` types here. "Daemon unreachable" is a normal, typed state.
use std::time::Duration;

use bollard::models::{LocalNodeState, SystemInfo};
use bollard::{API_DEFAULT_VERSION, Docker};
use domain::node::{EngineFacts, SwarmFacts, SwarmState};

/// Every Docker call is bounded: calls hang while a swarm has no Raft leader.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Swarm changes (init, join, leave) can take much longer than reads.
pub const SWARM_CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// Connects to `host` (`unix:///path`), negotiating the API version with the daemon.
pub async fn connect(host: &str) -> Result<Docker, String> {
    connect_with(host, CALL_TIMEOUT).await
}

/// Like [`connect`], with the client's per-request timeout set to `timeout`.
pub async fn connect_with(host: &str, timeout: Duration) -> Result<Docker, String> {
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{host}: only unix:// sockets are supported"))?;
    let docker = Docker::connect_with_unix(path, timeout.as_secs(), API_DEFAULT_VERSION)
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| "the engine did not answer in time".to_string())?
        .map_err(|e| e.to_string())
}

/// Whether this node may hold a virtual IP, decided within about 0.9 s (KeepAlived's script
/// timeout is 1 s): the engine must answer `/_ping`; with `require_swarm`, an engine that says it
/// is not an active swarm member is unhealthy. While a swarm elects a new leader `/info` can
/// hang: an unanswered `/info` is not held against the node, or losing the leader would take
/// every VIP down with it.
pub async fn vip_health(host: &str, require_swarm: bool) -> Result<(), String> {
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{host}: only unix:// sockets are supported"))?;
    let docker =
        Docker::connect_with_unix(path, 1, API_DEFAULT_VERSION).map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_millis(400), docker.ping())
        .await
        .map_err(|_| "the engine did not answer /_ping in time".to_string())?
        .map_err(|e| format!("engine: {e}"))?;
    if !require_swarm {
        return Ok(());
    }
    match tokio::time::timeout(Duration::from_millis(450), docker.info()).await {
        Err(_) => Ok(()),
        Ok(Err(e)) => Err(format!("engine info: {e}")),
        Ok(Ok(info)) => match swarm_facts(&info).state {
            SwarmState::Active => Ok(()),
            other => Err(format!("swarm state is {}", other.label())),
        },
    }
}

/// The engine's version and swarm state, or why they could not be read.
pub async fn engine_facts(host: &str) -> EngineFacts {
    match read(host).await {
        Ok(facts) => facts,
        Err(reason) => EngineFacts::Unreachable { reason },
    }
}

async fn read(host: &str) -> Result<EngineFacts, String> {
    let docker = connect(host).await?;
    let bounded = |what: &'static str| move |_| format!("{what} timed out");
    let version = tokio::time::timeout(CALL_TIMEOUT, docker.version())
        .await
        .map_err(bounded("version"))?
        .map_err(|e| e.to_string())?;
    let info = tokio::time::timeout(CALL_TIMEOUT, docker.info())
        .await
        .map_err(bounded("info"))?
        .map_err(|e| e.to_string())?;
    Ok(EngineFacts::Up {
        version: version.version.unwrap_or_else(|| "unknown".into()),
        api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
        swarm: swarm_facts(&info),
    })
}

fn swarm_facts(info: &SystemInfo) -> SwarmFacts {
    let swarm = info.swarm.as_ref();
    let state = match swarm.and_then(|s| s.local_node_state.as_ref()) {
        Some(LocalNodeState::INACTIVE) => SwarmState::Inactive,
        Some(LocalNodeState::PENDING) => SwarmState::Pending,
        Some(LocalNodeState::ACTIVE) => SwarmState::Active,
        Some(LocalNodeState::ERROR) => SwarmState::Error,
        Some(LocalNodeState::LOCKED) => SwarmState::Locked,
        Some(LocalNodeState::EMPTY) | None => SwarmState::Unknown,
    };
    SwarmFacts {
        state,
        node_id: swarm
            .and_then(|s| s.node_id.clone())
            .filter(|s| !s.is_empty()),
        is_manager: swarm.and_then(|s| s.control_available).unwrap_or(false),
        cluster_id: swarm
            .and_then(|s| s.cluster.as_ref())
            .and_then(|c| c.id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::SwarmInfo;

    #[test]
    fn swarm_state_maps_from_docker_models() {
        let info = SystemInfo {
            swarm: Some(SwarmInfo {
                local_node_state: Some(LocalNodeState::ACTIVE),
                node_id: Some("abc".into()),
                control_available: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = swarm_facts(&info);
        assert_eq!(s.state, SwarmState::Active);
        assert_eq!(s.node_id.as_deref(), Some("abc"));
        assert!(s.is_manager);
        assert_eq!(
            swarm_facts(&SystemInfo::default()).state,
            SwarmState::Unknown
        );
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_typed_unreachable_state() {
        let facts = engine_facts("unix:///nonexistent/docker.sock").await;
        assert!(
            matches!(facts, EngineFacts::Unreachable { .. }),
            "{facts:?}"
        );
        assert!(
            matches!(engine_facts("tcp://1.2.3.4:2375").await, EngineFacts::Unreachable { ref reason } if reason.contains("unix://"))
        );
    }
}

/// Swarm operations. Each one first checks whether its effect already holds, so a command resent
/// after a reconnect (or a workflow step retried after a panel restart) does not act twice.
pub mod swarm {
    use std::collections::HashMap;

    use bollard::Docker;
    use bollard::models::{
        Ipam, IpamConfig, LocalNodeState, Network, NetworkCreateRequest, Node,
        NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, Reachability, SwarmInitRequest,
        SwarmJoinRequest,
    };
    use bollard::query_parameters::{
        DeleteNodeOptionsBuilder, LeaveSwarmOptionsBuilder, ListNetworksOptionsBuilder,
        ListServicesOptions, UpdateNodeOptionsBuilder, UpdateSwarmOptionsBuilder,
    };
    use domain::cluster::{NodeLabel, SwarmRole};
    use domain::health::Availability;
    use domain::network::NetworkView;
    use domain::protocol::{
        JoinTokens, NetworkCreate, NodeUpdate, SwarmInit, SwarmJoin, SwarmMember, SwarmNodeView,
        SwarmSnapshot,
    };

    use super::{SWARM_CALL_TIMEOUT, connect_with};

    async fn connect(host: &str) -> Result<Docker, String> {
        connect_with(host, SWARM_CALL_TIMEOUT).await
    }

    async fn bounded<T, E: std::fmt::Display>(
        what: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        // Joins and inits can take longer than plain reads.
        tokio::time::timeout(SWARM_CALL_TIMEOUT, f)
            .await
            .map_err(|_| format!("{what}: the engine did not answer in time"))?
            .map_err(|e| format!("{what}: {e}"))
    }

    struct Local {
        state: LocalNodeState,
        node_id: String,
        cluster_id: String,
        is_manager: bool,
    }

    async fn local(docker: &Docker) -> Result<Local, String> {
        let info = bounded("info", docker.info()).await?;
        let swarm = info.swarm.unwrap_or_default();
        Ok(Local {
            state: swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY),
            node_id: swarm.node_id.unwrap_or_default(),
            cluster_id: swarm.cluster.and_then(|c| c.id).unwrap_or_default(),
            is_manager: swarm.control_available.unwrap_or(false),
        })
    }

    async fn tokens(docker: &Docker) -> Result<JoinTokens, String> {
        let swarm = bounded("inspect swarm", docker.inspect_swarm()).await?;
        let t = swarm.join_tokens.unwrap_or_default();
        Ok(JoinTokens {
            worker: t.worker.unwrap_or_default(),
            manager: t.manager.unwrap_or_default(),
        })
    }

    /// The IPv4 address of `interface` in this node's network namespace.
    pub fn interface_address(interface: &str) -> Result<String, String> {
        let ifs = crate::facts::interfaces().map_err(|e| e.to_string())?;
        ifs.iter()
            .find(|i| i.name == interface)
            .and_then(|i| i.addresses.iter().find(|a| !a.contains(':')))
            .and_then(|a| a.split('/').next())
            .map(str::to_owned)
            .ok_or_else(|| format!("interface {interface} has no IPv4 address on this node"))
    }

    async fn member(docker: &Docker, address: String) -> Result<SwarmMember, String> {
        let l = local(docker).await?;
        let tokens = if l.is_manager {
            Some(tokens(docker).await?)
        } else {
            None
        };
        Ok(SwarmMember {
            swarm_node_id: l.node_id,
            cluster_id: l.cluster_id,
            address,
            tokens,
        })
    }

    pub async fn init(host: &str, req: &SwarmInit) -> Result<SwarmMember, String> {
        let docker = connect(host).await?;
        let ip = interface_address(&req.interface)?;
        let l = local(&docker).await?;
        match l.state {
            LocalNodeState::ACTIVE if l.is_manager => return member(&docker, ip).await,
            LocalNodeState::ACTIVE | LocalNodeState::PENDING => {
                return Err("this node is already in a swarm as a worker".into());
            }
            _ => {}
        }
        let body = SwarmInitRequest {
            listen_addr: Some(format!("{ip}:{}", req.listen_port)),
            advertise_addr: Some(format!("{ip}:{}", req.listen_port)),
            data_path_addr: Some(ip.clone()),
            data_path_port: Some(u32::from(req.data_path_port)),
            default_addr_pool: Some(req.address_pools.clone()),
            subnet_size: Some(u32::from(req.subnet_size)),
            ..Default::default()
        };
        bounded("swarm init", docker.init_swarm(body)).await?;
        member(&docker, ip).await
    }

    pub async fn join(host: &str, req: &SwarmJoin) -> Result<SwarmMember, String> {
        let docker = connect(host).await?;
        let ip = interface_address(&req.interface)?;
        let l = local(&docker).await?;
        if l.state == LocalNodeState::ACTIVE {
            return member(&docker, ip).await;
        }
        let body = SwarmJoinRequest {
            listen_addr: Some(format!("{ip}:{}", req.listen_port)),
            advertise_addr: Some(format!("{ip}:{}", req.listen_port)),
            data_path_addr: Some(ip.clone()),
            remote_addrs: Some(vec![req.remote.clone()]),
            join_token: Some(req.token.clone()),
        };
        bounded("swarm join", docker.join_swarm(body)).await?;
        member(&docker, ip).await
    }

    pub async fn leave(host: &str, force: bool) -> Result<(), String> {
        let docker = connect(host).await?;
        let l = local(&docker).await?;
        if matches!(l.state, LocalNodeState::INACTIVE | LocalNodeState::EMPTY) {
            return Ok(());
        }
        // Right after a demotion the node may still count itself a manager for a moment; a
        // plain leave is refused then, so it is retried for a while.
        let mut attempts = 0;
        loop {
            let result = bounded(
                "swarm leave",
                docker.leave_swarm(Some(LeaveSwarmOptionsBuilder::new().force(force).build())),
            )
            .await;
            match result {
                Err(e) if !force && e.contains("participating as a manager") && attempts < 30 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn join_tokens(host: &str, rotate: bool) -> Result<JoinTokens, String> {
        let docker = connect(host).await?;
        if rotate {
            let swarm = bounded("inspect swarm", docker.inspect_swarm()).await?;
            let version = swarm.version.and_then(|v| v.index).unwrap_or_default() as i64;
            let spec = swarm.spec.unwrap_or_default();
            let options = UpdateSwarmOptionsBuilder::new()
                .version(version)
                .rotate_worker_token(true)
                .rotate_manager_token(true)
                .build();
            bounded("rotate tokens", docker.update_swarm(spec, options)).await?;
        }
        tokens(&docker).await
    }

    pub async fn update_node(host: &str, req: &NodeUpdate) -> Result<(), String> {
        let docker = connect(host).await?;
        let node = bounded("inspect node", docker.inspect_node(&req.swarm_node_id)).await?;
        let version = node.version.and_then(|v| v.index).unwrap_or_default() as i64;
        let mut spec = node.spec.unwrap_or_default();
        let before = spec.clone();
        if let Some(role) = req.role {
            spec.role = Some(match role {
                SwarmRole::Manager => NodeSpecRoleEnum::MANAGER,
                SwarmRole::Worker => NodeSpecRoleEnum::WORKER,
            });
        }
        if let Some(a) = req.availability {
            spec.availability = Some(match a {
                Availability::Active => NodeSpecAvailabilityEnum::ACTIVE,
                Availability::Pause => NodeSpecAvailabilityEnum::PAUSE,
                Availability::Drain => NodeSpecAvailabilityEnum::DRAIN,
            });
        }
        if let Some(labels) = &req.labels {
            spec.labels = Some(
                labels
                    .iter()
                    .map(|l| (l.key.clone(), l.value.clone()))
                    .collect::<HashMap<_, _>>(),
            );
        }
        if spec == before {
            return Ok(());
        }
        let options = UpdateNodeOptionsBuilder::new().version(version).build();
        bounded(
            "update node",
            docker.update_node(&req.swarm_node_id, spec, options),
        )
        .await?;
        // A role change takes effect through Raft; answer once it has, so the next step (e.g. a
        // plain leave after a demotion) sees it.
        if let Some(role) = req.role {
            for _ in 0..60 {
                let node = bounded("inspect node", docker.inspect_node(&req.swarm_node_id)).await?;
                let is_manager = node.manager_status.is_some();
                if is_manager == (role == SwarmRole::Manager) {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            return Err(format!(
                "the node's role did not become {} within 30 s",
                role.as_str()
            ));
        }
        Ok(())
    }

    pub async fn remove_node(host: &str, swarm_node_id: &str) -> Result<(), String> {
        let docker = connect(host).await?;
        match bounded("inspect node", docker.inspect_node(swarm_node_id)).await {
            Err(e) if e.contains("404") || e.contains("not found") => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        bounded(
            "remove node",
            docker.delete_node(
                swarm_node_id,
                Some(DeleteNodeOptionsBuilder::new().force(true).build()),
            ),
        )
        .await
    }

    /// Creates a swarm-scoped overlay network; one that exists already is done.
    pub async fn create_network(host: &str, req: &NetworkCreate) -> Result<(), String> {
        let docker = connect(host).await?;
        if overlay_networks(&docker)
            .await?
            .iter()
            .any(|n| n.name.as_deref() == Some(req.name.as_str()))
        {
            return Ok(());
        }
        let mut options = HashMap::new();
        if req.encrypted {
            options.insert("encrypted".to_string(), String::new());
        }
        let body = NetworkCreateRequest {
            name: req.name.clone(),
            driver: Some("overlay".into()),
            scope: Some("swarm".into()),
            attachable: Some(req.attachable),
            options: Some(options),
            ipam: req.subnet.as_ref().map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([(
                "io.flotilla.managed".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        bounded("create network", docker.create_network(body))
            .await
            .map(|_| ())
    }

    /// Removes an overlay network; a missing one is done. Docker refuses one that is in use.
    pub async fn remove_network(host: &str, name: &str) -> Result<(), String> {
        let docker = connect(host).await?;
        if !overlay_networks(&docker)
            .await?
            .iter()
            .any(|n| n.name.as_deref() == Some(name))
        {
            return Ok(());
        }
        bounded("remove network", docker.remove_network(name)).await
    }

    async fn overlay_networks(docker: &Docker) -> Result<Vec<Network>, String> {
        let filters = HashMap::from([("driver", vec!["overlay"])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        Ok(
            bounded("list networks", docker.list_networks(Some(options)))
                .await?
                .into_iter()
                .filter(|n| n.scope.as_deref() == Some("swarm"))
                .collect(),
        )
    }

    async fn network_views(docker: &Docker) -> Result<Vec<NetworkView>, String> {
        let services = bounded(
            "list services",
            docker.list_services(None::<ListServicesOptions>),
        )
        .await?;
        let attached: Vec<String> = services
            .iter()
            .filter_map(|s| s.spec.as_ref())
            .flat_map(|spec| {
                let from_task = spec
                    .task_template
                    .as_ref()
                    .and_then(|t| t.networks.clone())
                    .unwrap_or_default();
                let from_spec = spec.networks.clone().unwrap_or_default();
                from_task
                    .into_iter()
                    .chain(from_spec)
                    .filter_map(|n| n.target)
            })
            .collect();
        let mut views: Vec<NetworkView> = overlay_networks(docker)
            .await?
            .into_iter()
            .map(|n| {
                let id = n.id.clone().unwrap_or_default();
                let name = n.name.clone().unwrap_or_default();
                NetworkView {
                    services: attached.iter().filter(|t| **t == id || **t == name).count(),
                    subnets: n
                        .ipam
                        .and_then(|i| i.config)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.subnet)
                        .collect(),
                    attachable: n.attachable.unwrap_or(false),
                    encrypted: n
                        .options
                        .as_ref()
                        .is_some_and(|o| o.contains_key("encrypted")),
                    ingress: n.ingress.unwrap_or(false),
                    id,
                    name,
                }
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(views)
    }

    /// What this node sees of its swarm, when it is a manager.
    pub async fn snapshot(host: &str) -> Result<Option<SwarmSnapshot>, String> {
        let docker = connect(host).await?;
        let l = local(&docker).await?;
        if l.state != LocalNodeState::ACTIVE || !l.is_manager {
            return Ok(None);
        }
        let swarm = bounded("inspect swarm", docker.inspect_swarm()).await?;
        let mut nodes: Vec<SwarmNodeView> = bounded(
            "list nodes",
            docker.list_nodes(None::<bollard::query_parameters::ListNodesOptions>),
        )
        .await?
        .into_iter()
        .map(node_view)
        .collect();
        nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
        Ok(Some(SwarmSnapshot {
            cluster_id: l.cluster_id,
            nodes,
            default_addr_pool: swarm.default_addr_pool.unwrap_or_default(),
            subnet_size: swarm.subnet_size.unwrap_or_default(),
            data_path_port: swarm.data_path_port.unwrap_or_default(),
            networks: network_views(&docker).await?,
        }))
    }

    fn node_view(n: Node) -> SwarmNodeView {
        let spec = n.spec.unwrap_or_default();
        let desc = n.description.unwrap_or_default();
        let status = n.status.unwrap_or_default();
        let mut labels: Vec<NodeLabel> = spec
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| NodeLabel { key, value })
            .collect();
        labels.sort_by(|a, b| a.key.cmp(&b.key));
        SwarmNodeView {
            id: n.id.unwrap_or_default(),
            hostname: desc.hostname.unwrap_or_default(),
            role: match spec.role {
                Some(NodeSpecRoleEnum::MANAGER) => SwarmRole::Manager,
                _ => SwarmRole::Worker,
            },
            availability: match spec.availability {
                Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
                Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
                _ => Availability::Active,
            },
            state: match status.state {
                Some(NodeState::READY) => "ready",
                Some(NodeState::DOWN) => "down",
                Some(NodeState::DISCONNECTED) => "disconnected",
                _ => "unknown",
            }
            .into(),
            leader: n
                .manager_status
                .as_ref()
                .and_then(|m| m.leader)
                .unwrap_or(false),
            reachability: n.manager_status.as_ref().map(|m| {
                match m.reachability {
                    Some(Reachability::REACHABLE) => "reachable",
                    Some(Reachability::UNREACHABLE) => "unreachable",
                    _ => "unknown",
                }
                .to_string()
            }),
            address: status.addr.unwrap_or_default(),
            engine_version: desc
                .engine
                .and_then(|e| e.engine_version)
                .unwrap_or_default(),
            labels,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use bollard::models::{ManagerStatus, NodeDescription, NodeSpec, NodeStatus};

        #[test]
        fn node_views_convert_docker_models() {
            let node = Node {
                id: Some("abc".into()),
                spec: Some(NodeSpec {
                    role: Some(NodeSpecRoleEnum::MANAGER),
                    availability: Some(NodeSpecAvailabilityEnum::DRAIN),
                    labels: Some(HashMap::from([("zone".to_string(), "a".to_string())])),
                    ..Default::default()
                }),
                description: Some(NodeDescription {
                    hostname: Some("edge-1".into()),
                    ..Default::default()
                }),
                status: Some(NodeStatus {
                    state: Some(NodeState::READY),
                    addr: Some("10.77.0.11".into()),
                    ..Default::default()
                }),
                manager_status: Some(ManagerStatus {
                    leader: Some(true),
                    reachability: Some(Reachability::REACHABLE),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let v = node_view(node);
            assert_eq!(
                (v.role, v.availability, v.state.as_str(), v.leader),
                (SwarmRole::Manager, Availability::Drain, "ready", true)
            );
            assert_eq!(v.reachability.as_deref(), Some("reachable"));
            assert_eq!(
                v.labels,
                vec![NodeLabel {
                    key: "zone".into(),
                    value: "a".into()
                }]
            );
        }
    }
}

//! The node's swarm: init, join, leave, join tokens, node changes and what a manager reports.
//! Every change first checks whether it already holds, so a command resent after a reconnect or
//! rerun by the panel's workflow engine does no harm.
use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    LocalNodeState, Node, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState,
    Reachability as DockerReachability, SwarmInitRequest, SwarmJoinRequest,
};
use bollard::query_parameters::{
    DeleteNodeOptionsBuilder, LeaveSwarmOptionsBuilder, ListNodesOptions, UpdateNodeOptionsBuilder,
    UpdateSwarmOptionsBuilder,
};
use domain::protocol::{JoinTokens, NodeUpdate, SwarmInit, SwarmJoin, SwarmMember};
use domain::swarm::{
    Availability, NodeLabel, Reachability, SwarmNodeState, SwarmNodeView, SwarmRole, SwarmSnapshot,
};

use super::{CALL_TIMEOUT, Engine, EngineError, SWARM_CALL_TIMEOUT};

/// This node's place in a swarm, as its engine reports it.
struct Local {
    state: LocalNodeState,
    node_id: String,
    cluster_id: String,
    is_manager: bool,
}

impl Engine {
    async fn local(&self) -> Result<Local, EngineError> {
        let info = self
            .call("info", CALL_TIMEOUT, async |d| d.info().await)
            .await?;
        let swarm = info.swarm.unwrap_or_default();
        Ok(Local {
            state: swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY),
            node_id: swarm.node_id.unwrap_or_default(),
            cluster_id: swarm.cluster.and_then(|c| c.id).unwrap_or_default(),
            is_manager: swarm.control_available.unwrap_or(false),
        })
    }

    async fn tokens(&self) -> Result<JoinTokens, EngineError> {
        let swarm = self
            .call("inspect swarm", CALL_TIMEOUT, async |d| {
                d.inspect_swarm().await
            })
            .await?;
        let t = swarm.join_tokens.unwrap_or_default();
        Ok(JoinTokens {
            worker: t.worker.unwrap_or_default(),
            manager: t.manager.unwrap_or_default(),
        })
    }

    /// This node's membership, advertised at `address` (with the join tokens on a manager).
    async fn member(&self, address: String) -> Result<SwarmMember, EngineError> {
        let l = self.local().await?;
        let tokens = if l.is_manager {
            Some(self.tokens().await?)
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

    /// Creates a swarm with this node (at `ip`) as its first manager; a node that manages a
    /// swarm already answers with that swarm.
    pub async fn init(&self, req: &SwarmInit, ip: String) -> Result<SwarmMember, EngineError> {
        let l = self.local().await?;
        match l.state {
            LocalNodeState::ACTIVE if l.is_manager => return self.member(ip).await,
            LocalNodeState::ACTIVE | LocalNodeState::PENDING => {
                return Err(EngineError::Conflict(
                    "this node is already in a swarm as a worker".into(),
                ));
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
        self.call("swarm init", SWARM_CALL_TIMEOUT, async move |d| {
            d.init_swarm(body).await
        })
        .await?;
        self.member(ip).await
    }

    /// Joins a swarm from `ip`; a node in a swarm already answers with its membership.
    pub async fn join(&self, req: &SwarmJoin, ip: String) -> Result<SwarmMember, EngineError> {
        if self.local().await?.state == LocalNodeState::ACTIVE {
            return self.member(ip).await;
        }
        let body = SwarmJoinRequest {
            listen_addr: Some(format!("{ip}:{}", req.listen_port)),
            advertise_addr: Some(format!("{ip}:{}", req.listen_port)),
            data_path_addr: Some(ip.clone()),
            remote_addrs: Some(vec![req.remote.clone()]),
            join_token: Some(req.token.clone()),
        };
        self.call("swarm join", SWARM_CALL_TIMEOUT, async move |d| {
            d.join_swarm(body).await
        })
        .await?;
        self.member(ip).await
    }

    /// Leaves the swarm; a node outside a swarm is done.
    pub async fn leave(&self, force: bool) -> Result<(), EngineError> {
        let l = self.local().await?;
        if matches!(l.state, LocalNodeState::INACTIVE | LocalNodeState::EMPTY) {
            return Ok(());
        }
        // Right after a demotion the node may still count itself a manager for a moment; a
        // plain leave is refused then, so it is tried again for a while.
        let mut refused = 0;
        // dockerd gives up waiting for its swarm node to stop after 15 s ("context deadline
        // exceeded"), seen on the last manager of a swarm; the node is then half stopped and
        // another leave finishes the job, unless the first one got there after all.
        let mut stuck = 0;
        loop {
            let options = LeaveSwarmOptionsBuilder::new().force(force).build();
            let result = self
                .call("swarm leave", SWARM_CALL_TIMEOUT, async move |d| {
                    d.leave_swarm(Some(options)).await
                })
                .await;
            match result {
                Err(EngineError::Conflict(_)) if !force && refused < 30 => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(EngineError::Other(e)) if stuck < 3 => {
                    stuck += 1;
                    tracing::warn!(error = %e, attempt = stuck, "swarm leave did not finish; trying again");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let l = self.local().await?;
                    if matches!(l.state, LocalNodeState::INACTIVE | LocalNodeState::EMPTY) {
                        return Ok(());
                    }
                }
                other => return other,
            }
        }
    }

    /// Sets the dispatcher heartbeat period (on a manager); done when it holds already.
    pub async fn set_heartbeat(&self, secs: u8) -> Result<(), EngineError> {
        let swarm = self
            .call("inspect swarm", CALL_TIMEOUT, async |d| {
                d.inspect_swarm().await
            })
            .await?;
        let period = i64::from(secs) * 1_000_000_000;
        let mut spec = swarm.spec.unwrap_or_default();
        let mut dispatcher = spec.dispatcher.take().unwrap_or_default();
        if dispatcher.heartbeat_period == Some(period) {
            return Ok(());
        }
        dispatcher.heartbeat_period = Some(period);
        spec.dispatcher = Some(dispatcher);
        let version = swarm.version.and_then(|v| v.index).unwrap_or_default() as i64;
        let options = UpdateSwarmOptionsBuilder::new().version(version).build();
        self.call("set heartbeat", SWARM_CALL_TIMEOUT, async move |d| {
            d.update_swarm(spec, options).await
        })
        .await
    }

    /// The join tokens, rotated first when asked.
    pub async fn join_tokens(&self, rotate: bool) -> Result<JoinTokens, EngineError> {
        if rotate {
            let swarm = self
                .call("inspect swarm", CALL_TIMEOUT, async |d| {
                    d.inspect_swarm().await
                })
                .await?;
            let version = swarm.version.and_then(|v| v.index).unwrap_or_default() as i64;
            let spec = swarm.spec.unwrap_or_default();
            let options = UpdateSwarmOptionsBuilder::new()
                .version(version)
                .rotate_worker_token(true)
                .rotate_manager_token(true)
                .build();
            self.call("rotate tokens", SWARM_CALL_TIMEOUT, async move |d| {
                d.update_swarm(spec, options).await
            })
            .await?;
        }
        self.tokens().await
    }

    /// Changes a node's role, availability or labels (only what is given and differs). A role
    /// change is answered once Raft applied it, so the next step sees it.
    pub async fn update_node(&self, req: &NodeUpdate) -> Result<(), EngineError> {
        let id = req.swarm_node_id.clone();
        let node = self
            .call("inspect node", CALL_TIMEOUT, {
                let id = id.clone();
                async move |d| d.inspect_node(&id).await
            })
            .await?;
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
        self.call("update node", SWARM_CALL_TIMEOUT, {
            let id = id.clone();
            async move |d| d.update_node(&id, spec, options).await
        })
        .await?;
        let Some(role) = req.role else {
            return Ok(());
        };
        for _ in 0..60 {
            let node = self
                .call("inspect node", CALL_TIMEOUT, {
                    let id = id.clone();
                    async move |d| d.inspect_node(&id).await
                })
                .await?;
            if node.manager_status.is_some() == (role == SwarmRole::Manager) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(EngineError::Timeout(format!(
            "the node's role becoming {}",
            role.as_str()
        )))
    }

    /// Removes a node that left from the swarm's node list; one that is gone is done.
    pub async fn remove_node(&self, swarm_node_id: &str) -> Result<(), EngineError> {
        let id = swarm_node_id.to_owned();
        match self
            .call("inspect node", CALL_TIMEOUT, {
                let id = id.clone();
                async move |d| d.inspect_node(&id).await
            })
            .await
        {
            Err(EngineError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let options = DeleteNodeOptionsBuilder::new().force(true).build();
        self.call("remove node", SWARM_CALL_TIMEOUT, async move |d| {
            d.delete_node(&id, Some(options)).await
        })
        .await
    }

    /// What this node sees of its swarm, when it is a manager.
    pub async fn snapshot(&self) -> Result<Option<SwarmSnapshot>, EngineError> {
        let l = self.local().await?;
        if l.state != LocalNodeState::ACTIVE || !l.is_manager {
            return Ok(None);
        }
        let swarm = self
            .call("inspect swarm", CALL_TIMEOUT, async |d| {
                d.inspect_swarm().await
            })
            .await?;
        let mut nodes: Vec<SwarmNodeView> = self
            .call("list nodes", CALL_TIMEOUT, async |d| {
                d.list_nodes(None::<ListNodesOptions>).await
            })
            .await?
            .into_iter()
            .map(node_view)
            .collect();
        nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
        let (secrets, configs) = self.object_views().await?;
        Ok(Some(SwarmSnapshot {
            cluster_id: l.cluster_id,
            nodes,
            default_addr_pool: swarm.default_addr_pool.unwrap_or_default(),
            subnet_size: swarm.subnet_size.unwrap_or_default(),
            data_path_port: swarm.data_path_port.unwrap_or_default(),
            networks: self.network_views().await?,
            services: self.service_views().await?,
            secrets,
            configs,
        }))
    }
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
            Some(NodeState::READY) => SwarmNodeState::Ready,
            Some(NodeState::DOWN) => SwarmNodeState::Down,
            Some(NodeState::DISCONNECTED) => SwarmNodeState::Disconnected,
            _ => SwarmNodeState::Unknown,
        },
        leader: n
            .manager_status
            .as_ref()
            .and_then(|m| m.leader)
            .unwrap_or(false),
        reachability: n.manager_status.as_ref().map(|m| match m.reachability {
            Some(DockerReachability::REACHABLE) => Reachability::Reachable,
            Some(DockerReachability::UNREACHABLE) => Reachability::Unreachable,
            _ => Reachability::Unknown,
        }),
        address: status.addr.unwrap_or_default(),
        os: desc
            .platform
            .as_ref()
            .and_then(|p| p.os.clone())
            .unwrap_or_default(),
        arch: desc
            .platform
            .as_ref()
            .and_then(|p| p.architecture.clone())
            .unwrap_or_default(),
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
                reachability: Some(DockerReachability::REACHABLE),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = node_view(node);
        assert_eq!(
            (v.role, v.availability, v.state, v.leader),
            (
                SwarmRole::Manager,
                Availability::Drain,
                SwarmNodeState::Ready,
                true
            )
        );
        assert_eq!(v.reachability, Some(Reachability::Reachable));
        assert_eq!(
            v.labels,
            vec![NodeLabel {
                key: "zone".into(),
                value: "a".into()
            }]
        );
    }
}

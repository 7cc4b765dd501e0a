//! Swarm-scoped overlay networks: create, remove, and the views a manager reports (with how many
//! services use each).
use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest};
use bollard::query_parameters::{ListNetworksOptionsBuilder, ListServicesOptions};
use domain::network::NetworkView;
use domain::protocol::NetworkCreate;

use super::{CALL_TIMEOUT, Engine, EngineError, SWARM_CALL_TIMEOUT};

impl Engine {
    /// Creates a swarm-scoped overlay network; one that exists already is done.
    pub async fn create_network(&self, req: &NetworkCreate) -> Result<(), EngineError> {
        if self
            .overlay_networks()
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
        self.call("create network", SWARM_CALL_TIMEOUT, async move |d| {
            d.create_network(body).await
        })
        .await
        .map(drop)
    }

    /// Removes an overlay network; a missing one is done. Docker refuses one that is in use.
    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        if !self
            .overlay_networks()
            .await?
            .iter()
            .any(|n| n.name.as_deref() == Some(name))
        {
            return Ok(());
        }
        let name = name.to_owned();
        self.call("remove network", SWARM_CALL_TIMEOUT, async move |d| {
            d.remove_network(&name).await
        })
        .await
    }

    async fn overlay_networks(&self) -> Result<Vec<Network>, EngineError> {
        let filters = HashMap::from([("driver", vec!["overlay"])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        Ok(self
            .call("list networks", CALL_TIMEOUT, async move |d| {
                d.list_networks(Some(options)).await
            })
            .await?
            .into_iter()
            .filter(|n| n.scope.as_deref() == Some("swarm"))
            .collect())
    }

    pub(super) async fn network_views(&self) -> Result<Vec<NetworkView>, EngineError> {
        let services = self
            .call("list services", CALL_TIMEOUT, async |d| {
                d.list_services(None::<ListServicesOptions>).await
            })
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
        let mut views: Vec<NetworkView> = self
            .overlay_networks()
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
}

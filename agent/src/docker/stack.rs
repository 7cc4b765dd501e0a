//! A stack's own objects (networks, secrets, configs: created before its services, removed
//! after them), the versions of the cluster's Global Secrets that services use (created with
//! the stack's objects, kept across stacks, removed once no service uses them), and every secret
//! and config of the swarm as a manager reports them.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::models::{ConfigSpec, NetworkCreateRequest, SecretSpec};
use bollard::query_parameters::{
    ListConfigsOptions, ListConfigsOptionsBuilder, ListNetworksOptionsBuilder, ListSecretsOptions,
    ListSecretsOptionsBuilder, ListServicesOptions, ListServicesOptionsBuilder,
};
use domain::config::objects::ObjectKind;
use domain::swarm::{MAX_REPORTED_OBJECTS, SwarmObject};
use domain::workload::spec::{GLOBAL_SECRET_LABEL, STACK_LABEL, StackObjects};

use base64::Engine as _;

use super::{CALL_TIMEOUT, Engine, EngineError, SWARM_CALL_TIMEOUT};

/// How long removing a stack waits for its tasks to let go of its networks.
const NETWORK_RELEASE: Duration = Duration::from_secs(60);

fn stack_filter(stack: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{STACK_LABEL}={stack}")])])
}

pub(super) fn stack_labels(stack: &str) -> HashMap<String, String> {
    HashMap::from([(STACK_LABEL.to_string(), stack.to_string())])
}

impl Engine {
    /// Creates the stack's networks, secrets and configs, and the Global Secrets' versions its
    /// services use, that do not exist yet.
    pub async fn stack_objects(&self, o: &StackObjects) -> Result<(), EngineError> {
        let networks = self.stack_network_names(&o.stack).await?;
        for n in o.networks.iter().filter(|n| !networks.contains(&n.name)) {
            let body = NetworkCreateRequest {
                name: n.name.clone(),
                driver: Some("overlay".into()),
                scope: Some("swarm".into()),
                attachable: Some(n.attachable),
                internal: Some(n.internal),
                labels: Some(stack_labels(&o.stack)),
                ..Default::default()
            };
            self.call("create network", SWARM_CALL_TIMEOUT, async move |d| {
                d.create_network(body).await
            })
            .await?;
        }
        let secrets = self.secret_ids(Some(&o.stack)).await?;
        for s in o.secrets.iter().filter(|s| !secrets.contains_key(&s.name)) {
            let body = SecretSpec {
                name: Some(s.name.clone()),
                labels: Some(stack_labels(&o.stack)),
                data: Some(base64(s.data.as_bytes())),
                ..Default::default()
            };
            self.call("create secret", CALL_TIMEOUT, async move |d| {
                d.create_secret(body).await
            })
            .await?;
        }
        let all = self.secret_ids(None).await?;
        for g in o
            .global_secrets
            .iter()
            .filter(|g| !all.contains_key(&g.object))
        {
            let body = SecretSpec {
                name: Some(g.object.clone()),
                labels: Some(HashMap::from([(
                    GLOBAL_SECRET_LABEL.to_string(),
                    g.secret.clone(),
                )])),
                data: Some(base64(g.data.as_bytes())),
                ..Default::default()
            };
            self.call("create secret", CALL_TIMEOUT, async move |d| {
                d.create_secret(body).await
            })
            .await?;
        }
        let configs = self.config_ids(Some(&o.stack)).await?;
        for c in o.configs.iter().filter(|c| !configs.contains_key(&c.name)) {
            let body = ConfigSpec {
                name: Some(c.name.clone()),
                labels: Some(stack_labels(&o.stack)),
                data: Some(base64(c.data.as_bytes())),
                ..Default::default()
            };
            self.call("create config", CALL_TIMEOUT, async move |d| {
                d.create_config(body).await
            })
            .await?;
        }
        Ok(())
    }

    /// Removes the stack's services, then (once their tasks let go) its networks, secrets and
    /// configs. What is gone already is done.
    pub async fn remove_stack(&self, stack: &str) -> Result<(), EngineError> {
        let filters = stack_filter(stack);
        let options = ListServicesOptionsBuilder::new().filters(&filters).build();
        let services = self
            .call("list services", CALL_TIMEOUT, async move |d| {
                d.list_services(Some(options)).await
            })
            .await?;
        for id in services.into_iter().filter_map(|s| s.id) {
            match self
                .call("remove service", SWARM_CALL_TIMEOUT, async move |d| {
                    d.delete_service(&id).await
                })
                .await
            {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let deadline = tokio::time::Instant::now() + NETWORK_RELEASE;
        for name in self.stack_network_names(stack).await? {
            loop {
                let n = name.clone();
                match self
                    .call("remove network", SWARM_CALL_TIMEOUT, async move |d| {
                        d.remove_network(&n).await
                    })
                    .await
                {
                    Ok(()) | Err(EngineError::NotFound(_)) => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                    // Tasks are still shutting down and hold an endpoint on it.
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        }
        for id in self.secret_ids(Some(stack)).await?.into_values() {
            self.call("remove secret", CALL_TIMEOUT, async move |d| {
                d.delete_secret(&id).await
            })
            .await
            .or_else(gone)?;
        }
        for id in self.config_ids(Some(stack)).await?.into_values() {
            self.call("remove config", CALL_TIMEOUT, async move |d| {
                d.delete_config(&id).await
            })
            .await
            .or_else(gone)?;
        }
        Ok(())
    }

    /// Removes the Global Secrets' objects that no service uses, except the current versions
    /// (`keep`); answers the names removed. One that a service started to use meanwhile stays.
    pub async fn prune_global_secrets(&self, keep: &[String]) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![GLOBAL_SECRET_LABEL.to_string()])]);
        let options = ListSecretsOptionsBuilder::new().filters(&filters).build();
        let objects: Vec<(String, String)> = self
            .call("list secrets", CALL_TIMEOUT, async move |d| {
                d.list_secrets(Some(options)).await
            })
            .await?
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .filter(|(name, _)| !keep.contains(name))
            .collect();
        if objects.is_empty() {
            return Ok(vec![]);
        }
        let used: HashSet<String> = self
            .call("list services", CALL_TIMEOUT, async move |d| {
                d.list_services(None::<ListServicesOptions>).await
            })
            .await?
            .into_iter()
            .filter_map(|s| s.spec?.task_template?.container_spec?.secrets)
            .flatten()
            .filter_map(|r| r.secret_id)
            .collect();
        let mut removed = vec![];
        for (name, id) in objects.into_iter().filter(|(_, id)| !used.contains(id)) {
            match self
                .call("remove secret", CALL_TIMEOUT, async move |d| {
                    d.delete_secret(&id).await
                })
                .await
            {
                Ok(()) => removed.push(name),
                // Gone already, or in use by a service created meanwhile.
                Err(EngineError::NotFound(_) | EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// The swarm's secrets and configs, each with the services whose spec uses it.
    pub(super) async fn object_views(
        &self,
    ) -> Result<(Vec<SwarmObject>, Vec<SwarmObject>), EngineError> {
        let services = self
            .call("list services", CALL_TIMEOUT, async move |d| {
                d.list_services(None::<ListServicesOptions>).await
            })
            .await?;
        // Object id → the names of the services that use it.
        let mut users: HashMap<String, Vec<String>> = HashMap::new();
        for s in services {
            let Some(spec) = s.spec else { continue };
            let name = spec.name.unwrap_or_default();
            let container = spec
                .task_template
                .and_then(|t| t.container_spec)
                .unwrap_or_default();
            let ids = container
                .secrets
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.secret_id)
                .chain(
                    container
                        .configs
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|r| r.config_id),
                );
            for id in ids {
                users.entry(id).or_default().push(name.clone());
            }
        }
        let view = |id: Option<String>,
                    name: Option<String>,
                    created: Option<String>,
                    labels: Option<HashMap<String, String>>| {
            let labels = labels.unwrap_or_default();
            let mut services = id
                .and_then(|id| users.get(&id).cloned())
                .unwrap_or_default();
            services.sort();
            services.dedup();
            SwarmObject {
                name: name.unwrap_or_default(),
                created_at_ms: created.as_deref().and_then(domain::time::parse_rfc3339_ms),
                stack: labels.get(STACK_LABEL).cloned(),
                global_secret: labels.get(GLOBAL_SECRET_LABEL).cloned(),
                services,
            }
        };
        let mut secrets: Vec<SwarmObject> = self
            .call("list secrets", CALL_TIMEOUT, async move |d| {
                d.list_secrets(None::<ListSecretsOptions>).await
            })
            .await?
            .into_iter()
            .map(|o| {
                let spec = o.spec.unwrap_or_default();
                view(o.id, spec.name, o.created_at, spec.labels)
            })
            .collect();
        let mut configs: Vec<SwarmObject> = self
            .call("list configs", CALL_TIMEOUT, async move |d| {
                d.list_configs(None::<ListConfigsOptions>).await
            })
            .await?
            .into_iter()
            .map(|o| {
                let spec = o.spec.unwrap_or_default();
                view(o.id, spec.name, o.created_at, spec.labels)
            })
            .collect();
        for list in [&mut secrets, &mut configs] {
            list.sort_by(|a, b| a.name.cmp(&b.name));
            list.truncate(MAX_REPORTED_OBJECTS);
        }
        Ok((secrets, configs))
    }

    /// Removes one secret or config by name; a missing one is done.
    pub async fn remove_object(&self, kind: ObjectKind, name: &str) -> Result<(), EngineError> {
        let id = match kind {
            ObjectKind::Secret => self.secret_ids(None).await?.remove(name),
            ObjectKind::Config => self.config_ids(None).await?.remove(name),
        };
        let Some(id) = id else { return Ok(()) };
        match kind {
            ObjectKind::Secret => {
                self.call("remove secret", CALL_TIMEOUT, async move |d| {
                    d.delete_secret(&id).await
                })
                .await
            }
            ObjectKind::Config => {
                self.call("remove config", CALL_TIMEOUT, async move |d| {
                    d.delete_config(&id).await
                })
                .await
            }
        }
        .or_else(gone)
    }

    async fn stack_network_names(&self, stack: &str) -> Result<Vec<String>, EngineError> {
        let filters = stack_filter(stack);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        Ok(self
            .call("list networks", CALL_TIMEOUT, async move |d| {
                d.list_networks(Some(options)).await
            })
            .await?
            .into_iter()
            .filter_map(|n| n.name)
            .collect())
    }

    /// Secret name → id (of one stack, or all).
    pub(super) async fn secret_ids(
        &self,
        stack: Option<&str>,
    ) -> Result<HashMap<String, String>, EngineError> {
        let filters = stack.map(stack_filter).unwrap_or_default();
        let options = ListSecretsOptionsBuilder::new().filters(&filters).build();
        Ok(self
            .call("list secrets", CALL_TIMEOUT, async move |d| {
                d.list_secrets(Some(options)).await
            })
            .await?
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect())
    }

    /// Config name → id (of one stack, or all).
    pub(super) async fn config_ids(
        &self,
        stack: Option<&str>,
    ) -> Result<HashMap<String, String>, EngineError> {
        let filters = stack.map(stack_filter).unwrap_or_default();
        let options = ListConfigsOptionsBuilder::new().filters(&filters).build();
        Ok(self
            .call("list configs", CALL_TIMEOUT, async move |d| {
                d.list_configs(Some(options)).await
            })
            .await?
            .into_iter()
            .filter_map(|c| Some((c.spec?.name?, c.id?)))
            .collect())
    }
}

pub(super) fn gone(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}

pub(super) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"s3cret!"), "czNjcmV0IQ==");
    }
}

//! A stored workload as it is to run now: its version's compose file, its opened secrets, the
//! cluster's Global Secrets and registry credentials, built into the stack objects and service
//! specs sent to a manager (afresh by every step, so a step run again does the same thing).
use domain::workload::compose::{self, ServiceMode};
use domain::workload::spec::{self, RegistryAuth, ServiceSpec, StackObjects};

use crate::ControlError;
use crate::store::{Store, VersionRow, WorkloadRow};
use crate::vault::Vault;

/// The constraint that keeps a stopped global service off every node (Swarm cannot scale a
/// global service to zero).
pub const STOPPED_CONSTRAINT: &str = "node.id == flotilla-stopped";

/// The vault context of a cluster's sealed registry password.
pub fn credential_context(cluster_id: &str, registry: &str) -> String {
    format!("cluster:{cluster_id}:registry:{registry}")
}

/// The vault context of a workload's sealed app secrets.
pub fn secrets_context(workload_id: &str) -> String {
    format!("workload:{workload_id}:secrets")
}

/// The library version a stored workload runs, with its compose file parsed (it parsed when it
/// was added, so a failure here is corrupt data).
pub async fn version_of(
    store: &Store,
    w: &WorkloadRow,
) -> Result<(VersionRow, compose::Compose), ControlError> {
    let version = store
        .version_by_id(&w.version_id)
        .await?
        .ok_or_else(|| ControlError::Corrupt(format!("version of workload {}", w.id)))?;
    let parsed = parsed(&version)?;
    Ok((version, parsed))
}

/// A stored version's compose file, parsed.
pub fn parsed(version: &VersionRow) -> Result<compose::Compose, ControlError> {
    compose::parse(&version.compose).map_err(|e| {
        ControlError::Corrupt(format!("compose file of version {}: {e:?}", version.id))
    })
}

/// The values of a workload's app secrets, opened from the vault.
pub fn open_secrets(vault: &Vault, w: &WorkloadRow) -> Result<Vec<(String, String)>, ControlError> {
    serde_json::from_str(&vault.open(&w.secrets, &secrets_context(&w.id))?)
        .map_err(|e| ControlError::Corrupt(format!("secrets of workload {}: {e}", w.id)))
}

/// The stack objects and service specs of a stored workload, as they are to run now.
pub async fn specs(
    store: &Store,
    vault: &Vault,
    w: &WorkloadRow,
) -> Result<(StackObjects, Vec<ServiceSpec>), ControlError> {
    let (version, compose) = version_of(store, w).await?;
    let secrets = open_secrets(vault, w)?;
    let external: Vec<&str> = compose
        .secrets
        .iter()
        .filter(|d| d.external)
        .map(|d| d.name.as_str())
        .collect();
    let globals = crate::config::open_current(store, vault, &w.cluster_id, &external).await?;
    let (objects, mut services) = spec::build(
        &w.name,
        &version.version,
        &compose,
        &w.choices,
        &secrets,
        &globals,
    );
    // Every node must be able to pull: the registry's credential goes with the service.
    let credentials = store.credentials_of(&w.cluster_id).await?;
    for s in &mut services {
        let from = spec::registry_of(&s.image).unwrap_or(spec::DOCKER_HUB);
        if let Some(c) = credentials.iter().find(|c| c.registry == from) {
            s.registry_auth = Some(RegistryAuth {
                server: c.registry.clone(),
                username: c.username.clone(),
                password: vault
                    .open(&c.password, &credential_context(&w.cluster_id, &c.registry))?,
            });
        }
    }
    if crate::volumes::standby::primary(store, &w.cluster_id)
        .await?
        .is_some()
    {
        crate::volumes::standby::place_on_primary(&mut services);
    }
    if w.stopped {
        for s in &mut services {
            match s.mode {
                ServiceMode::Replicated => s.replicas = Some(0),
                ServiceMode::Global => s.constraints.push(STOPPED_CONSTRAINT.into()),
                ServiceMode::ReplicatedJob | ServiceMode::GlobalJob => {}
            }
        }
    }
    Ok((objects, services))
}

/// The installed apps of a cluster that use any of the Global Secrets `names` (their compose
/// file declares it `external: true` and a service lists it), each with those services' names
/// in the file.
pub async fn secret_users(
    store: &Store,
    cluster_id: &str,
    names: &[&str],
) -> Result<Vec<(WorkloadRow, Vec<String>)>, ControlError> {
    let mut out = vec![];
    for w in store.workloads_of(cluster_id).await? {
        let (_, compose) = version_of(store, &w).await?;
        let mut services: Vec<String> = names
            .iter()
            .flat_map(|n| compose.services_using_external_secret(n))
            .map(str::to_owned)
            .collect();
        services.sort();
        services.dedup();
        if !services.is_empty() {
            out.push((w, services));
        }
    }
    Ok(out)
}

/// The Swarm objects of the cluster's Global Secrets' current versions.
pub async fn current_secret_objects(
    store: &Store,
    cluster_id: &str,
) -> Result<Vec<String>, ControlError> {
    Ok(store
        .secrets(cluster_id)
        .await?
        .into_iter()
        .map(|s| domain::config::secrets::object_name(&s.name, s.version))
        .collect())
}

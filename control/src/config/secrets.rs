//! A cluster's Global Secrets (`domain::config::secrets`): values sealed at rest with the
//! panel's master key (each under its own context, so a sealed value moved to another row does
//! not open); Editors set and replace them but never read them back; Supervisors and
//! Administrators reveal one or export all. Every change (never a value) is audited.
use domain::Permission;
use domain::ValidationError;
use domain::config::secrets::{self, MAX_SECRETS, NewSecret, SecretDraft, SecretView};
use domain::workload::spec::{GlobalSecret, scoped};

use domain::workflow::WorkflowKind;

use super::Configs;
use crate::ControlError;
use crate::auth::Actor;
use crate::store::Store;
use crate::vault::Vault;
use crate::workflow;
use crate::workloads::steps;

/// The vault context of one secret's value.
fn context(cluster_id: &str, name: &str) -> String {
    format!("secret:{cluster_id}:{name}")
}

/// The current versions of the cluster's Global Secrets among `names`, opened, for the specs
/// of the services that use them (names the cluster has no secret of are left out).
pub(crate) async fn open_current(
    store: &Store,
    vault: &Vault,
    cluster_id: &str,
    names: &[&str],
) -> Result<Vec<GlobalSecret>, ControlError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let mut out = vec![];
    for row in store.secrets(cluster_id).await? {
        if names.contains(&row.name.as_str()) {
            out.push(GlobalSecret {
                value: vault.open(&row.value, &context(cluster_id, &row.name))?,
                name: row.name,
                version: row.version,
            });
        }
    }
    Ok(out)
}

impl Configs {
    /// A cluster's secrets, without values.
    pub async fn secrets(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<Vec<SecretView>, ControlError> {
        actor.require(Permission::Read)?;
        self.cluster(cluster_id).await?;
        Ok(self
            .store
            .secrets(cluster_id)
            .await?
            .into_iter()
            .map(|s| SecretView {
                name: s.name,
                version: s.version,
                size_bytes: s.size_bytes,
                updated_by: s.updated_by,
                updated_at_ms: s.updated_at,
            })
            .collect())
    }

    /// One secret's value (Supervisors and Administrators; audited).
    pub async fn reveal_secret(
        &self,
        actor: &Actor,
        cluster_id: &str,
        name: &str,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Supervise)?;
        let row = self
            .store
            .secret(cluster_id, name)
            .await?
            .ok_or(ControlError::NotFound("Secret"))?;
        let value = self.vault.open(&row.value, &context(cluster_id, name))?;
        self.store
            .audit(
                &actor.username,
                "cluster.secret.reveal",
                Some(cluster_id),
                Some(name),
            )
            .await?;
        Ok(value)
    }

    /// Adds a secret (`adding`: its name must be new) or gives an existing one a new value
    /// (its name cannot change); answers its version.
    pub async fn put_secret(
        &self,
        actor: &Actor,
        cluster_id: &str,
        draft: &SecretDraft,
        adding: bool,
    ) -> Result<u64, ControlError> {
        actor.require(Permission::Operate)?;
        let secret = draft.validate().map_err(ControlError::Invalid)?;
        let cluster = self.cluster(cluster_id).await?;
        let exists = self.store.secret(cluster_id, &secret.name).await?.is_some();
        match (adding, exists) {
            (true, true) => {
                return Err(ControlError::Invalid(vec![ValidationError::new(
                    "name",
                    format!("{} has a secret {} already", cluster.name, secret.name),
                )]));
            }
            (false, false) => return Err(ControlError::NotFound("Secret")),
            _ => {}
        }
        if adding && self.store.secrets(cluster_id).await?.len() >= MAX_SECRETS {
            return Err(ControlError::Conflict(format!(
                "{} has {MAX_SECRETS} secrets already: delete one first.",
                cluster.name
            )));
        }
        let versions = self.write_secrets(actor, cluster_id, &[secret]).await?;
        Ok(versions.first().copied().unwrap_or(1))
    }

    /// Imports a `.txt` of `NAME=value` lines: all of them or, when one line is bad, none (the
    /// line is named). Existing names get a new version.
    pub async fn import_secrets(
        &self,
        actor: &Actor,
        cluster_id: &str,
        text: &str,
    ) -> Result<usize, ControlError> {
        actor.require(Permission::Operate)?;
        let list = secrets::parse_txt(text).map_err(ControlError::Invalid)?;
        let cluster = self.cluster(cluster_id).await?;
        let existing: Vec<String> = self
            .store
            .secrets(cluster_id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let added = list.iter().filter(|s| !existing.contains(&s.name)).count();
        if existing.len() + added > MAX_SECRETS {
            return Err(ControlError::Conflict(format!(
                "{} would have more than {MAX_SECRETS} secrets: nothing was imported.",
                cluster.name
            )));
        }
        self.write_secrets(actor, cluster_id, &list).await?;
        Ok(list.len())
    }

    /// Every secret with its value as `NAME=value` lines (Supervisors and Administrators;
    /// audited).
    pub async fn export_secrets(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Supervise)?;
        self.cluster(cluster_id).await?;
        let mut pairs = vec![];
        for row in self.store.secrets(cluster_id).await? {
            let value = self
                .vault
                .open(&row.value, &context(cluster_id, &row.name))?;
            pairs.push((row.name, value));
        }
        self.store
            .audit(
                &actor.username,
                "cluster.secret.export",
                Some(cluster_id),
                Some(&format!("{} secrets", pairs.len())),
            )
            .await?;
        Ok(secrets::export_txt(
            pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        ))
    }

    pub async fn delete_secret(
        &self,
        actor: &Actor,
        cluster_id: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let users = self.services_using(cluster_id, name).await?;
        if !users.is_empty() {
            return Err(ControlError::Conflict(format!(
                "{name} is used by {}: remove it from them (or uninstall them) first.",
                users.join(", ")
            )));
        }
        if !self.store.delete_secret(cluster_id, name).await? {
            return Err(ControlError::NotFound("Secret"));
        }
        self.changed(actor, "cluster.secret.delete", cluster_id, name)
            .await?;
        Ok(())
    }

    /// The Swarm services of the cluster's apps that use the secret `name`.
    async fn services_using(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Vec<String>, ControlError> {
        Ok(
            crate::workloads::specs::secret_users(&self.store, cluster_id, &[name])
                .await?
                .into_iter()
                .flat_map(|(w, services)| services.into_iter().map(move |s| scoped(&w.name, &s)))
                .collect(),
        )
    }

    async fn write_secrets(
        &self,
        actor: &Actor,
        cluster_id: &str,
        list: &[NewSecret],
    ) -> Result<Vec<u64>, ControlError> {
        let mut sealed = vec![];
        for s in list {
            sealed.push((
                s.name.clone(),
                self.vault.seal(&s.value, &context(cluster_id, &s.name))?,
                s.value.len() as u64,
            ));
        }
        // The services that use them roll to the new versions.
        let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        let users = crate::workloads::specs::secret_users(&self.store, cluster_id, &names).await?;
        let flow = if users.is_empty() {
            None
        } else {
            Some(workflow::plan(
                cluster_id,
                WorkflowKind::ApplySecrets,
                &steps::secrets_plan(&users),
            )?)
        };
        let versions = self
            .store
            .put_secrets(cluster_id, &sealed, &actor.username, flow.as_ref())
            .await?;
        let detail = list
            .iter()
            .zip(&versions)
            .map(|(s, v)| format!("{} v{v}", s.name))
            .collect::<Vec<_>>()
            .join(", ");
        self.changed(actor, "cluster.secret.set", cluster_id, &detail)
            .await?;
        if let Some(flow) = flow {
            self.engine.spawn(flow.id);
        }
        Ok(versions)
    }
}

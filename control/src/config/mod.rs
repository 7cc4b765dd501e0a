//! A cluster's own configuration, kept on every member node: the Global Config (one JSON
//! document, `domain::config::global`) and the Global Secrets ([`secrets`]).
//!
//! Every save is a new version (who, when, how: edited, uploaded, reset, restored) stored
//! whole, so any version can be restored and the history lists what changed between two. A save
//! names the version it was based on; when somebody saved meanwhile it is refused (nothing is
//! lost silently). Named saves keep documents for later without applying them.
//!
//! Delivery ([`sync`]) is a reconciliation, not a workflow: each member node's agent reports the
//! version it holds in its facts, and the panel sends the current version to any online member
//! that holds another one — right after a save, when a node connects or reports, and in a
//! periodic sweep — so a node that was away catches up by itself.
mod objects;
mod secrets;
mod sync;

pub(crate) use secrets::open_current;

use std::collections::HashMap;

use domain::Permission;
use domain::config::global::{
    self, ConfigVersion, EMPTY, GlobalConfigView, MAX_SAVED, NodeSync, Origin,
};
use domain::event::UiEvent;

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::{Gateway, Observed};
use crate::store::{ClusterRow, Store};
use crate::vault::Vault;
use crate::workflow::Engine;

/// Versions listed in the history.
const HISTORY: u32 = 50;

#[derive(Clone)]
pub struct Configs {
    store: Store,
    gateway: Gateway,
    observed: Observed,
    events: Events,
    vault: Vault,
    engine: Engine,
    inflight: sync::Inflight,
}

impl Configs {
    pub fn new(
        store: Store,
        (gateway, observed): (Gateway, Observed),
        events: Events,
        vault: Vault,
        engine: Engine,
    ) -> Self {
        Self {
            store,
            gateway,
            observed,
            events,
            vault,
            engine,
            inflight: sync::Inflight::default(),
        }
    }

    /// Records a change of a cluster's configuration (never a secret's value) and tells the
    /// open browsers.
    async fn changed(
        &self,
        actor: &Actor,
        action: &str,
        cluster_id: &str,
        detail: &str,
    ) -> Result<(), ControlError> {
        self.store
            .audit(&actor.username, action, Some(cluster_id), Some(detail))
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }

    async fn cluster(&self, id: &str) -> Result<ClusterRow, ControlError> {
        self.store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))
    }

    /// The current document, its version, each member node's state and the named saves.
    pub async fn view(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<GlobalConfigView, ControlError> {
        actor.require(Permission::Read)?;
        self.cluster(cluster_id).await?;
        let current = self.store.config_current(cluster_id).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        let failures: HashMap<String, (u64, String)> = self
            .store
            .config_failures(cluster_id)
            .await?
            .into_iter()
            .map(|f| (f.node_id, (f.version, f.message)))
            .collect();
        let mut nodes = vec![];
        for member in self.store.members(cluster_id).await? {
            let Some(node) = self.store.node_by_id(&member.node_id).await? else {
                continue;
            };
            let held = node.facts().and_then(|f| f.global_config);
            let failed = failures.get(&member.node_id).map(|(v, m)| (*v, m.as_str()));
            nodes.push(NodeSync {
                online: self.gateway.is_online(&member.node_id).is_some(),
                version: held
                    .as_ref()
                    .filter(|h| h.cluster_id == cluster_id)
                    .map(|h| h.version),
                state: global::sync_state(cluster_id, version, held.as_ref(), failed),
                node_id: member.node_id,
                hostname: node.hostname,
            });
        }
        Ok(GlobalConfigView {
            version,
            document: current
                .as_ref()
                .map_or_else(|| EMPTY.to_owned(), |c| c.document.clone()),
            updated_by: current
                .as_ref()
                .map(|c| c.saved_by.clone())
                .unwrap_or_default(),
            updated_at_ms: current.as_ref().map_or(0, |c| c.saved_at),
            nodes,
            saved: self.store.config_saved_names(cluster_id).await?,
        })
    }

    /// The newest versions, each with what changed from the one before.
    pub async fn history(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<Vec<ConfigVersion>, ControlError> {
        actor.require(Permission::Read)?;
        self.cluster(cluster_id).await?;
        let rows = self.store.config_versions(cluster_id, HISTORY + 1).await?;
        Ok(rows
            .iter()
            .enumerate()
            .take(HISTORY as usize)
            .map(|(i, row)| {
                let before = rows.get(i + 1).map_or(EMPTY, |r| r.document.as_str());
                let (changes, more_changes) = global::changes(before, &row.document);
                ConfigVersion {
                    version: row.version,
                    saved_by: row.saved_by.clone(),
                    saved_at_ms: row.saved_at,
                    origin: row.origin.describe(),
                    changes,
                    more_changes,
                }
            })
            .collect())
    }

    /// One version's whole document (to look at or download).
    pub async fn version_document(
        &self,
        actor: &Actor,
        cluster_id: &str,
        version: u64,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Read)?;
        if version == 0 {
            self.cluster(cluster_id).await?;
            return Ok(EMPTY.to_owned());
        }
        Ok(self
            .store
            .config_version(cluster_id, version)
            .await?
            .ok_or(ControlError::NotFound("Version"))?
            .document)
    }

    /// Saves an edited or uploaded document as the next version after `base`.
    pub async fn save(
        &self,
        actor: &Actor,
        cluster_id: &str,
        base: u64,
        document: &str,
        uploaded: bool,
    ) -> Result<u64, ControlError> {
        actor.require(Permission::Operate)?;
        let document = global::validate(document).map_err(ControlError::Validation)?;
        let origin = if uploaded {
            Origin::Uploaded
        } else {
            Origin::Edited
        };
        self.commit(actor, cluster_id, base, &document, origin)
            .await
    }

    /// Makes an older version's document the next version.
    pub async fn restore(
        &self,
        actor: &Actor,
        cluster_id: &str,
        base: u64,
        version: u64,
    ) -> Result<u64, ControlError> {
        actor.require(Permission::Operate)?;
        let document = self.version_document(actor, cluster_id, version).await?;
        self.commit(
            actor,
            cluster_id,
            base,
            &document,
            Origin::Restored { version },
        )
        .await
    }

    /// Empties the document (a new version, `{}`).
    pub async fn reset(
        &self,
        actor: &Actor,
        cluster_id: &str,
        base: u64,
    ) -> Result<u64, ControlError> {
        actor.require(Permission::Operate)?;
        self.commit(actor, cluster_id, base, EMPTY, Origin::Reset)
            .await
    }

    async fn commit(
        &self,
        actor: &Actor,
        cluster_id: &str,
        base: u64,
        document: &str,
        origin: Origin,
    ) -> Result<u64, ControlError> {
        let cluster = self.cluster(cluster_id).await?;
        let current = self.store.config_current(cluster_id).await?;
        let newest = current.as_ref().map_or(0, |c| c.version);
        if newest != base {
            let by = current.map(|c| c.saved_by).unwrap_or_default();
            return Err(ControlError::Conflict(format!(
                "{} is at v{newest} now (saved by {by}) and you edited v{base}: reload it and \
                 apply your change again.",
                cluster.name
            )));
        }
        let same = current
            .as_ref()
            .map_or(document == EMPTY, |c| c.document == document);
        if same {
            return Ok(newest);
        }
        if !self
            .store
            .insert_config_version(cluster_id, base, document, &origin, &actor.username)
            .await?
        {
            return Err(ControlError::Conflict(format!(
                "{} was saved by somebody else at the same moment: reload it and apply your \
                 change again.",
                cluster.name
            )));
        }
        let version = base + 1;
        let detail = format!("v{version} ({})", origin.describe());
        self.changed(actor, "cluster.config.save", cluster_id, &detail)
            .await?;
        tracing::info!(cluster = %cluster.name, version, by = %actor.username, "global config saved");
        self.spawn_push_cluster(cluster_id.to_owned(), sync::Reach::Online);
        Ok(version)
    }

    /// Keeps a document under a name (replacing one of that name), without applying it.
    pub async fn save_named(
        &self,
        actor: &Actor,
        cluster_id: &str,
        name: &str,
        document: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let mut errors = vec![];
        let name = global::validate_name(name).map_err(|e| errors.push(e)).ok();
        let document = global::validate(document).map_err(|e| errors.push(e)).ok();
        let (Some(name), Some(document)) = (name, document) else {
            return Err(ControlError::Invalid(errors));
        };
        let cluster = self.cluster(cluster_id).await?;
        let names = self.store.config_saved_names(cluster_id).await?;
        if names.len() >= MAX_SAVED && !names.contains(&name) {
            return Err(ControlError::Conflict(format!(
                "{} has {MAX_SAVED} saved configs already: delete one first.",
                cluster.name
            )));
        }
        self.store
            .upsert_config_saved(cluster_id, &name, &document, &actor.username)
            .await?;
        self.changed(actor, "cluster.config.save-as", cluster_id, &name)
            .await?;
        Ok(())
    }

    /// A named save's document (the editor loads it; applying it is a save).
    pub async fn named(
        &self,
        actor: &Actor,
        cluster_id: &str,
        name: &str,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Read)?;
        self.store
            .config_saved(cluster_id, name)
            .await?
            .ok_or(ControlError::NotFound("Saved config"))
    }

    pub async fn delete_named(
        &self,
        actor: &Actor,
        cluster_id: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        if !self.store.delete_config_saved(cluster_id, name).await? {
            return Err(ControlError::NotFound("Saved config"));
        }
        self.changed(actor, "cluster.config.delete-saved", cluster_id, name)
            .await?;
        Ok(())
    }
}

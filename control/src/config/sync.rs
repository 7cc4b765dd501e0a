//! Delivery of the Global Config to member nodes: the current version goes to every online
//! member whose agent reports another one. Triggers: a save (all members at once), a node's
//! hello or new facts (that node), and a sweep every [`SWEEP`] (retries after failures and
//! anything an event missed). A node's write failure is kept with the agent's words until it
//! holds the version.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::config::global::{self, EMPTY};
use domain::event::UiEvent;
use domain::protocol::{Command, Outcome};
use tokio::sync::broadcast::error::RecvError;

use super::Configs;
use crate::ControlError;
use crate::error::chain;

/// How long one node may take to write a version.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often every cluster's members are checked.
const SWEEP: Duration = Duration::from_secs(15);

/// Which members a push goes to. With panel replicas, a save reaches every online member
/// (through the replica holding it), while the sweep and node events are each replica's own
/// business for the sessions it holds, so that no version is sent once per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reach {
    Online,
    Held,
}

/// Pushes under way, by node and version, so a sweep does not send the same one twice.
#[derive(Clone, Default)]
pub(super) struct Inflight(Arc<Mutex<HashSet<(String, u64)>>>);

impl Inflight {
    fn start(&self, node_id: &str, version: u64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((node_id.to_owned(), version))
    }

    fn end(&self, node_id: &str, version: u64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(node_id.to_owned(), version));
    }
}

impl Configs {
    /// Sends the current version to every member of a cluster that needs it, in the background.
    pub(super) fn spawn_push_cluster(&self, cluster_id: String, reach: Reach) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.reconcile_cluster(&cluster_id, reach).await {
                tracing::error!(cluster = %cluster_id, error = %chain(&e), "global config sync failed");
            }
        });
    }

    async fn reconcile_cluster(&self, cluster_id: &str, reach: Reach) -> Result<(), ControlError> {
        let members = self.store.members(cluster_id).await?;
        let mut pushes = tokio::task::JoinSet::new();
        for member in members {
            let this = self.clone();
            let cluster_id = cluster_id.to_owned();
            pushes.spawn(async move {
                this.reconcile_node(&cluster_id, &member.node_id, reach)
                    .await
            });
        }
        while let Some(done) = pushes.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::error!(cluster = %cluster_id, error = %chain(&e), "global config sync failed");
            }
        }
        Ok(())
    }

    /// Sends the cluster's current version to one node if it is online (within `reach`) and
    /// holds another.
    async fn reconcile_node(
        &self,
        cluster_id: &str,
        node_id: &str,
        reach: Reach,
    ) -> Result<(), ControlError> {
        let within = match reach {
            Reach::Online => self.gateway.is_online(node_id).is_some(),
            Reach::Held => self.gateway.holds(node_id),
        };
        if !within {
            return Ok(());
        }
        let current = self.store.config_current(cluster_id).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        let held = self
            .store
            .node_by_id(node_id)
            .await?
            .and_then(|n| n.facts())
            .and_then(|f| f.global_config);
        if global::sync_state(cluster_id, version, held.as_ref(), None) == global::SyncState::Synced
        {
            return Ok(());
        }
        if !self.inflight.start(node_id, version) {
            return Ok(());
        }
        let command = Command::GlobalConfig {
            cluster_id: cluster_id.to_owned(),
            version,
            document: current.map_or_else(|| EMPTY.to_owned(), |c| c.document),
        };
        let answer = self.gateway.command(node_id, command, WRITE_TIMEOUT).await;
        self.inflight.end(node_id, version);
        let failure = match &answer {
            Ok(Outcome::Done { .. }) => None,
            Ok(Outcome::Failed { message }) => {
                tracing::warn!(node = %node_id, version, error = %message, "a node could not write the global config");
                Some((version, message.as_str()))
            }
            // Offline or slow: still pending; it is sent again when the node reports.
            Err(e) => {
                tracing::info!(node = %node_id, version, error = %e, "global config not delivered yet");
                return Ok(());
            }
        };
        self.store
            .set_config_failure(cluster_id, node_id, failure)
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }

    /// Keeps every member node on its cluster's current version: on each node event (hello,
    /// facts) and every [`SWEEP`].
    pub fn spawn_sync(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let mut events = self.events.subscribe();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(SWEEP);
            loop {
                tokio::select! {
                    _ = sweep.tick() => this.sweep().await,
                    event = events.recv() => match event {
                        Ok(UiEvent::Node { id }) => {
                            let this = this.clone();
                            tokio::spawn(async move { this.node_changed(&id).await });
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => this.sweep().await,
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        })
    }

    async fn node_changed(&self, node_id: &str) {
        let cluster = match self.store.cluster_id_of_node(node_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(node = %node_id, error = %chain(&e), "global config sync failed");
                return;
            }
        };
        if let Err(e) = self.reconcile_node(&cluster, node_id, Reach::Held).await {
            tracing::error!(node = %node_id, error = %chain(&e), "global config sync failed");
        }
    }

    async fn sweep(&self) {
        let clusters = match self.store.clusters().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %chain(&e), "global config sweep failed");
                return;
            }
        };
        for cluster in clusters {
            self.spawn_push_cluster(cluster.id, Reach::Held);
        }
    }
}

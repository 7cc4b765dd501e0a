//! Workloads: apps and AI models, from the library onto clusters. One room, one file per concern:
//! * [`library`]: apps and models with their versions (compose files);
//! * [`install`]: install, uninstall and the logs of an installed app;
//! * [`credentials`]: registry credentials, checked on every node and given to the services;
//! * [`steps`]: what the install and uninstall workflows do, run by the workflow engine;
//! * [`specs`]: a stored workload built into the objects and service specs a manager runs;
//! * [`view`]: the installed apps of a cluster with their services and tasks, as Swarm reports.
mod credentials;
mod install;
mod library;
pub mod specs;
pub mod steps;
mod view;

use std::sync::Arc;

use domain::event::UiEvent;
use domain::swarm::SwarmSnapshot;

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::{Gateway, Observed};
use crate::store::{ClusterRow, MemberRow, Store};
use crate::vault::Vault;
use crate::workflow::{Capability, Engine};

#[derive(Clone)]
pub struct Workloads {
    store: Store,
    events: Events,
    gateway: Gateway,
    observed: Observed,
    engine: Engine,
    vault: Vault,
}

impl Workloads {
    pub fn new(
        store: Store,
        events: Events,
        gateway: Gateway,
        observed: Observed,
        engine: Engine,
        vault: Vault,
    ) -> Self {
        engine.register(
            Capability::Workloads,
            Arc::new(steps::WorkloadSteps {
                store: store.clone(),
                gateway: gateway.clone(),
                vault: vault.clone(),
                events: events.clone(),
                observed: observed.clone(),
            }),
        );
        Self {
            store,
            events,
            gateway,
            observed,
            engine,
            vault,
        }
    }

    /// Records a change in the audit log and tells open browsers.
    async fn changed(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: Option<&str>,
        event: UiEvent,
    ) -> Result<(), ControlError> {
        self.store
            .audit(&actor.username, action, Some(target), detail)
            .await?;
        self.events.publish(event);
        Ok(())
    }

    /// A cluster, its members and its swarm as the managers report it.
    async fn cluster(
        &self,
        id: &str,
    ) -> Result<(ClusterRow, Vec<MemberRow>, Option<SwarmSnapshot>), ControlError> {
        let cluster = self
            .store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))?;
        let members = self.store.members(id).await?;
        let snapshot = self.observed.swarm_of(&cluster, &members);
        Ok((cluster, members, snapshot))
    }
}

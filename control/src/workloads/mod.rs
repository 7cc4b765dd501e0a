//! Workloads: the library of apps and models (`library`), and — next — installing them on
//! clusters as Swarm services through the workflow engine.
mod library;

use domain::event::UiEvent;

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::store::Store;

#[derive(Clone)]
pub struct Workloads {
    store: Store,
    events: Events,
}

impl Workloads {
    pub fn new(store: Store, events: Events) -> Self {
        Self { store, events }
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
}

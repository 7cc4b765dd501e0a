//! Change notifications for open browsers. With panel replicas, what one replica publishes is
//! relayed to the others ([`crate::replicas`]), which publish it to their browsers with
//! [`Events::publish_here`].
use std::sync::{Arc, OnceLock};

use domain::event::UiEvent;
use tokio::sync::broadcast;

type Relay = Box<dyn Fn(&UiEvent) + Send + Sync>;

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<UiEvent>,
    relay: Arc<OnceLock<Relay>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("relayed", &self.relay.get().is_some())
            .finish()
    }
}

impl Events {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            relay: Arc::default(),
        }
    }

    /// Fire and forget: nobody listening is fine. Other replicas hear it too.
    pub fn publish(&self, event: UiEvent) {
        if let Some(relay) = self.relay.get() {
            relay(&event);
        }
        self.publish_here(event);
    }

    /// Tells this process's browsers only (an event another replica relayed).
    pub fn publish_here(&self, event: UiEvent) {
        let _ = self.tx.send(event);
    }

    /// Hands every later [`Events::publish`] to `relay` as well (set once, by the replicas).
    pub fn relay_to(&self, relay: impl Fn(&UiEvent) + Send + Sync + 'static) {
        if self.relay.set(Box::new(relay)).is_err() {
            tracing::warn!("a second event relay was ignored");
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<UiEvent> {
        self.tx.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

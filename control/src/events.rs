//! Change notifications for open browsers.
use domain::event::UiEvent;
use tokio::sync::broadcast;

#[derive(Clone, Debug)]
pub struct Events {
    tx: broadcast::Sender<UiEvent>,
}

impl Events {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
        }
    }

    /// Fire and forget: nobody listening is fine.
    pub fn publish(&self, event: UiEvent) {
        let _ = self.tx.send(event);
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

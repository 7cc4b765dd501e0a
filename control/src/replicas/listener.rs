//! The replica's listening connection: wake-ups from the bus and from its own channel.
use std::time::Duration;

use sqlx::postgres::{PgListener, PgNotification};

use super::relay::Bus;
use super::{BUS, Replicas, channel};
use crate::events::Events;
use crate::gateway::{Gateway, Observed};

impl Replicas {
    /// Listens until the process ends, reconnecting (and catching up) when the connection drops.
    pub(super) async fn listen(self, gateway: Gateway, observed: Observed, events: Events) {
        let mine = channel(&self.inner.id);
        let mut delay = Duration::from_millis(200);
        loop {
            let mut listener = match self.connect(&mine).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "replica could not listen to the database; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            delay = Duration::from_millis(200);
            self.catch_up(&gateway, &observed, &events).await;
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => self.dispatch(&n, &gateway, &observed, &events).await,
                    // The connection dropped; try_recv reconnects next time. What was sent
                    // meanwhile is lost: read it from the tables.
                    Ok(None) => self.catch_up(&gateway, &observed, &events).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "replica's listening connection failed");
                        break;
                    }
                }
            }
        }
    }

    async fn connect(&self, mine: &str) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect(&self.inner.database_url).await?;
        listener.listen_all([BUS, mine]).await?;
        Ok(listener)
    }

    /// Reads what notifications may have announced while nobody listened: the sessions first,
    /// as observations count only for nodes held where they were written.
    async fn catch_up(&self, gateway: &Gateway, observed: &Observed, events: &Events) {
        self.refresh(gateway, observed, events).await;
        self.load_observed(gateway, observed, None).await;
        let store = &self.inner.store;
        match store.commands_for(&self.inner.id).await {
            Ok(ids) => {
                for id in ids {
                    let (me, gw) = (self.clone(), gateway.clone());
                    tokio::spawn(async move { me.run_command(&gw, &id).await });
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not read waiting commands")
            }
        }
        match store.results_for(&self.inner.id).await {
            Ok(ids) => {
                for id in ids {
                    self.take_answer(&id).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not read waiting answers")
            }
        }
    }

    /// Acts on one notification. What a bus notice announces is read before its browser events
    /// go out, so that a page refreshing on them reads the new state.
    async fn dispatch(
        &self,
        n: &PgNotification,
        gateway: &Gateway,
        observed: &Observed,
        events: &Events,
    ) {
        let payload = n.payload();
        if n.channel() != BUS {
            let me = self.clone();
            if let Some(id) = payload.strip_prefix("c:") {
                let (id, gw) = (id.to_owned(), gateway.clone());
                tokio::spawn(async move { me.run_command(&gw, &id).await });
            } else if let Some(id) = payload.strip_prefix("r:") {
                let id = id.to_owned();
                tokio::spawn(async move { me.take_answer(&id).await });
            } else {
                tracing::warn!(payload, "unknown notice on the replica's channel");
            }
            return;
        }
        let bus: Bus = match serde_json::from_str(payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable notice on the replicas' bus");
                return;
            }
        };
        if bus.from == self.inner.id {
            return;
        }
        if bus.left {
            self.refresh(gateway, observed, events).await;
        } else if !bus.presence.is_empty() {
            self.refresh_nodes(&bus.presence, gateway, observed, events)
                .await;
        }
        for node in &bus.observed {
            self.load_observed(gateway, observed, Some(node)).await;
        }
        if !bus.observed.is_empty() {
            events.publish_here(domain::event::UiEvent::Cluster { id: String::new() });
        }
        for event in bus.ui {
            events.publish_here(event);
        }
    }
}

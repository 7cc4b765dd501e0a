//! Commands to agents: sent over the session this process holds and answered by the agent's
//! `CommandResult` frame, or through the panel replica that holds the session.
use std::collections::HashMap;
use std::time::Duration;

use domain::protocol::{Command, Envelope, Outcome, PanelMessage};
use tokio::sync::oneshot;

use super::Gateway;
use crate::ControlError;

/// A command waiting for its result, and the node it was sent to (only that node may answer).
pub(super) struct Pending {
    node_id: String,
    done: oneshot::Sender<Outcome>,
}

impl Gateway {
    /// Sends a command and waits for its result (or `timeout`), through the replica that
    /// holds the node's session when it is not this one.
    pub async fn command(
        &self,
        node_id: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<Outcome, ControlError> {
        if !self.holds(node_id)
            && let Some(r) = &self.replicas
            && let Some(answer) = r.command(node_id, &command, timeout).await
        {
            return answer;
        }
        self.command_here(node_id, command, timeout).await
    }

    /// Sends a command over the session this process holds and waits for its result.
    pub(crate) async fn command_here(
        &self,
        node_id: &str,
        command: Command,
        timeout: Duration,
    ) -> Result<Outcome, ControlError> {
        let tx = self
            .lock_live()
            .get(node_id)
            .map(|l| l.tx.clone())
            .ok_or_else(|| ControlError::Unavailable("The node is offline.".into()))?;
        let id = format!("c-{}", uuid::Uuid::new_v4());
        let (done, wait) = oneshot::channel();
        self.lock_pending().insert(
            id.clone(),
            Pending {
                node_id: node_id.to_owned(),
                done,
            },
        );
        let frame = Envelope::new(id.clone(), PanelMessage::Command(command)).encode();
        if tx.send(frame).await.is_err() {
            self.lock_pending().remove(&id);
            return Err(ControlError::Unavailable("The node disconnected.".into()));
        }
        let result = tokio::time::timeout(timeout, wait).await;
        self.lock_pending().remove(&id);
        match result {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(ControlError::Unavailable("The node disconnected.".into())),
            Err(_) => Err(ControlError::Unavailable(format!(
                "The node did not answer within {} s.",
                timeout.as_secs()
            ))),
        }
    }

    /// Hands a result to the command waiting for it, if it was sent to this node.
    pub(super) fn resolve(&self, node_id: &str, id: &str, outcome: Outcome) {
        let mut pending = self.lock_pending();
        match pending.get(id) {
            Some(p) if p.node_id == node_id => {
                if let Some(p) = pending.remove(id) {
                    let _ = p.done.send(outcome);
                }
            }
            Some(_) => {
                tracing::warn!(node = %node_id, command = id, "result for another node's command ignored")
            }
            None => tracing::debug!(command = id, "result for an unknown or timed-out command"),
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

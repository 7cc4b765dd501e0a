//! A command for an agent whose session another replica holds: stored (sealed) in
//! `agent_commands`, announced on the holder's channel; the holder sends it over the session and
//! stores the sealed answer in `agent_results`, announced on the sender's channel.
use std::time::Duration;

use domain::protocol::{Command, Outcome};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Replicas, channel};
use crate::ControlError;
use crate::gateway::Gateway;
use crate::secret::now_ms;

/// Extra time the sender waits beyond the agent's timeout (two hops through the database).
const ROUTE_SLACK: Duration = Duration::from_secs(2);

/// What the holding replica answers.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Answer {
    Done(Outcome),
    Unavailable(String),
}

fn command_context(id: &str) -> String {
    format!("agent-command {id}")
}

fn answer_context(id: &str) -> String {
    format!("agent-result {id}")
}

impl Replicas {
    /// Sends `command` to `node_id` through the replica holding its session; `None` when no
    /// other replica holds it.
    pub(crate) async fn command(
        &self,
        node_id: &str,
        command: &Command,
        timeout: Duration,
    ) -> Option<Result<Outcome, ControlError>> {
        let holder = self.lock_mirror().holder(node_id)?.to_owned();
        Some(self.route(node_id, &holder, command, timeout).await)
    }

    async fn route(
        &self,
        node_id: &str,
        holder: &str,
        command: &Command,
        timeout: Duration,
    ) -> Result<Outcome, ControlError> {
        let me = &self.inner;
        let id = format!("c-{}", uuid::Uuid::new_v4());
        let json = serde_json::to_string(command)
            .map_err(|e| ControlError::Unavailable(format!("command not encodable: {e}")))?;
        let body = me.vault.seal(&json, &command_context(&id))?;
        let (done, wait) = oneshot::channel();
        self.lock_waiting().insert(id.clone(), done);
        let sent = me
            .store
            .put_command(
                &id,
                node_id,
                (holder, &channel(holder)),
                &me.id,
                &body,
                timeout.as_millis() as i64,
                now_ms(),
            )
            .await;
        if let Err(e) = sent {
            self.lock_waiting().remove(&id);
            return Err(e);
        }
        let answer = tokio::time::timeout(timeout + ROUTE_SLACK, wait).await;
        self.lock_waiting().remove(&id);
        match answer {
            Ok(Ok(Answer::Done(outcome))) => Ok(outcome),
            Ok(Ok(Answer::Unavailable(message))) => Err(ControlError::Unavailable(message)),
            Ok(Err(_)) | Err(_) => {
                if let Err(e) = me.store.drop_command(&id).await {
                    tracing::warn!(command = %id, error = %crate::error::chain(&e), "could not drop a timed-out command");
                }
                Err(ControlError::Unavailable(format!(
                    "The node did not answer within {} s.",
                    timeout.as_secs()
                )))
            }
        }
    }

    /// Runs command `id` if it is addressed here: over the node's session, answering the sender.
    pub(super) async fn run_command(&self, gateway: &Gateway, id: &str) {
        if let Err(e) = self.try_run_command(gateway, id).await {
            tracing::error!(command = %id, error = %crate::error::chain(&e), "a command from another replica failed here");
        }
    }

    async fn try_run_command(&self, gateway: &Gateway, id: &str) -> Result<(), ControlError> {
        let me = &self.inner;
        let Some(row) = me.store.take_command(id, &me.id).await? else {
            return Ok(()); // taken already, or given up by its sender
        };
        let answer = match me
            .vault
            .open(&row.body, &command_context(id))
            .and_then(|json| {
                serde_json::from_str::<Command>(&json)
                    .map_err(|e| ControlError::Vault(format!("command {id} does not decode: {e}")))
            }) {
            Err(e) => {
                tracing::error!(command = %id, error = %crate::error::chain(&e), "a command from another replica does not open");
                Answer::Unavailable(
                    "The panel replica holding the node could not read the command.".into(),
                )
            }
            Ok(command) => {
                let timeout = Duration::from_millis(row.timeout_ms.max(0) as u64);
                match gateway.command_here(&row.node_id, command, timeout).await {
                    Ok(outcome) => Answer::Done(outcome),
                    Err(ControlError::Unavailable(m)) => Answer::Unavailable(m),
                    Err(e) => {
                        tracing::error!(command = %id, error = %crate::error::chain(&e), "command for another replica failed");
                        Answer::Unavailable("The panel replica holding the node failed.".into())
                    }
                }
            }
        };
        let json = serde_json::to_string(&answer)
            .map_err(|e| ControlError::Vault(format!("answer not encodable: {e}")))?;
        let body = me.vault.seal(&json, &answer_context(id))?;
        me.store
            .put_result(id, (&row.origin, &channel(&row.origin)), &body, now_ms())
            .await
    }

    /// Hands the stored answer to command `id` to the caller waiting here.
    pub(super) async fn take_answer(&self, id: &str) {
        let me = &self.inner;
        let answer = match me.store.take_result(id, &me.id).await {
            Ok(Some(body)) => me.vault.open(&body, &answer_context(id)).and_then(|json| {
                serde_json::from_str::<Answer>(&json)
                    .map_err(|e| ControlError::Vault(format!("answer {id} does not decode: {e}")))
            }),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let answer = answer.unwrap_or_else(|e| {
            tracing::error!(command = %id, error = %crate::error::chain(&e), "an answer from another replica could not be read");
            Answer::Unavailable("The answer from the node's panel replica could not be read.".into())
        });
        if let Some(done) = self.lock_waiting().remove(id) {
            let _ = done.send(answer);
        }
    }
}

/// Callers here waiting for answers from other replicas, by command id.
pub(super) type Waiting = std::collections::HashMap<String, oneshot::Sender<Answer>>;

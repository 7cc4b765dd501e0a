//! The cluster volume's gates for maintenance: a node that holds a copy goes down only while
//! every copy is whole, and the next one only once the returning copy has caught up, so two copies
//! are never missing at once (docs/volumes.md, "Maintenance"). They read the copies as the holders
//! report them (after every heartbeat, else with their facts: GlusterFS's heal summary, read by
//! each holder every 10 s). A firmware rollout and an operator's drain of a holder use them.
use std::time::Duration;

use domain::protocol::Command;
use domain::storage::REPLICAS;
use futures_util::future::join_all;

use crate::ControlError;
use crate::gateway::Gateway;
use crate::store::{MemberRow, Store};

/// How long a holder may take to send its facts when asked.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often [`wait_whole`] asks the holders again.
const WHOLE_POLL: Duration = Duration::from_secs(5);

/// Why the copies are not whole now, as the holders (the first [`REPLICAS`] members) last
/// reported them: None when every holder is online and reports every copy answering with
/// nothing left to heal.
pub async fn not_whole(
    store: &Store,
    gateway: &Gateway,
    members: &[MemberRow],
) -> Result<Option<String>, ControlError> {
    for m in members.iter().take(REPLICAS) {
        let Some(node) = store.node_by_id(&m.node_id).await? else {
            return Ok(Some("a node that holds a copy is gone".into()));
        };
        if gateway.is_online(&m.node_id).is_none() {
            return Ok(Some(format!(
                "{} (it holds a copy) is not online",
                node.hostname
            )));
        }
        // The holder's last heartbeat when it is current, else its facts.
        let copies = match gateway
            .observed()
            .volume_of(&m.node_id, gateway.current_since())
        {
            Some(beat) => beat.copies,
            None => node.facts().and_then(|f| f.storage.copies),
        };
        match copies {
            None => {
                return Ok(Some(format!(
                    "{} has not reported the volume's copies yet",
                    node.hostname
                )));
            }
            Some(c) if !c.whole() => {
                return Ok(Some(format!(
                    "the cluster volume: {} (as {} sees it)",
                    c.describe(),
                    node.hostname
                )));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Asks the holders to send their facts now (with their newest reading of the copies); one
/// that does not answer is left to [`not_whole`] to name.
pub async fn refresh(gateway: &Gateway, members: &[MemberRow]) {
    let asks = members
        .iter()
        .take(REPLICAS)
        .map(|m| gateway.command(&m.node_id, Command::RefreshFacts, REFRESH_TIMEOUT));
    for (m, answer) in members.iter().zip(join_all(asks).await) {
        if let Err(e) = answer {
            tracing::debug!(node = %m.node_id, error = %e, "a volume holder did not send its facts");
        }
    }
}

/// Waits until the copies are whole (see [`not_whole`]), asking the holders for their newest
/// reading every [`WHOLE_POLL`]; after `wait`, `Some` says why they still are not.
pub async fn wait_whole(
    store: &Store,
    gateway: &Gateway,
    members: &[MemberRow],
    wait: Duration,
) -> Result<Option<String>, ControlError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        refresh(gateway, members).await;
        let why = not_whole(store, gateway, members).await?;
        if why.is_none() || tokio::time::Instant::now() >= deadline {
            return Ok(why);
        }
        tokio::time::sleep(WHOLE_POLL).await;
    }
}

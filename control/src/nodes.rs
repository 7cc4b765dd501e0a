//! Node queries for the UI (stored facts merged with live presence) and node commands.
use std::time::Duration;

use domain::Permission;
use domain::node::{Connectivity, NodeDetail, NodeView};
use domain::protocol::{Command, Outcome};

use crate::ControlError;
use crate::auth::Actor;
use crate::gateway::Gateway;
use crate::store::{NodeRow, Store};

pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Nodes {
    store: Store,
    gateway: Gateway,
}

impl Nodes {
    pub fn new(store: Store, gateway: Gateway) -> Self {
        Self { store, gateway }
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<NodeView>, ControlError> {
        actor.require(Permission::Read)?;
        let presence = self.gateway.presence();
        Ok(self
            .store
            .list_nodes()
            .await?
            .into_iter()
            .map(|r| view(&r, presence.get(&r.id).copied()).0)
            .collect())
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<NodeDetail, ControlError> {
        actor.require(Permission::Read)?;
        let row = self
            .store
            .node_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Node"))?;
        let (node, facts) = view(&row, self.gateway.is_online(id));
        Ok(NodeDetail { node, facts })
    }

    /// Asks the node's agent to collect and send its facts now.
    pub async fn refresh_facts(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        self.store
            .node_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Node"))?;
        match self
            .gateway
            .command(id, Command::RefreshFacts, COMMAND_TIMEOUT)
            .await?
        {
            Outcome::Done { .. } => Ok(()),
            Outcome::Failed { message } => Err(ControlError::Unavailable(format!(
                "The agent could not refresh: {message}"
            ))),
        }
    }
}

fn view(row: &NodeRow, live_seen_ms: Option<i64>) -> (NodeView, Option<domain::node::NodeFacts>) {
    let facts = row.facts();
    let (connectivity, last_seen) = match live_seen_ms {
        Some(ms) => (Connectivity::Online, Some(ms)),
        None => (Connectivity::Offline, row.last_seen_at),
    };
    let view = NodeView::new(
        row.id.clone(),
        row.hostname.clone(),
        row.enrolled_at,
        facts.as_ref(),
        connectivity,
        last_seen,
    );
    (view, facts)
}

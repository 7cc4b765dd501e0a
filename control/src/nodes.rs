//! Node queries for the UI (stored facts merged with live presence) and node commands.
use std::time::Duration;

use std::cmp::Ordering;
use std::collections::HashMap;

use domain::Permission;
use domain::event::UiEvent;
use domain::list::{ListQuery, NodePage, NodeSort, Page};
use domain::node::{Connectivity, IdentityAction, NodeDetail, NodeIdentity, NodeView};
use domain::protocol::{Command, Outcome};

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::secret::now_ms;
use crate::store::{NodeKey, NodeRow, Store};

pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an Administrator's "allow re-enrolment" lasts.
pub const REENROL_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Nodes {
    store: Store,
    gateway: Gateway,
    events: Events,
}

impl Nodes {
    pub fn new(store: Store, gateway: Gateway, events: Events) -> Self {
        Self {
            store,
            gateway,
            events,
        }
    }

    /// One page of the node list: searched in the store, filtered by status and sorted with the
    /// live presence, and only the rows of that page read in full.
    pub async fn page(
        &self,
        actor: &Actor,
        query: &ListQuery<NodeSort>,
        status: Option<Connectivity>,
    ) -> Result<NodePage, ControlError> {
        actor.require(Permission::Read)?;
        let needle = query.needle();
        let page = if status.is_none() && query.sort == NodeSort::Name {
            self.page_by_name(query, &needle).await?
        } else {
            self.page_by_presence(query, &needle, status).await?
        };
        let total = if needle.is_empty() && status.is_none() {
            page.matched
        } else {
            self.store.count_nodes("").await?
        };
        Ok(NodePage {
            page,
            total,
            online: self.gateway.online_count(),
        })
    }

    /// By name without a status filter the database pages: the common view, and the cheapest
    /// (only the page's rows are read).
    async fn page_by_name(
        &self,
        query: &ListQuery<NodeSort>,
        needle: &str,
    ) -> Result<Page<NodeView>, ControlError> {
        let matched = self.store.count_nodes(needle).await?;
        let (offset, page) = query.offset(matched);
        let rows = self
            .store
            .node_page(needle, query.descending, offset, query.per_page)
            .await?
            .into_iter()
            .map(|r| {
                let status = live(&self.gateway, self.gateway.is_online(&r.id), r.last_seen_at);
                view(&r, status).0
            })
            .collect();
        Ok(Page {
            rows,
            page,
            per_page: query.per_page,
            matched,
        })
    }

    /// When status filters or orders the list: the ids and stored last-seen times of every match
    /// (by name) with the live presence, then the full rows of one page.
    async fn page_by_presence(
        &self,
        query: &ListQuery<NodeSort>,
        needle: &str,
        status: Option<Connectivity>,
    ) -> Result<Page<NodeView>, ControlError> {
        let presence = self.gateway.presence();
        let mut keyed: Vec<(NodeKey, Connectivity, Option<i64>)> = self
            .store
            .node_keys(needle)
            .await?
            .into_iter()
            .map(|k| {
                let (c, seen) = live(&self.gateway, presence.get(&k.id).copied(), k.last_seen_at);
                (k, c, seen)
            })
            .filter(|(_, c, _)| status.is_none_or(|s| s == *c))
            .collect();
        // The store gives them by name; a stable sort keeps that order among equals.
        keyed.sort_by(|a, b| {
            let order = match query.sort {
                NodeSort::Name => Ordering::Equal,
                NodeSort::Status => rank(a.1).cmp(&rank(b.1)),
                NodeSort::LastSeen => a.2.cmp(&b.2),
            };
            if query.descending && query.sort != NodeSort::Name {
                order.reverse()
            } else {
                order
            }
        });
        if query.descending && query.sort == NodeSort::Name {
            keyed.reverse();
        }
        let matched = keyed.len() as u64;
        let (keyed, page) = query.slice(keyed);
        let ids: Vec<String> = keyed.iter().map(|(k, _, _)| k.id.clone()).collect();
        let mut rows: HashMap<String, NodeRow> = self
            .store
            .nodes_by_ids(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        // A node removed in between is left out.
        let rows = keyed
            .into_iter()
            .filter_map(|(k, c, seen)| Some(view(&rows.remove(&k.id)?, (c, seen)).0))
            .collect();
        Ok(Page {
            rows,
            page,
            per_page: query.per_page,
            matched,
        })
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<NodeDetail, ControlError> {
        actor.require(Permission::Read)?;
        let row = self
            .store
            .node_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Node"))?;
        let status = live(&self.gateway, self.gateway.is_online(id), row.last_seen_at);
        let (node, mut facts) = view(&row, status);
        // Anyone who knows a machine id may ask to re-enrol it: Viewers do not see it.
        let may_see_machine = actor.role.allows(Permission::Operate);
        if !may_see_machine && let Some(f) = facts.as_mut() {
            f.machine_id.clear();
        }
        let identity = NodeIdentity {
            machine_id: may_see_machine.then(|| row.machine_id.clone()),
            token_revoked_at_ms: row.token_revoked_at,
            reenrol_until_ms: row.reenrol_until.filter(|until| *until > now_ms()),
            cluster: self.store.cluster_name_of_node(id).await?,
        };
        Ok(NodeDetail {
            node,
            facts,
            identity,
        })
    }

    /// Removes a node, revokes its token or allows its machine to re-enrol (Administrators).
    pub async fn identity_action(
        &self,
        actor: &Actor,
        id: &str,
        action: IdentityAction,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let row = self
            .store
            .node_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Node"))?;
        let (done, audit) = match action {
            IdentityAction::Remove => {
                if let Some(cluster) = self.store.cluster_name_of_node(id).await? {
                    return Err(ControlError::Conflict(format!(
                        "{} is a member of cluster {cluster}: remove it from the cluster first.",
                        row.hostname
                    )));
                }
                (self.store.delete_node(id).await?, "node.remove")
            }
            IdentityAction::RevokeToken => {
                if row.token_revoked_at.is_some() {
                    return Err(ControlError::Conflict(format!(
                        "The token of {} is revoked already.",
                        row.hostname
                    )));
                }
                (
                    self.store.revoke_node_token(id, now_ms()).await?,
                    "node.token_revoke",
                )
            }
            IdentityAction::AllowReenrolment => {
                let until = now_ms() + REENROL_WINDOW.as_millis() as i64;
                (
                    self.store.allow_reenrolment(id, until).await?,
                    "node.reenrol_allow",
                )
            }
        };
        if !done {
            // Changed under us (joined a cluster, removed or revoked meanwhile).
            return Err(ControlError::Conflict(format!(
                "{} changed meanwhile; reload and try again.",
                row.hostname
            )));
        }
        if action != IdentityAction::AllowReenrolment {
            self.gateway.disconnect(id);
        }
        self.store
            .audit(&actor.username, audit, Some(id), Some(&row.hostname))
            .await?;
        tracing::info!(node = %id, hostname = %row.hostname, by = %actor.username, ?action, "node identity changed");
        self.events.publish(UiEvent::Node { id: id.to_owned() });
        Ok(())
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

/// A node's status and last-seen time: connected ones from the gateway, the others as stored.
fn live(
    gateway: &Gateway,
    live_seen: Option<i64>,
    stored_seen: Option<i64>,
) -> (Connectivity, Option<i64>) {
    match live_seen {
        Some(ms) if gateway.is_silent(ms) => (Connectivity::Silent, Some(ms)),
        Some(ms) => (Connectivity::Online, Some(ms)),
        None => (Connectivity::Offline, stored_seen),
    }
}

/// The order of the status column: online first.
fn rank(c: Connectivity) -> u8 {
    match c {
        Connectivity::Online => 0,
        Connectivity::Silent => 1,
        Connectivity::Offline => 2,
    }
}

fn view(
    row: &NodeRow,
    (connectivity, last_seen): (Connectivity, Option<i64>),
) -> (NodeView, Option<domain::node::NodeFacts>) {
    let facts = row.facts();
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

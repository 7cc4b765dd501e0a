//! Clusters: Docker Swarm clusters with floating virtual IPs, built and operated through the
//! nodes' agents. One room, one file per concern:
//! * [`view`]: the nodes that may join, the list, a cluster's details and status;
//! * [`lifecycle`]: create, edit and delete a cluster, and operator actions on its workflows;
//! * [`members`]: one node's availability, role and labels; adding and removing nodes;
//! * [`networks`]: overlay networks and join tokens;
//! * [`plans`] and [`steps`]: what the cluster workflows do, run by the workflow engine;
//! * [`managers`]: commands to one node, or to a reachable manager.
mod lifecycle;
pub(crate) mod managers;
mod members;
mod networks;
pub mod plans;
pub mod steps;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use domain::cluster::ClusterPhase;
use domain::event::UiEvent;
use domain::swarm::SwarmSnapshot;
use domain::workflow::{WorkflowKind, WorkflowView};

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::{Gateway, Observed};
use crate::store::{ClusterRow, MemberRow, NodeRow, Store, VipRow};
use crate::vault::Vault;
use crate::workflow::{Capability, Engine};
use plans::PlanMember;

#[derive(Clone)]
pub struct Clusters {
    store: Store,
    gateway: Gateway,
    observed: Observed,
    engine: Engine,
    events: Events,
    vault: Vault,
}

/// Everything known about one cluster, gathered once per request.
struct Gathered {
    cluster: ClusterRow,
    members: Vec<(MemberRow, Option<NodeRow>)>,
    vips: Vec<VipRow>,
    /// The newest workflows, newest first.
    activity: Vec<WorkflowView>,
    snapshot: Option<SwarmSnapshot>,
}

impl Gathered {
    /// The newest of the cluster's own workflows (apps have theirs in the same activity).
    fn workflow(&self) -> Option<&WorkflowView> {
        self.activity
            .iter()
            .find(|w| Capability::of(w.kind) == Capability::Clusters)
    }

    /// Refused while one of the cluster's workflows runs or is paused.
    fn idle(&self) -> Result<(), ControlError> {
        match self.workflow().filter(|w| w.status.is_open()) {
            Some(w) => Err(ControlError::Conflict(format!(
                "Wait for \"{}\" to finish (or abort it).",
                w.kind.label()
            ))),
            None => Ok(()),
        }
    }

    fn hostname(&self, node_id: &str) -> String {
        self.members
            .iter()
            .find(|(m, _)| m.node_id == node_id)
            .and_then(|(_, n)| n.as_ref())
            .map_or_else(|| node_id.to_owned(), |n| n.hostname.clone())
    }

    /// Whether every member should have the cluster volume mounted now: it is replicated, and
    /// no workflow is setting it up, taking it down or changing the members.
    fn volume_expected(&self) -> bool {
        let changing = self.workflow().is_some_and(|w| {
            w.status.is_open()
                && matches!(
                    w.kind,
                    WorkflowKind::SetupVolumes
                        | WorkflowKind::RemoveVolumes
                        | WorkflowKind::AddNode
                        | WorkflowKind::RemoveNode
                )
        });
        crate::volumes::replicated(&self.cluster.definition, self.members.len())
            && self.cluster.phase == ClusterPhase::Active
            && !changing
    }

    /// The members' hostnames, in member order.
    fn hostnames(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(m, _)| self.hostname(&m.node_id))
            .collect()
    }

    /// The members as an update or delete plan sees them (`names` from `hostnames`).
    fn plan<'a>(&'a self, names: &'a [String]) -> Vec<PlanMember<'a>> {
        self.members
            .iter()
            .zip(names)
            .map(|((m, _), hostname)| PlanMember {
                node_id: &m.node_id,
                hostname,
                role: m.role,
                has_labels: false,
                vip: m.vip,
            })
            .collect()
    }
}

/// How many workflows the activity view shows.
const ACTIVITY: i64 = 10;

impl Clusters {
    /// The cluster use cases; registers the runner of cluster steps with the engine.
    pub fn new(
        store: Store,
        gateway: Gateway,
        observed: Observed,
        engine: Engine,
        events: Events,
        vault: Vault,
    ) -> Self {
        engine.register(
            Capability::Clusters,
            Arc::new(steps::ClusterSteps {
                store: store.clone(),
                gateway: gateway.clone(),
                vault: vault.clone(),
            }),
        );
        Self {
            store,
            gateway,
            observed,
            engine,
            events,
            vault,
        }
    }

    async fn gather(&self, cluster: ClusterRow) -> Result<Gathered, ControlError> {
        let activity = self.engine.views_of(&cluster.id, ACTIVITY).await?;
        self.gather_with(cluster, activity).await
    }

    /// What the rows of one page of the cluster list need, read for the whole page at once
    /// (members, their nodes and the VIPs in three queries). An active cluster needs no activity
    /// (its status comes from what is observed); any other gets the newest of its own workflows
    /// (creating, deleting or failed: its progress is the status).
    async fn gather_page(&self, clusters: Vec<ClusterRow>) -> Result<Vec<Gathered>, ControlError> {
        let ids: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
        let mut members: HashMap<String, Vec<MemberRow>> = HashMap::new();
        for m in self.store.members_of(&ids).await? {
            members.entry(m.cluster_id.clone()).or_default().push(m);
        }
        let node_ids: Vec<String> = members
            .values()
            .flatten()
            .map(|m| m.node_id.clone())
            .collect();
        let mut nodes = by_id(self.store.nodes_by_ids(&node_ids).await?);
        let mut vips: HashMap<String, Vec<VipRow>> = HashMap::new();
        for v in self.store.vips_of(&ids).await? {
            vips.entry(v.cluster_id.clone()).or_default().push(v);
        }
        let mut page = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            let newest = if cluster.phase == ClusterPhase::Active {
                None
            } else {
                self.engine
                    .newest_view_where(&cluster.id, |kind| {
                        Capability::of(kind) == Capability::Clusters
                    })
                    .await?
            };
            let rows = members.remove(&cluster.id).unwrap_or_default();
            let vips = vips.remove(&cluster.id).unwrap_or_default();
            page.push(self.assemble(
                cluster,
                rows,
                &mut nodes,
                vips,
                newest.into_iter().collect(),
            ));
        }
        Ok(page)
    }

    async fn gather_with(
        &self,
        cluster: ClusterRow,
        activity: Vec<WorkflowView>,
    ) -> Result<Gathered, ControlError> {
        let rows = self.store.members(&cluster.id).await?;
        let ids: Vec<String> = rows.iter().map(|m| m.node_id.clone()).collect();
        let mut nodes = by_id(self.store.nodes_by_ids(&ids).await?);
        let vips = self.store.vips(&cluster.id).await?;
        Ok(self.assemble(cluster, rows, &mut nodes, vips, activity))
    }

    /// A cluster with its members (each with its node, taken from `nodes`), VIPs, activity and
    /// the swarm its managers report.
    fn assemble(
        &self,
        cluster: ClusterRow,
        rows: Vec<MemberRow>,
        nodes: &mut HashMap<String, NodeRow>,
        vips: Vec<VipRow>,
        activity: Vec<WorkflowView>,
    ) -> Gathered {
        let members: Vec<(MemberRow, Option<NodeRow>)> = rows
            .into_iter()
            .map(|m| {
                let node = nodes.remove(&m.node_id);
                (m, node)
            })
            .collect();
        let snapshot = self
            .observed
            .swarm_of(&cluster, members.iter().map(|(m, _)| m));
        Gathered {
            vips,
            activity,
            snapshot,
            members,
            cluster,
        }
    }

    async fn find(&self, id: &str) -> Result<ClusterRow, ControlError> {
        self.store
            .cluster(id)
            .await?
            .ok_or(ControlError::NotFound("Cluster"))
    }

    /// An active cluster with no workflow running or paused.
    async fn idle_active(&self, id: &str) -> Result<Gathered, ControlError> {
        let g = self.active(id).await?;
        g.idle()?;
        Ok(g)
    }

    async fn active(&self, id: &str) -> Result<Gathered, ControlError> {
        let cluster = self.find(id).await?;
        if cluster.phase != ClusterPhase::Active {
            return Err(ControlError::Conflict(
                "The cluster is not active (it is being built, deleted or failed).".into(),
            ));
        }
        self.gather(cluster).await
    }

    /// An active cluster and the swarm as its managers report it.
    async fn active_with_swarm(&self, id: &str) -> Result<(Gathered, SwarmSnapshot), ControlError> {
        let g = self.active(id).await?;
        let snapshot = g.snapshot.clone().ok_or_else(|| {
            ControlError::Unavailable(
                "No manager has reported the swarm yet; try again in a moment.".into(),
            )
        })?;
        Ok((g, snapshot))
    }

    /// Records a change made through the panel (audit log) and tells open browsers that the
    /// cluster changed.
    async fn changed(
        &self,
        actor: &Actor,
        cluster_id: &str,
        action: &str,
        target: &str,
        detail: Option<&str>,
    ) -> Result<(), ControlError> {
        self.store
            .audit(&actor.username, action, Some(target), detail)
            .await?;
        self.events.publish(UiEvent::Cluster {
            id: cluster_id.to_owned(),
        });
        Ok(())
    }
}

/// Nodes by their id.
fn by_id(nodes: Vec<NodeRow>) -> HashMap<String, NodeRow> {
    nodes.into_iter().map(|n| (n.id.clone(), n)).collect()
}

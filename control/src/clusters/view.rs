//! Reading clusters: the nodes that may join one, the list, a cluster's details, and the status
//! with its reason (derived from the cluster's phase, its newest workflow and what is observed).
use domain::Permission;
use domain::cluster::{
    Candidate, ClusterDetail, ClusterPhase, ClusterSummary, MemberView, VipView,
};
use domain::health::{self, Lifecycle, MemberState, VolumeState};
use domain::list::{ClusterPage, ClusterSort, ListQuery, Page};
use domain::node::{EngineFacts, SwarmState};
use domain::storage::{StorageFacts, VolumeBeat, VolumeInUse, VolumeMode};
use domain::swarm::{SwarmNodeView, SwarmRole};
use domain::workflow::{WorkflowStatus, WorkflowView};

use super::{Clusters, Gathered};
use crate::ControlError;
use crate::auth::Actor;
use crate::store::{MemberRow, NodeRow};

impl Clusters {
    /// Every enrolled node with what the wizard needs to offer or refuse it.
    pub async fn candidates(&self, actor: &Actor) -> Result<Vec<Candidate>, ControlError> {
        actor.require(Permission::Read)?;
        let members = self.store.all_members().await?;
        let clusters = self.store.clusters().await?;
        let presence = self.gateway.presence();
        Ok(self
            .store
            .list_nodes()
            .await?
            .into_iter()
            .map(|n| {
                let facts = n.facts();
                let cluster = members
                    .iter()
                    .find(|m| m.node_id == n.id)
                    .and_then(|m| clusters.iter().find(|c| c.id == m.cluster_id))
                    .map(|c| c.name.clone());
                let swarm_state = facts
                    .as_ref()
                    .map_or_else(|| "unknown".into(), |f| f.engine.swarm_label());
                let (interfaces, storage) =
                    facts.map(|f| (f.interfaces, f.storage)).unwrap_or_default();
                Candidate {
                    online: presence.contains_key(&n.id),
                    cluster,
                    swarm_state,
                    interfaces,
                    storage,
                    node_id: n.id,
                    hostname: n.hostname,
                }
            })
            .collect())
    }

    /// One page of the cluster list, searched by name or virtual IP and sorted; only the
    /// clusters of that page have their status worked out.
    pub async fn page(
        &self,
        actor: &Actor,
        query: &ListQuery<ClusterSort>,
    ) -> Result<ClusterPage, ControlError> {
        actor.require(Permission::Read)?;
        let all = self.store.clusters().await?; // by name
        let total = all.len() as u64;
        let needle = query.needle();
        let mut found: Vec<_> = all
            .into_iter()
            .filter(|c| c.definition.matches(&needle))
            .collect();
        if query.sort == ClusterSort::Created {
            found.sort_by_key(|c| c.created_at);
        }
        if query.descending {
            found.reverse();
        }
        let matched = found.len() as u64;
        let (found, page) = query.slice(found);
        let rows = self
            .gather_page(found)
            .await?
            .iter()
            .map(|g| self.summary(g))
            .collect();
        Ok(ClusterPage {
            page: Page {
                rows,
                page,
                per_page: query.per_page,
                matched,
            },
            total,
        })
    }

    /// The newest changes made to the cluster through the panel (its audit log).
    pub async fn changes(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Vec<domain::audit::AuditEntry>, ControlError> {
        actor.require(Permission::Read)?;
        self.find(id).await?;
        self.store.audit_of(id, 100).await
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<ClusterDetail, ControlError> {
        actor.require(Permission::Read)?;
        let g = self.gather(self.find(id).await?).await?;
        let beats = self.beats(&g);
        let states = self.member_states(&g, &beats);
        let summary = self.summary_of(&g, &states);
        let members = g
            .members
            .iter()
            .zip(&states)
            .map(|((m, n), state)| {
                let heard = self.gateway.is_online(&m.node_id);
                MemberView {
                    node_id: m.node_id.clone(),
                    hostname: hostname(m, n),
                    role: m.role,
                    labels: m.labels.clone(),
                    interface: m.interface.clone(),
                    vip: m.vip,
                    online: heard.is_some(),
                    silent: heard.is_some_and(|seen| self.gateway.is_silent(seen)),
                    address: m.address.clone(),
                    swarm: swarm_view(&g, m),
                    vip_states: self.observed.vips_of(&m.node_id),
                    volume: state.volume,
                    copies: state.copies,
                    standby: state.standby.clone(),
                    volume_disk: state.volume_disk.clone(),
                }
            })
            .collect::<Vec<_>>();
        let snapshot = g.snapshot.as_ref();
        Ok(ClusterDetail {
            summary,
            workflow: g.workflow().cloned(),
            leader: snapshot
                .and_then(|s| s.nodes.iter().find(|v| v.leader))
                .map(|v| v.hostname.clone()),
            swarm_pools: snapshot
                .map(|s| s.default_addr_pool.clone())
                .unwrap_or_default(),
            swarm_subnet_size: snapshot.map(|s| s.subnet_size),
            swarm_data_path_port: snapshot.map(|s| s.data_path_port),
            has_tokens: g.cluster.worker_token.is_some(),
            networks: snapshot.map(|s| s.networks.clone()).unwrap_or_default(),
            without_ipvs: g
                .members
                .iter()
                .filter_map(|(_, n)| n.as_ref())
                .filter(|n| n.facts().is_some_and(|f| !f.ipvs))
                .map(|n| n.hostname.clone())
                .collect(),
            volumes_in_use: if g.cluster.definition.volumes {
                let mut used = crate::volumes::in_use(&self.store, &g.cluster.id).await?;
                size_volumes(&beats, &mut used);
                used
            } else {
                vec![]
            },
            volume_rpo_secs: domain::standby::rpo_secs(
                u64::try_from(crate::secret::now_ms()).unwrap_or(0),
                states.iter().filter_map(|s| s.standby.as_ref()),
            ),
            definition: g.cluster.definition.clone(),
            activity: g.activity.clone(),
            members,
        })
    }

    /// Who holds `address`, weighing the connected members' reports (see
    /// [`health::vip_truth`]). The status, the VIP owners shown and the gates of maintenance read
    /// this one truth.
    pub(super) fn vip_truth(&self, g: &Gathered, address: &str) -> health::VipTruth {
        let claims: Vec<health::VipClaim> = g
            .members
            .iter()
            .filter_map(|(m, n)| self.gateway.vip_claim(&m.node_id, hostname(m, n), address))
            .collect();
        health::vip_truth(&claims)
    }

    /// Each member's volume state from its current heartbeat (in member order), read once per
    /// view.
    fn beats(&self, g: &Gathered) -> Vec<Option<VolumeBeat>> {
        let since = self.gateway.current_since();
        g.members
            .iter()
            .map(|(m, _)| self.observed.volume_of(&m.node_id, since))
            .collect()
    }

    pub(super) fn summary(&self, g: &Gathered) -> ClusterSummary {
        self.summary_of(g, &self.member_states(g, &self.beats(g)))
    }

    /// What the status planner looks at, per member (in member order); each member's stored
    /// facts are parsed once here.
    fn member_states(&self, g: &Gathered, beats: &[Option<VolumeBeat>]) -> Vec<MemberState> {
        let mode = crate::volumes::mode(&g.cluster.definition, g.members.len());
        g.members
            .iter()
            .zip(beats)
            .map(|((m, n), beat)| {
                let facts = n.as_ref().and_then(NodeRow::facts);
                // The volume's state from the last heartbeat when it is current, over the facts.
                let merged = match (facts.as_ref().map(|f| &f.storage), beat) {
                    (Some(s), Some(b)) => Some(b.over(s)),
                    (None, Some(b)) => Some(b.over(&StorageFacts::default())),
                    (s, None) => s.cloned(),
                };
                let storage = merged.as_ref();
                let volume = VolumeState::of(
                    g.volume_expected(),
                    storage.unwrap_or(&StorageFacts::default()),
                );
                MemberState {
                    hostname: hostname(m, n),
                    role: m.role,
                    online: self
                        .gateway
                        .is_online(&m.node_id)
                        .is_some_and(|seen| !self.gateway.is_silent(seen)),
                    in_swarm: facts.as_ref().is_some_and(|f| {
                        matches!(f.engine, EngineFacts::Up { ref swarm, .. } if swarm.state == SwarmState::Active)
                    }),
                    availability: swarm_view(g, m).map(|v| v.availability),
                    volume,
                    copies: storage.and_then(|s| s.copies),
                    standby: storage.and_then(|s| s.standby.clone()),
                    volume_disk: storage.and_then(|s| match mode {
                        Some(VolumeMode::Replicated) => s.bricks.clone(),
                        Some(VolumeMode::AsyncStandby) => s.snapshots.clone(),
                        None => None,
                    }),
                }
            })
            .collect()
    }

    fn summary_of(&self, g: &Gathered, states: &[MemberState]) -> ClusterSummary {
        let truths: Vec<(String, health::VipTruth)> = g
            .vips
            .iter()
            .map(|v| (v.address.clone(), self.vip_truth(g, &v.address)))
            .collect();
        let vips: Vec<VipView> = g
            .vips
            .iter()
            .zip(&truths)
            .map(|(v, (_, truth))| VipView {
                address: v.address.clone(),
                vrid: v.vrid,
                track_port: v.track_port,
                owners: truth.holders.clone(),
                stale_owners: truth.stale.clone(),
            })
            .collect();
        let lifecycle = lifecycle(g.cluster.phase, g.workflow());
        let (health, reason) = health::status(&lifecycle, states, &truths);
        ClusterSummary {
            id: g.cluster.id.clone(),
            name: g.cluster.name.clone(),
            health,
            reason,
            online: states.iter().filter(|s| s.online).count(),
            available: g
                .members
                .iter()
                .filter_map(|(m, _)| swarm_view(g, m))
                .filter(SwarmNodeView::schedulable)
                .count(),
            members: states.len(),
            managers: states
                .iter()
                .filter(|s| s.role == SwarmRole::Manager)
                .count(),
            workloads: 0,
            vips,
            created_at_ms: g.cluster.created_at,
        }
    }
}

fn hostname(m: &MemberRow, n: &Option<NodeRow>) -> String {
    n.as_ref()
        .map_or_else(|| m.node_id.clone(), |n| n.hostname.clone())
}

/// What the swarm's managers say of a member.
fn swarm_view(g: &Gathered, m: &MemberRow) -> Option<SwarmNodeView> {
    g.snapshot.as_ref().and_then(|s| {
        s.nodes
            .iter()
            .find(|v| Some(&v.id) == m.swarm_node_id.as_ref())
            .cloned()
    })
}

/// Where the cluster is in its life, from its phase and its newest workflow.
fn lifecycle(phase: ClusterPhase, workflow: Option<&WorkflowView>) -> Lifecycle {
    let progress = |w: &WorkflowView| match (w.status, &w.error) {
        (WorkflowStatus::Paused, Some(why)) => format!("paused at {}: {why}", w.progress()),
        _ => w.progress(),
    };
    let stopped =
        |w: &WorkflowView| matches!(w.status, WorkflowStatus::Failed | WorkflowStatus::Aborted);
    match (phase, workflow) {
        (ClusterPhase::Failed, Some(w)) => Lifecycle::Failed {
            error: w.error.clone().unwrap_or_else(|| "creation failed".into()),
        },
        (ClusterPhase::Failed, None) => Lifecycle::Failed {
            error: "creation failed".into(),
        },
        (ClusterPhase::Deleting, Some(w)) if stopped(w) => Lifecycle::Failed {
            error: format!("deletion stopped: {}", w.error.clone().unwrap_or_default()),
        },
        (ClusterPhase::Deleting, Some(w)) => Lifecycle::Deleting { step: progress(w) },
        (ClusterPhase::Creating, Some(w)) => Lifecycle::Creating { step: progress(w) },
        (ClusterPhase::Creating | ClusterPhase::Deleting, None) => Lifecycle::Creating {
            step: String::new(),
        },
        (ClusterPhase::Active, _) => Lifecycle::Active,
    }
}

/// Each app volume's size: the most a member holding its data reported in its current heartbeat
/// (copies are written at once; the async standby reports none).
fn size_volumes(beats: &[Option<VolumeBeat>], volumes: &mut [VolumeInUse]) {
    for v in volumes {
        let dir = format!("{}/{}", v.app, v.volume);
        v.bytes = beats
            .iter()
            .flatten()
            .flat_map(|b| &b.sizes)
            .filter(|s| s.dir == dir)
            .map(|s| s.bytes)
            .max();
    }
}

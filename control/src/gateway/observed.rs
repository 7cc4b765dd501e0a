//! Observed state reported by agents that is not worth a database write: managers' views of their
//! swarms, every node's KeepAlived state and its cluster volume's state (every heartbeat). Kept in memory; agents resend on reconnect.
//!
//! Each node has at most one swarm report and one VIP list here (the gateway bounds their sizes),
//! so what a connection can make the panel hold is bounded. A report counts only where its node
//! is entitled to speak: [`Observed::swarm`] reads the reports of the cluster's managers only, so
//! a node of another cluster cannot pass off its view as this one's.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::protocol::VipObservation;
use domain::storage::VolumeBeat;
use domain::swarm::SwarmSnapshot;

#[derive(Clone, Default)]
pub struct Observed {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Reporting node → (report sequence, its newest swarm report).
    swarms: HashMap<String, (u64, SwarmSnapshot)>,
    /// Orders reports: the newest one wins.
    seq: u64,
    /// Node id → when its VIP report arrived, and its VIPs.
    vips: HashMap<String, (i64, Vec<VipObservation>)>,
    /// Node id → when its volume beat arrived, and the beat.
    volumes: HashMap<String, (i64, VolumeBeat)>,
}

impl Observed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_swarm(&self, reporter: &str, snapshot: SwarmSnapshot) {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        inner.swarms.insert(reporter.to_owned(), (seq, snapshot));
    }

    pub fn set_vips(&self, node_id: &str, vips: Vec<VipObservation>) {
        self.set_vips_at(node_id, crate::secret::now_ms(), vips);
    }

    /// A VIP report that arrived at `at` (on another panel replica).
    pub fn set_vips_at(&self, node_id: &str, at: i64, vips: Vec<VipObservation>) {
        self.lock().vips.insert(node_id.to_owned(), (at, vips));
    }

    /// A node's volume beat arrived; true when what the cluster's status depends on changed
    /// (not only the sync's progress).
    pub fn set_volume(&self, node_id: &str, at: i64, beat: VolumeBeat) -> bool {
        let mut inner = self.lock();
        let changed = inner
            .volumes
            .get(node_id)
            .is_none_or(|(_, old)| old.quiet() != beat.quiet());
        inner.volumes.insert(node_id.to_owned(), (at, beat));
        changed
    }

    /// A node's volume beat if it arrived at `since` or later (an older one is not current:
    /// the node left its volume, or stopped beating).
    pub fn volume_of(&self, node_id: &str, since: i64) -> Option<VolumeBeat> {
        self.lock()
            .volumes
            .get(node_id)
            .filter(|(at, _)| *at >= since)
            .map(|(_, b)| b.clone())
    }

    /// A node disconnected: what it reported is no longer current.
    pub fn forget_node(&self, node_id: &str) {
        let mut inner = self.lock();
        inner.vips.remove(node_id);
        inner.swarms.remove(node_id);
        inner.volumes.remove(node_id);
    }

    /// The newest report of swarm `swarm_id` from one of `managers` (the cluster's manager
    /// nodes) that is still connected. Reports from anybody else are ignored.
    pub fn swarm<'a>(
        &self,
        swarm_id: &str,
        managers: impl IntoIterator<Item = &'a str>,
    ) -> Option<SwarmSnapshot> {
        let inner = self.lock();
        managers
            .into_iter()
            .filter_map(|m| inner.swarms.get(m))
            .filter(|(_, s)| s.cluster_id == swarm_id)
            .max_by_key(|(at, _)| *at)
            .map(|(_, s)| s.clone())
    }

    /// The newest report of a cluster's swarm from one of its managers.
    pub fn swarm_of<'a>(
        &self,
        cluster: &crate::store::ClusterRow,
        members: impl IntoIterator<Item = &'a crate::store::MemberRow>,
    ) -> Option<SwarmSnapshot> {
        let swarm_id = cluster.swarm_id.as_deref()?;
        // Only the cluster's managers speak for its swarm.
        let managers = members
            .into_iter()
            .filter(|m| m.role == domain::swarm::SwarmRole::Manager)
            .map(|m| m.node_id.as_str());
        self.swarm(swarm_id, managers)
    }

    /// The swarm node id of the leader in the newest report from one of `managers` (a hint for
    /// where to send a swarm-wide command: the leader answers without forwarding it).
    pub fn leader<'a>(&self, managers: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let inner = self.lock();
        managers
            .into_iter()
            .filter_map(|m| inner.swarms.get(m))
            .max_by_key(|(at, _)| *at)
            .and_then(|(_, s)| s.nodes.iter().find(|n| n.leader))
            .map(|n| n.id.clone())
    }

    pub fn vips_of(&self, node_id: &str) -> Vec<VipObservation> {
        self.lock()
            .vips
            .get(node_id)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// When a node's VIP report arrived (0 when it sent none).
    pub fn vips_reported_at(&self, node_id: &str) -> i64 {
        self.lock().vips.get(node_id).map_or(0, |(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(swarm: &str, nodes: usize) -> SwarmSnapshot {
        SwarmSnapshot {
            cluster_id: swarm.into(),
            nodes: (0..nodes)
                .map(|i| domain::swarm::SwarmNodeView {
                    id: format!("s{i}"),
                    hostname: format!("edge-{i}"),
                    role: domain::swarm::SwarmRole::Manager,
                    availability: domain::swarm::Availability::Active,
                    state: domain::swarm::SwarmNodeState::Ready,
                    leader: i == 0,
                    reachability: Some(domain::swarm::Reachability::Reachable),
                    address: String::new(),
                    engine_version: String::new(),
                    labels: vec![],
                    os: "linux".into(),
                    arch: "x86_64".into(),
                })
                .collect(),
            default_addr_pool: vec![],
            subnet_size: 24,
            data_path_port: 4789,
            networks: vec![],
            services: vec![],
            secrets: vec![],
            configs: vec![],
        }
    }

    #[test]
    fn the_swarm_view_survives_the_loss_of_its_reporter() {
        let o = Observed::default();
        o.set_swarm("a", snapshot("swarm", 3));
        o.set_swarm("b", snapshot("swarm", 2));
        let managers = ["a", "b"];
        assert_eq!(
            o.swarm("swarm", managers).map(|s| s.nodes.len()),
            Some(2),
            "newest report wins"
        );
        o.forget_node("b");
        assert_eq!(
            o.swarm("swarm", managers).map(|s| s.nodes.len()),
            Some(3),
            "another manager's report remains"
        );
        o.forget_node("a");
        assert!(o.swarm("swarm", managers).is_none());
    }

    #[test]
    fn the_leader_is_read_from_the_newest_report_of_a_manager() {
        let o = Observed::default();
        assert_eq!(o.leader(["a"]), None);
        o.set_swarm("a", snapshot("swarm", 3));
        assert_eq!(o.leader(["a", "b"]).as_deref(), Some("s0"));
        let mut moved = snapshot("swarm", 3);
        for n in &mut moved.nodes {
            n.leader = n.id == "s2";
        }
        o.set_swarm("b", moved);
        assert_eq!(
            o.leader(["a", "b"]).as_deref(),
            Some("s2"),
            "newest report wins"
        );
        assert_eq!(
            o.leader(["a"]).as_deref(),
            Some("s0"),
            "only the managers asked about"
        );
        assert_eq!(o.leader(["c"]), None);
    }

    #[test]
    fn reports_count_only_from_the_clusters_managers() {
        let o = Observed::default();
        o.set_swarm("manager", snapshot("swarm", 3));
        // A node of another cluster (or a worker) claims to report this swarm.
        o.set_swarm("intruder", snapshot("swarm", 1));
        assert_eq!(
            o.swarm("swarm", ["manager"]).map(|s| s.nodes.len()),
            Some(3),
            "the newer report of a node that is not a manager here is ignored"
        );
        // A manager's report of another swarm does not count for this one either.
        o.set_swarm("manager", snapshot("elsewhere", 5));
        assert!(o.swarm("swarm", ["manager"]).is_none());
        assert_eq!(
            o.swarm("elsewhere", ["manager"]).map(|s| s.nodes.len()),
            Some(5)
        );
    }

    #[test]
    fn vips_are_forgotten_with_their_node() {
        let o = Observed::default();
        let obs = VipObservation {
            address: "10.0.0.1/24".into(),
            vrid: 1,
            state: domain::protocol::VrrpState::Master,
            holds: true,
            offset: 0,
        };
        o.set_vips("a", vec![obs]);
        assert_eq!(o.vips_of("a").len(), 1);
        o.forget_node("a");
        assert!(o.vips_of("a").is_empty());
    }

    #[test]
    fn a_volume_beat_is_current_until_it_is_old_and_only_status_changes_count() {
        let o = Observed::default();
        let synced = |at: u64| VolumeBeat {
            standby: Some(domain::standby::StandbyFacts {
                role: domain::standby::StandbyRole::Primary,
                epoch: 1,
                synced_at_ms: Some(at),
                last_bytes: 10,
                last_took_ms: 5,
                error: None,
                conflicts: vec![],
            }),
            ..VolumeBeat::default()
        };
        assert!(o.set_volume("a", 1_000, synced(1)), "the first beat");
        assert!(
            !o.set_volume("a", 6_000, synced(2)),
            "only the sync moved on"
        );
        assert_eq!(o.volume_of("a", 5_000), Some(synced(2)));
        assert_eq!(o.volume_of("a", 7_000), None, "too old");
        let fenced = VolumeBeat {
            fenced: true,
            ..synced(2)
        };
        assert!(o.set_volume("a", 8_000, fenced));
        o.forget_node("a");
        assert_eq!(o.volume_of("a", 0), None);
    }
}

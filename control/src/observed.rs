//! Observed state reported by agents that is not worth a database write: managers' views of their
//! swarms and every node's KeepAlived state. Kept in memory; agents resend on reconnect.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::protocol::{SwarmSnapshot, VipObservation};

#[derive(Clone, Default)]
pub struct Observed {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Swarm cluster id → reporting manager → (report sequence, snapshot). Every manager
    /// reports, so the view survives the loss of any one of them.
    swarms: HashMap<String, HashMap<String, (u64, SwarmSnapshot)>>,
    /// Orders reports: the newest one wins.
    seq: u64,
    /// Node id → its VIPs.
    vips: HashMap<String, Vec<VipObservation>>,
}

impl Observed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_swarm(&self, reporter: &str, snapshot: SwarmSnapshot) {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        inner
            .swarms
            .entry(snapshot.cluster_id.clone())
            .or_default()
            .insert(reporter.to_owned(), (seq, snapshot));
    }

    pub fn set_vips(&self, node_id: &str, vips: Vec<VipObservation>) {
        self.lock().vips.insert(node_id.to_owned(), vips);
    }

    /// A node disconnected: what it reported is no longer current.
    pub fn forget_node(&self, node_id: &str) {
        let mut inner = self.lock();
        inner.vips.remove(node_id);
        for reports in inner.swarms.values_mut() {
            reports.remove(node_id);
        }
        inner.swarms.retain(|_, reports| !reports.is_empty());
    }

    /// The newest report of a swarm from a manager that is still connected.
    pub fn swarm(&self, swarm_id: &str) -> Option<SwarmSnapshot> {
        self.lock().swarms.get(swarm_id).and_then(|reports| {
            reports
                .values()
                .max_by_key(|(at, _)| *at)
                .map(|(_, s)| s.clone())
        })
    }

    pub fn vips_of(&self, node_id: &str) -> Vec<VipObservation> {
        self.lock().vips.get(node_id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(nodes: usize) -> SwarmSnapshot {
        SwarmSnapshot {
            cluster_id: "swarm".into(),
            nodes: (0..nodes)
                .map(|i| domain::protocol::SwarmNodeView {
                    id: format!("s{i}"),
                    hostname: format!("edge-{i}"),
                    role: domain::cluster::SwarmRole::Manager,
                    availability: domain::health::Availability::Active,
                    state: "ready".into(),
                    leader: i == 0,
                    reachability: Some("reachable".into()),
                    address: String::new(),
                    engine_version: String::new(),
                    labels: vec![],
                })
                .collect(),
            default_addr_pool: vec![],
            subnet_size: 24,
            data_path_port: 4789,
            networks: vec![],
        }
    }

    #[test]
    fn the_swarm_view_survives_the_loss_of_its_reporter() {
        let o = Observed::default();
        o.set_swarm("a", snapshot(3));
        o.set_swarm("b", snapshot(2));
        assert_eq!(
            o.swarm("swarm").map(|s| s.nodes.len()),
            Some(2),
            "newest report wins"
        );
        o.forget_node("b");
        assert_eq!(
            o.swarm("swarm").map(|s| s.nodes.len()),
            Some(3),
            "another manager's report remains"
        );
        o.forget_node("a");
        assert!(o.swarm("swarm").is_none());
    }

    #[test]
    fn vips_are_forgotten_with_their_node() {
        let o = Observed::default();
        let obs = VipObservation {
            address: "10.0.0.1/24".into(),
            vrid: 1,
            state: domain::protocol::VrrpState::Master,
            holds: true,
        };
        o.set_vips("a", vec![obs]);
        assert_eq!(o.vips_of("a").len(), 1);
        o.forget_node("a");
        assert!(o.vips_of("a").is_empty());
    }
}

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
    /// Swarm cluster id → (reporting node, snapshot).
    swarms: HashMap<String, (String, SwarmSnapshot)>,
    /// Node id → its VIPs.
    vips: HashMap<String, Vec<VipObservation>>,
}

impl Observed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_swarm(&self, reporter: &str, snapshot: SwarmSnapshot) {
        self.lock()
            .swarms
            .insert(snapshot.cluster_id.clone(), (reporter.to_owned(), snapshot));
    }

    pub fn set_vips(&self, node_id: &str, vips: Vec<VipObservation>) {
        self.lock().vips.insert(node_id.to_owned(), vips);
    }

    /// A node disconnected: what it reported is no longer current.
    pub fn forget_node(&self, node_id: &str) {
        let mut inner = self.lock();
        inner.vips.remove(node_id);
        inner.swarms.retain(|_, (reporter, _)| reporter != node_id);
    }

    pub fn swarm(&self, swarm_id: &str) -> Option<SwarmSnapshot> {
        self.lock().swarms.get(swarm_id).map(|(_, s)| s.clone())
    }

    pub fn vips_of(&self, node_id: &str) -> Vec<VipObservation> {
        self.lock().vips.get(node_id).cloned().unwrap_or_default()
    }
}

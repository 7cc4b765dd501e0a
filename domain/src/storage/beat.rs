//! The cluster volume's state a node sends with every heartbeat, with its apps' volume sizes.
use serde::{Deserialize, Serialize};

use super::{CopiesFacts, MountFacts, PeersFacts, StorageFacts};

/// The cluster volume's state on a node, sent with every heartbeat while the node takes part in
/// a volume (the facts carry the same, read less often): the mount and whether it answers, the
/// fence, the copies and peers (replicated), the sync (async).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeBeat {
    pub mount: Option<MountFacts>,
    pub fenced: bool,
    pub copies: Option<CopiesFacts>,
    pub peers: Option<PeersFacts>,
    pub standby: Option<crate::standby::StandbyFacts>,
    /// The apps' volumes where this node holds their data (at most [`MAX_SIZES`]).
    #[serde(default)]
    pub sizes: Vec<VolumeSize>,
}

/// The most app volumes a beat reports the size of.
pub const MAX_SIZES: usize = 256;

/// The space an app's volume takes where a node holds its data (its copy of the replicated
/// volume, or the async primary's live data), as `du` counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSize {
    /// `app/volume`, as the directory on the cluster volume is named.
    pub dir: String,
    pub bytes: u64,
}

impl VolumeBeat {
    /// The beat without the sync's progress and the sizes (which move all the time): what the
    /// cluster's status depends on, for "did anything change?".
    pub fn quiet(&self) -> Self {
        Self {
            standby: self
                .standby
                .as_ref()
                .map(crate::standby::StandbyFacts::quiet),
            sizes: vec![],
            ..self.clone()
        }
    }

    /// Bounds every string (as [`StorageFacts::cap`]); true when anything was cut.
    pub fn cap(&mut self) -> bool {
        let mut cut = self
            .mount
            .as_mut()
            .is_some_and(|m| crate::node::cap(&mut m.source, crate::node::caps::TEXT));
        cut |= self.standby.as_mut().is_some_and(|s| s.cap());
        if self.sizes.len() > MAX_SIZES {
            self.sizes.truncate(MAX_SIZES);
            cut = true;
        }
        for s in &mut self.sizes {
            cut |= crate::node::cap(&mut s.dir, crate::node::caps::TEXT);
        }
        cut
    }

    /// These facts with the beat's newer values.
    pub fn over(&self, facts: &StorageFacts) -> StorageFacts {
        StorageFacts {
            mount: self.mount.clone(),
            fenced: self.fenced,
            copies: self.copies,
            peers: self.peers,
            standby: self.standby.clone(),
            ..facts.clone()
        }
    }
}

//! What can change on an existing cluster, validated.
use super::*;

/// What can change on an existing cluster. Pools, subnet size and ports are fixed when the swarm
/// is created (Docker cannot change them), VIP addresses come with the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEdit {
    pub name: String,
    pub synctime: String,
    #[serde(default)]
    pub volumes: bool,
    #[serde(default = "default_volume_sync")]
    pub volume_sync: String,
}

/// A validated [`ClusterEdit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditSpec {
    pub name: String,
    pub synctime_cs: u16,
    pub volumes: bool,
    /// The new sync interval; `None` keeps the cluster's (volumes off and nothing valid typed).
    pub volume_sync_secs: Option<u32>,
}

impl ClusterEdit {
    /// The new name, synctime and volume settings. Whether the nodes can hold the volumes is
    /// checked against them ([`crate::storage::check_nodes`]).
    pub fn validate(&self) -> Result<EditSpec, Vec<ValidationError>> {
        let mut e = vec![];
        if let Some(m) = [&self.name, &self.synctime, &self.volume_sync]
            .into_iter()
            .find_map(|t| too_long(t))
        {
            return Err(vec![ValidationError::new("name", m)]);
        }
        let name = parse_cluster_name(&self.name)
            .map_err(|m| err(&mut e, "name", m))
            .ok();
        let synctime = parse_synctime(&self.synctime)
            .map_err(|m| err(&mut e, "synctime", m))
            .ok();
        let volume_sync_secs = match crate::storage::parse_sync_secs(&self.volume_sync) {
            Ok(secs) => Some(secs),
            Err(m) if self.volumes => {
                err(&mut e, "volume_sync", m);
                None
            }
            Err(_) => None,
        };
        match (name, synctime) {
            (Some(name), Some(synctime_cs)) if e.is_empty() => Ok(EditSpec {
                name,
                synctime_cs,
                volumes: self.volumes,
                volume_sync_secs,
            }),
            _ => Err(e),
        }
    }
}

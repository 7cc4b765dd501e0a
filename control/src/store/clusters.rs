//! Clusters, their members and virtual IPs. Rows are decoded here into typed values (phase and
//! role enums, the definition, labels and peers): text the panel did not write is `Corrupt`,
//! never a default.
use domain::cluster::{ClusterPhase, Definition};
use domain::swarm::{NodeLabel, SwarmRole};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::workflows::{NewWorkflow, insert_workflow};
use crate::ControlError;

#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub id: String,
    pub name: String,
    pub definition: Definition,
    pub phase: ClusterPhase,
    pub swarm_id: Option<String>,
    /// Join tokens, sealed by the vault.
    pub worker_token: Option<String>,
    pub manager_token: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub node_id: String,
    pub cluster_id: String,
    pub position: i64,
    pub role: SwarmRole,
    pub labels: Vec<NodeLabel>,
    pub interface: String,
    pub vip: bool,
    pub swarm_node_id: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VipRow {
    pub cluster_id: String,
    pub position: i64,
    pub address: String,
    pub interface: Option<String>,
    /// Unicast peers (IPv4 addresses).
    pub peers: Vec<String>,
    /// VRRP router id, unique on the panel (1–255).
    pub vrid: u8,
    pub track_port: Option<u16>,
}

/// Everything written when a cluster is created, in one transaction.
pub struct NewCluster<'a> {
    pub cluster: &'a ClusterRow,
    pub created_by: &'a str,
    pub members: &'a [MemberRow],
    /// VRIDs are allocated inside the transaction (the rows' `vrid` is ignored).
    pub vips: &'a [VipRow],
    pub workflow: &'a NewWorkflow,
}

pub(super) fn corrupt(what: &str, id: &str, e: impl std::fmt::Display) -> ControlError {
    ControlError::Corrupt(format!("{what} of {id}: {e}"))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, ControlError> {
    serde_json::to_string(value).map_err(|e| ControlError::Corrupt(e.to_string()))
}

fn role(text: &str, node_id: &str) -> Result<SwarmRole, ControlError> {
    SwarmRole::parse(text).ok_or_else(|| corrupt("role", node_id, format!("unknown role {text:?}")))
}

fn cluster_row(row: &AnyRow) -> Result<ClusterRow, ControlError> {
    let id: String = row.try_get("id")?;
    let definition: String = row.try_get("definition")?;
    let phase: String = row.try_get("phase")?;
    Ok(ClusterRow {
        definition: serde_json::from_str(&definition).map_err(|e| corrupt("definition", &id, e))?,
        phase: ClusterPhase::parse(&phase)
            .ok_or_else(|| corrupt("phase", &id, format!("unknown phase {phase:?}")))?,
        name: row.try_get("name")?,
        swarm_id: row.try_get("swarm_id")?,
        worker_token: row.try_get("worker_token")?,
        manager_token: row.try_get("manager_token")?,
        created_at: row.try_get("created_at")?,
        id,
    })
}

/// `vip` is an integer column on both backends (sqlx's `Any` driver reads no SQLite booleans).
fn member_row(row: &AnyRow) -> Result<MemberRow, ControlError> {
    let node_id: String = row.try_get("node_id")?;
    let labels: String = row.try_get("labels")?;
    Ok(MemberRow {
        role: role(&row.try_get::<String, _>("role")?, &node_id)?,
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", &node_id, e))?,
        cluster_id: row.try_get("cluster_id")?,
        position: row.try_get("position")?,
        interface: row.try_get("interface")?,
        vip: row.try_get::<i64, _>("vip")? != 0,
        swarm_node_id: row.try_get("swarm_node_id")?,
        address: row.try_get("address")?,
        node_id,
    })
}

fn vip_row(row: &AnyRow) -> Result<VipRow, ControlError> {
    let cluster_id: String = row.try_get("cluster_id")?;
    let peers: String = row.try_get("peers")?;
    let vrid: i64 = row.try_get("vrid")?;
    let track_port: Option<i64> = row.try_get("track_port")?;
    Ok(VipRow {
        peers: serde_json::from_str(&peers).map_err(|e| corrupt("VIP peers", &cluster_id, e))?,
        vrid: u8::try_from(vrid).map_err(|e| corrupt("VRID", &cluster_id, e))?,
        track_port: track_port
            .map(u16::try_from)
            .transpose()
            .map_err(|e| corrupt("VIP track port", &cluster_id, e))?,
        position: row.try_get("position")?,
        address: row.try_get("address")?,
        interface: row.try_get("interface")?,
        cluster_id,
    })
}

// Column lists as literals, so that every query stays a static string (`concat!`).
macro_rules! cluster_columns {
    () => {
        "id, name, definition, phase, swarm_id, worker_token, manager_token, created_at"
    };
}
macro_rules! member_columns {
    () => {
        "node_id, cluster_id, position, role, labels, interface, vip, swarm_node_id, address"
    };
}

impl Store {
    /// Creates the cluster, claims its nodes (a node belongs to at most one cluster), allocates a
    /// VRID per VIP (unique across the panel) and records the creation workflow. All or nothing.
    pub async fn insert_cluster(&self, new: NewCluster<'_>) -> Result<(), ControlError> {
        let now = crate::secret::now_ms();
        let c = new.cluster;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO clusters (id, name, name_key, definition, phase, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(c.name.to_lowercase())
        .bind(json(&c.definition)?)
        .bind(c.phase.as_str())
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for m in new.members {
            sqlx::query(
                "INSERT INTO cluster_members (node_id, cluster_id, position, role, labels, interface, vip) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&m.node_id)
            .bind(&c.id)
            .bind(m.position)
            .bind(m.role.as_str())
            .bind(json(&m.labels)?)
            .bind(&m.interface)
            .bind(i64::from(m.vip))
            .execute(&mut *tx)
            .await?;
        }
        for v in new.vips {
            let used: Vec<i64> = sqlx::query_scalar("SELECT vrid FROM vips ORDER BY vrid")
                .fetch_all(&mut *tx)
                .await?;
            let vrid = (1..=255).find(|n| !used.contains(n)).ok_or_else(|| {
                ControlError::Conflict("All 255 VRRP router ids are in use on this panel.".into())
            })?;
            sqlx::query(
                "INSERT INTO vips (cluster_id, position, address, interface, peers, vrid, track_port) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&c.id)
            .bind(v.position)
            .bind(&v.address)
            .bind(&v.interface)
            .bind(json(&v.peers)?)
            .bind(vrid)
            .bind(v.track_port.map(i64::from))
            .execute(&mut *tx)
            .await?;
        }
        insert_workflow(&mut tx, new.workflow, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn clusters(&self) -> Result<Vec<ClusterRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters ORDER BY name_key"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(cluster_row)
        .collect()
    }

    pub async fn cluster(&self, id: &str) -> Result<Option<ClusterRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(cluster_row)
        .transpose()
    }

    pub async fn cluster_name_taken(&self, name: &str) -> Result<bool, ControlError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clusters WHERE name_key = $1")
            .bind(name.to_lowercase())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn set_cluster_phase(
        &self,
        id: &str,
        phase: ClusterPhase,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE clusters SET phase = $1, updated_at = $2 WHERE id = $3")
            .bind(phase.as_str())
            .bind(crate::secret::now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the swarm and its (sealed) join tokens after init or rotation.
    pub async fn set_cluster_swarm(
        &self,
        id: &str,
        swarm_id: &str,
        worker: &str,
        manager: &str,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE clusters SET swarm_id = $1, worker_token = $2, manager_token = $3, updated_at = $4 WHERE id = $5")
            .bind(swarm_id)
            .bind(worker)
            .bind(manager)
            .bind(crate::secret::now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_cluster(&self, id: &str) -> Result<(), ControlError> {
        sqlx::query("DELETE FROM clusters WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn members(&self, cluster_id: &str) -> Result<Vec<MemberRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            member_columns!(),
            " FROM cluster_members WHERE cluster_id = $1 ORDER BY position"
        ))
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(member_row)
        .collect()
    }

    /// The members of these clusters, by cluster and position: one page of the cluster list.
    pub async fn members_of(&self, cluster_ids: &[String]) -> Result<Vec<MemberRow>, ControlError> {
        let head = concat!(
            "SELECT ",
            member_columns!(),
            " FROM cluster_members WHERE cluster_id"
        );
        self.rows_in(head, cluster_ids, "ORDER BY cluster_id, position")
            .await?
            .iter()
            .map(member_row)
            .collect()
    }

    pub async fn all_members(&self) -> Result<Vec<MemberRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            member_columns!(),
            " FROM cluster_members ORDER BY cluster_id, position"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(member_row)
        .collect()
    }

    pub async fn set_member_swarm(
        &self,
        node_id: &str,
        swarm_node_id: &str,
        address: &str,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "UPDATE cluster_members SET swarm_node_id = $1, address = $2 WHERE node_id = $3",
        )
        .bind(swarm_node_id)
        .bind(address)
        .bind(node_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Adds a member to an existing cluster together with the workflow that joins it.
    pub async fn add_member(
        &self,
        m: &MemberRow,
        workflow: &NewWorkflow,
    ) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO cluster_members (node_id, cluster_id, position, role, labels, interface, vip) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM cluster_members WHERE cluster_id = $2), $3, $4, $5, $6)",
        )
        .bind(&m.node_id)
        .bind(&m.cluster_id)
        .bind(m.role.as_str())
        .bind(json(&m.labels)?)
        .bind(&m.interface)
        .bind(i64::from(m.vip))
        .execute(&mut *tx)
        .await?;
        insert_workflow(&mut tx, workflow, crate::secret::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The name of the cluster a node belongs to, if any.
    pub async fn cluster_name_of_node(
        &self,
        node_id: &str,
    ) -> Result<Option<String>, ControlError> {
        Ok(sqlx::query_scalar(
            "SELECT c.name FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id \
             WHERE m.node_id = $1",
        )
        .bind(node_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn delete_member(&self, node_id: &str) -> Result<(), ControlError> {
        sqlx::query("DELETE FROM cluster_members WHERE node_id = $1")
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Renames a cluster and stores its edited definition.
    pub async fn update_cluster(
        &self,
        id: &str,
        name: &str,
        definition: &Definition,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE clusters SET name = $1, name_key = $2, definition = $3, updated_at = $4 WHERE id = $5")
            .bind(name)
            .bind(name.to_lowercase())
            .bind(json(definition)?)
            .bind(crate::secret::now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_member_role(
        &self,
        node_id: &str,
        role: SwarmRole,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE cluster_members SET role = $1 WHERE node_id = $2")
            .bind(role.as_str())
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_member_labels(
        &self,
        node_id: &str,
        labels: &[NodeLabel],
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE cluster_members SET labels = $1 WHERE node_id = $2")
            .bind(json(&labels)?)
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The VIPs of these clusters, by cluster and position: one page of the cluster list.
    pub async fn vips_of(&self, cluster_ids: &[String]) -> Result<Vec<VipRow>, ControlError> {
        let head = "SELECT cluster_id, position, address, interface, peers, vrid, track_port FROM vips WHERE cluster_id";
        self.rows_in(head, cluster_ids, "ORDER BY cluster_id, position")
            .await?
            .iter()
            .map(vip_row)
            .collect()
    }

    pub async fn vips(&self, cluster_id: &str) -> Result<Vec<VipRow>, ControlError> {
        sqlx::query(
            "SELECT cluster_id, position, address, interface, peers, vrid, track_port FROM vips WHERE cluster_id = $1 ORDER BY position",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(vip_row)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    pub(crate) fn cluster(id: &str, created_at: i64) -> ClusterRow {
        ClusterRow {
            id: id.into(),
            name: "Line-1".into(),
            definition: domain::cluster::DefinitionDraft {
                name: "Line-1".into(),
                ..Default::default()
            }
            .validate()
            .expect("valid"),
            phase: ClusterPhase::Creating,
            swarm_id: None,
            worker_token: None,
            manager_token: None,
            created_at,
        }
    }

    #[tokio::test]
    async fn clusters_and_vips_round_trip_typed() {
        let (store, _dir) = temp_store().await;
        let vip = VipRow {
            cluster_id: "c1".into(),
            position: 0,
            address: "10.0.0.100/24".into(),
            interface: None,
            peers: vec!["10.0.0.2".into()],
            vrid: 0,
            track_port: Some(8080),
        };
        store
            .insert_cluster(NewCluster {
                cluster: &cluster("c1", 1),
                created_by: "admin",
                members: &[],
                vips: std::slice::from_ref(&vip),
                workflow: &NewWorkflow::empty("w1", "c1"),
            })
            .await
            .expect("inserts");
        let vips = store.vips("c1").await.expect("vips");
        assert_eq!(vips.len(), 1);
        assert_eq!(vips[0].vrid, 1, "the first free VRID");
        assert_eq!(vips[0].track_port, Some(8080));
        assert_eq!(vips[0].peers, vec!["10.0.0.2".to_string()]);
        let c = store.cluster("c1").await.expect("reads").expect("exists");
        assert_eq!(
            (c.name.as_str(), c.phase),
            ("Line-1", ClusterPhase::Creating)
        );
        assert!(store.cluster_name_taken("line-1").await.expect("reads"));
    }

    #[tokio::test]
    async fn the_vips_of_several_clusters_come_by_cluster_and_position() {
        let (store, _dir) = temp_store().await;
        let vip = |cluster: &str, position: i64, address: &str| VipRow {
            cluster_id: cluster.into(),
            position,
            address: address.into(),
            interface: None,
            peers: vec![],
            vrid: 0,
            track_port: None,
        };
        for (id, vips) in [
            (
                "c2",
                vec![vip("c2", 0, "10.0.0.20/24"), vip("c2", 1, "10.0.0.21/24")],
            ),
            ("c1", vec![vip("c1", 0, "10.0.0.10/24")]),
            ("c3", vec![vip("c3", 0, "10.0.0.30/24")]),
        ] {
            let c = ClusterRow {
                name: format!("Line-{id}"),
                ..cluster(id, 1)
            };
            store
                .insert_cluster(NewCluster {
                    cluster: &c,
                    created_by: "admin",
                    members: &[],
                    vips: &vips,
                    workflow: &NewWorkflow::empty(&format!("w-{id}"), id),
                })
                .await
                .expect("inserts");
        }
        let got: Vec<(String, String)> = store
            .vips_of(&["c2".into(), "c1".into()])
            .await
            .expect("vips")
            .into_iter()
            .map(|v| (v.cluster_id, v.address))
            .collect();
        let want = [
            ("c1", "10.0.0.10/24"),
            ("c2", "10.0.0.20/24"),
            ("c2", "10.0.0.21/24"),
        ];
        assert_eq!(got, want.map(|(c, a)| (c.to_string(), a.to_string())));
        assert!(store.vips_of(&[]).await.expect("none").is_empty());
        assert!(
            store
                .members_of(&["c1".into()])
                .await
                .expect("members")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn text_the_panel_did_not_write_is_corrupt_not_a_default() {
        let (store, _dir) = temp_store().await;
        store
            .insert_cluster(NewCluster {
                cluster: &cluster("c1", 1),
                created_by: "admin",
                members: &[],
                vips: &[],
                workflow: &NewWorkflow::empty("w1", "c1"),
            })
            .await
            .expect("inserts");
        sqlx::query("UPDATE clusters SET phase = 'sideways' WHERE id = 'c1'")
            .execute(&store.pool)
            .await
            .expect("update");
        assert!(matches!(
            store.cluster("c1").await,
            Err(ControlError::Corrupt(_))
        ));
        sqlx::query("UPDATE clusters SET phase = 'active', definition = '{}' WHERE id = 'c1'")
            .execute(&store.pool)
            .await
            .expect("update");
        assert!(matches!(
            store.clusters().await,
            Err(ControlError::Corrupt(_))
        ));
    }
}

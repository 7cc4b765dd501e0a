use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::ControlError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClusterRow {
    pub id: String,
    pub name: String,
    pub definition: String,
    pub phase: String,
    pub swarm_id: Option<String>,
    pub worker_token: Option<String>,
    pub manager_token: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub node_id: String,
    pub cluster_id: String,
    pub position: i64,
    pub role: String,
    pub labels: String,
    pub interface: String,
    pub vip: bool,
    pub swarm_node_id: Option<String>,
    pub address: Option<String>,
}

/// `vip` is an integer column on both backends (sqlx's `Any` driver reads no SQLite booleans).
impl<'r> sqlx::FromRow<'r, AnyRow> for MemberRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            node_id: row.try_get("node_id")?,
            cluster_id: row.try_get("cluster_id")?,
            position: row.try_get("position")?,
            role: row.try_get("role")?,
            labels: row.try_get("labels")?,
            interface: row.try_get("interface")?,
            vip: row.try_get::<i64, _>("vip")? != 0,
            swarm_node_id: row.try_get("swarm_node_id")?,
            address: row.try_get("address")?,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VipRow {
    pub cluster_id: String,
    pub position: i64,
    pub address: String,
    pub interface: Option<String>,
    pub peers: String,
    pub vrid: i64,
    pub track_port: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRow {
    pub id: String,
    pub cluster_id: String,
    pub kind: String,
    pub status: String,
    pub steps: String,
    pub current: i64,
    pub error: Option<String>,
    pub created_at: i64,
}

/// Everything written when a cluster is created, in one transaction.
pub struct NewCluster<'a> {
    pub cluster: &'a ClusterRow,
    pub created_by: &'a str,
    pub members: &'a [MemberRow],
    /// VRIDs are allocated inside the transaction (the rows' `vrid` is ignored).
    pub vips: &'a [VipRow],
    pub workflow: &'a WorkflowRow,
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
macro_rules! workflow_columns {
    () => {
        "id, cluster_id, kind, status, steps, current, error, created_at"
    };
}

impl Store {
    /// Creates the cluster, claims its nodes (a node belongs to at most one cluster), allocates a
    /// VRID per VIP (unique across the panel) and records the creation workflow. All or nothing.
    pub async fn insert_cluster(&self, new: NewCluster<'_>) -> Result<(), ControlError> {
        let now = crate::secret::now_ms();
        let c = new.cluster;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO clusters (id, name, name_key, definition, phase, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(c.name.to_lowercase())
        .bind(&c.definition)
        .bind(&c.phase)
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
            .bind(&m.role)
            .bind(&m.labels)
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
            .bind(&v.peers)
            .bind(vrid)
            .bind(v.track_port)
            .execute(&mut *tx)
            .await?;
        }
        insert_workflow(&mut tx, new.workflow, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn clusters(&self) -> Result<Vec<ClusterRow>, ControlError> {
        Ok(sqlx::query_as::<_, ClusterRow>(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters ORDER BY name_key"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn cluster(&self, id: &str) -> Result<Option<ClusterRow>, ControlError> {
        Ok(sqlx::query_as::<_, ClusterRow>(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn cluster_name_taken(&self, name: &str) -> Result<bool, ControlError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clusters WHERE name_key = $1")
            .bind(name.to_lowercase())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn set_cluster_phase(&self, id: &str, phase: &str) -> Result<(), ControlError> {
        sqlx::query("UPDATE clusters SET phase = $1, updated_at = $2 WHERE id = $3")
            .bind(phase)
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
        Ok(sqlx::query_as::<_, MemberRow>(concat!(
            "SELECT ",
            member_columns!(),
            " FROM cluster_members WHERE cluster_id = $1 ORDER BY position"
        ))
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn all_members(&self) -> Result<Vec<MemberRow>, ControlError> {
        Ok(sqlx::query_as::<_, MemberRow>(concat!(
            "SELECT ",
            member_columns!(),
            " FROM cluster_members ORDER BY cluster_id, position"
        ))
        .fetch_all(&self.pool)
        .await?)
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
        workflow: &WorkflowRow,
    ) -> Result<(), ControlError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO cluster_members (node_id, cluster_id, position, role, labels, interface, vip) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM cluster_members WHERE cluster_id = $2), $3, $4, $5, $6)",
        )
        .bind(&m.node_id)
        .bind(&m.cluster_id)
        .bind(&m.role)
        .bind(&m.labels)
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
        definition: &str,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE clusters SET name = $1, name_key = $2, definition = $3, updated_at = $4 WHERE id = $5")
            .bind(name)
            .bind(name.to_lowercase())
            .bind(definition)
            .bind(crate::secret::now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_member_role(&self, node_id: &str, role: &str) -> Result<(), ControlError> {
        sqlx::query("UPDATE cluster_members SET role = $1 WHERE node_id = $2")
            .bind(role)
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_member_labels(&self, node_id: &str, labels: &str) -> Result<(), ControlError> {
        sqlx::query("UPDATE cluster_members SET labels = $1 WHERE node_id = $2")
            .bind(labels)
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn vips(&self, cluster_id: &str) -> Result<Vec<VipRow>, ControlError> {
        Ok(sqlx::query_as::<_, VipRow>(
            "SELECT cluster_id, position, address, interface, peers, vrid, track_port FROM vips WHERE cluster_id = $1 ORDER BY position",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn workflow(&self, id: &str) -> Result<Option<WorkflowRow>, ControlError> {
        Ok(sqlx::query_as::<_, WorkflowRow>(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest workflow of a cluster.
    pub async fn latest_workflow(
        &self,
        cluster_id: &str,
    ) -> Result<Option<WorkflowRow>, ControlError> {
        Ok(sqlx::query_as::<_, WorkflowRow>(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE cluster_id = $1 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn running_workflows(&self) -> Result<Vec<WorkflowRow>, ControlError> {
        Ok(sqlx::query_as::<_, WorkflowRow>(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE status = 'running' ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn add_workflow(&self, w: &WorkflowRow) -> Result<(), ControlError> {
        let mut tx = self.pool.begin().await?;
        insert_workflow(&mut tx, w, crate::secret::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a workflow's progress (before and after every step).
    pub async fn save_workflow(&self, w: &WorkflowRow) -> Result<(), ControlError> {
        sqlx::query("UPDATE workflows SET status = $1, steps = $2, current = $3, error = $4, updated_at = $5 WHERE id = $6")
            .bind(&w.status)
            .bind(&w.steps)
            .bind(w.current)
            .bind(&w.error)
            .bind(crate::secret::now_ms())
            .bind(&w.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Records a workflow. Its `created_at` is later than every earlier workflow of the cluster, so
/// that "the newest workflow" is well defined even within one millisecond.
async fn insert_workflow(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    w: &WorkflowRow,
    now: i64,
) -> Result<(), ControlError> {
    let previous: Option<i64> =
        sqlx::query_scalar("SELECT MAX(created_at) FROM workflows WHERE cluster_id = $1")
            .bind(&w.cluster_id)
            .fetch_one(&mut **tx)
            .await?;
    let created_at = now
        .max(w.created_at)
        .max(previous.map_or(i64::MIN, |p| p + 1));
    sqlx::query(
        "INSERT INTO workflows (id, cluster_id, kind, status, steps, current, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&w.id)
    .bind(&w.cluster_id)
    .bind(&w.kind)
    .bind(&w.status)
    .bind(&w.steps)
    .bind(w.current)
    .bind(&w.error)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn workflow(id: &str, cluster_id: &str, created_at: i64) -> WorkflowRow {
        WorkflowRow {
            id: id.into(),
            cluster_id: cluster_id.into(),
            kind: "create".into(),
            status: "running".into(),
            steps: "[]".into(),
            current: 0,
            error: None,
            created_at,
        }
    }

    #[tokio::test]
    async fn the_newest_workflow_is_the_last_recorded_even_within_one_millisecond() {
        let (store, _dir) = temp_store().await;
        let far_future = crate::secret::now_ms() + 3_600_000;
        let cluster = ClusterRow {
            id: "c1".into(),
            name: "Line-1".into(),
            definition: "{}".into(),
            phase: "creating".into(),
            swarm_id: None,
            worker_token: None,
            manager_token: None,
            created_at: far_future,
        };
        let vip = VipRow {
            cluster_id: "c1".into(),
            position: 0,
            address: "10.0.0.100/24".into(),
            interface: None,
            peers: "[]".into(),
            vrid: 0,
            track_port: Some(8080),
        };
        store
            .insert_cluster(NewCluster {
                cluster: &cluster,
                created_by: "admin",
                members: &[],
                vips: std::slice::from_ref(&vip),
                workflow: &workflow("w1", "c1", far_future),
            })
            .await
            .expect("inserts");
        // Same timestamp as the first: the store still orders it after.
        store
            .add_workflow(&workflow("w2", "c1", far_future))
            .await
            .expect("adds");
        let latest = store
            .latest_workflow("c1")
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(latest.id, "w2");
        assert!(latest.created_at > far_future);

        let vips = store.vips("c1").await.expect("vips");
        assert_eq!(vips.len(), 1);
        assert_eq!(vips[0].vrid, 1, "the first free VRID");
        assert_eq!(vips[0].track_port, Some(8080));
        assert_eq!(
            store.cluster("c1").await.expect("reads").map(|c| c.name),
            Some("Line-1".into())
        );
        assert!(store.cluster_name_taken("line-1").await.expect("reads"));
    }
}

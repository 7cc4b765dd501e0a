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

#[derive(Debug, Clone, sqlx::FromRow)]
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

const CLUSTER_COLUMNS: &str =
    "id, name, definition, phase, swarm_id, worker_token, manager_token, created_at";

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
            .bind(m.vip)
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
        Ok(sqlx::query_as::<_, ClusterRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters ORDER BY name_key"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn cluster(&self, id: &str) -> Result<Option<ClusterRow>, ControlError> {
        Ok(sqlx::query_as::<_, ClusterRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1"
        )))
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
        Ok(sqlx::query_as::<_, MemberRow>(
            "SELECT node_id, cluster_id, position, role, labels, interface, vip, swarm_node_id, address \
             FROM cluster_members WHERE cluster_id = $1 ORDER BY position",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn all_members(&self) -> Result<Vec<MemberRow>, ControlError> {
        Ok(sqlx::query_as::<_, MemberRow>(
            "SELECT node_id, cluster_id, position, role, labels, interface, vip, swarm_node_id, address \
             FROM cluster_members ORDER BY cluster_id, position",
        )
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
        .bind(m.vip)
        .execute(&mut *tx)
        .await?;
        insert_workflow(&mut tx, workflow, crate::secret::now_ms()).await?;
        tx.commit().await?;
        Ok(())
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
        Ok(sqlx::query_as::<_, WorkflowRow>(
            "SELECT id, cluster_id, kind, status, steps, current, error, created_at FROM workflows WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest workflow of a cluster.
    pub async fn latest_workflow(
        &self,
        cluster_id: &str,
    ) -> Result<Option<WorkflowRow>, ControlError> {
        Ok(sqlx::query_as::<_, WorkflowRow>(
            "SELECT id, cluster_id, kind, status, steps, current, error, created_at FROM workflows \
             WHERE cluster_id = $1 ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn running_workflows(&self) -> Result<Vec<WorkflowRow>, ControlError> {
        Ok(sqlx::query_as::<_, WorkflowRow>(
            "SELECT id, cluster_id, kind, status, steps, current, error, created_at FROM workflows \
             WHERE status = 'running' ORDER BY created_at",
        )
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

async fn insert_workflow(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    w: &WorkflowRow,
    now: i64,
) -> Result<(), ControlError> {
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
    .bind(now.max(w.created_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

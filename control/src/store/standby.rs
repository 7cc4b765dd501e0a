//! A cluster's async-standby volume: which member is the primary, in which epoch, and the sealed
//! key of the nodes' sync channel (one row per cluster that has one).
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use crate::ControlError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandbyRow {
    pub cluster_id: String,
    pub primary_node_id: String,
    pub epoch: u64,
    /// The sync key (base64), sealed by the vault.
    pub sync_key: String,
}

fn standby_row(row: &AnyRow) -> Result<StandbyRow, ControlError> {
    let cluster_id: String = row.try_get("cluster_id")?;
    let epoch: i64 = row.try_get("epoch")?;
    Ok(StandbyRow {
        primary_node_id: row.try_get("primary_node_id")?,
        epoch: u64::try_from(epoch)
            .map_err(|_| corrupt("async volume", &cluster_id, "negative epoch"))?,
        sync_key: row.try_get("sync_key")?,
        cluster_id,
    })
}

impl Store {
    pub async fn standby(&self, cluster_id: &str) -> Result<Option<StandbyRow>, ControlError> {
        sqlx::query(
            "SELECT cluster_id, primary_node_id, epoch, sync_key FROM standby_volumes WHERE cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(standby_row)
        .transpose()
    }

    /// Every cluster's async volume (the failover watch reads them all).
    pub async fn standbys(&self) -> Result<Vec<StandbyRow>, ControlError> {
        sqlx::query("SELECT cluster_id, primary_node_id, epoch, sync_key FROM standby_volumes")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(standby_row)
            .collect()
    }

    /// Makes `node_id` the primary in the next epoch, unless it is the primary already (a step
    /// run again); the row that holds afterwards.
    pub async fn promote_standby(
        &self,
        cluster_id: &str,
        node_id: &str,
    ) -> Result<StandbyRow, ControlError> {
        sqlx::query(
            "UPDATE standby_volumes SET primary_node_id = $2, epoch = epoch + 1, changed_at = $3 \
             WHERE cluster_id = $1 AND primary_node_id <> $2",
        )
        .bind(cluster_id)
        .bind(node_id)
        .bind(crate::secret::now_ms())
        .execute(&self.pool)
        .await?;
        self.standby(cluster_id).await?.ok_or_else(|| {
            ControlError::Corrupt(format!("the async volume of {cluster_id} vanished"))
        })
    }

    /// Stores `row` unless the cluster has one already; the row that holds afterwards.
    pub async fn standby_or_insert(&self, row: &StandbyRow) -> Result<StandbyRow, ControlError> {
        let epoch = i64::try_from(row.epoch)
            .map_err(|_| ControlError::Corrupt("epoch out of range".into()))?;
        sqlx::query(
            "INSERT INTO standby_volumes (cluster_id, primary_node_id, epoch, sync_key, changed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cluster_id) DO NOTHING",
        )
        .bind(&row.cluster_id)
        .bind(&row.primary_node_id)
        .bind(epoch)
        .bind(&row.sync_key)
        .bind(crate::secret::now_ms())
        .execute(&self.pool)
        .await?;
        self.standby(&row.cluster_id).await?.ok_or_else(|| {
            ControlError::Corrupt(format!("the async volume of {} vanished", row.cluster_id))
        })
    }

    pub async fn delete_standby(&self, cluster_id: &str) -> Result<(), ControlError> {
        sqlx::query("DELETE FROM standby_volumes WHERE cluster_id = $1")
            .bind(cluster_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

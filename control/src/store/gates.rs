//! A cluster's rollout gates; the check is stored as JSON and decoded here (bad data is an error).
use domain::firmware::gates::{Gate, GateCheck, NewGate};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use crate::ControlError;

fn gate_row(row: &AnyRow) -> Result<Gate, ControlError> {
    let id: String = row.try_get("id")?;
    let spec: String = row.try_get("spec")?;
    let check: GateCheck =
        serde_json::from_str(&spec).map_err(|e| corrupt("rollout gate", &id, e))?;
    let timeout: i64 = row.try_get("timeout_secs")?;
    Ok(Gate {
        name: row.try_get("name")?,
        check,
        timeout_secs: u32::try_from(timeout)
            .map_err(|_| corrupt("rollout gate", &id, "timeout out of range"))?,
        id,
    })
}

impl Store {
    /// A cluster's gates in the order they were added.
    pub async fn gates(&self, cluster_id: &str) -> Result<Vec<Gate>, ControlError> {
        sqlx::query(
            "SELECT id, name, spec, timeout_secs FROM rollout_gates WHERE cluster_id = $1 ORDER BY created_at, id",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(gate_row)
        .collect()
    }

    /// Adds a gate; `false` when the cluster has one of that name already.
    pub async fn insert_gate(
        &self,
        cluster_id: &str,
        id: &str,
        gate: &NewGate,
    ) -> Result<bool, ControlError> {
        let spec =
            serde_json::to_string(&gate.check).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let done = sqlx::query(
            "INSERT INTO rollout_gates (id, cluster_id, name, spec, timeout_secs, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cluster_id, name) DO NOTHING",
        )
        .bind(id)
        .bind(cluster_id)
        .bind(&gate.name)
        .bind(spec)
        .bind(i64::from(gate.timeout_secs))
        .bind(crate::secret::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a gate of a cluster; `false` when it did not exist.
    pub async fn delete_gate(&self, cluster_id: &str, id: &str) -> Result<bool, ControlError> {
        let done = sqlx::query("DELETE FROM rollout_gates WHERE cluster_id = $1 AND id = $2")
            .bind(cluster_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

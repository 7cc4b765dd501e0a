//! Workloads: apps installed on clusters. The phase and the choices are decoded here (unknown
//! text is `Corrupt`); the app secrets stay sealed, only the workloads capability opens them.
use domain::workload::install::WorkloadPhase;
use domain::workload::spec::ServiceChoice;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use super::workflows::{NewWorkflow, insert_workflow};
use crate::ControlError;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRow {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub app_id: String,
    pub version_id: String,
    pub phase: WorkloadPhase,
    pub stopped: bool,
    pub choices: Vec<(String, ServiceChoice)>,
    /// Sealed JSON of the app secrets' values.
    pub secrets: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change of an installed workload, started with its workflow.
pub struct WorkloadChange<'a> {
    /// The phases it may be in.
    pub from: &'a [WorkloadPhase],
    pub phase: WorkloadPhase,
    pub version_id: Option<&'a str>,
    pub choices: Option<&'a [(String, ServiceChoice)]>,
    pub stopped: Option<bool>,
    pub workflow: &'a NewWorkflow,
}

macro_rules! select_workloads {
    () => {
        "SELECT id, cluster_id, name, app_id, version_id, phase, stopped, choices, secrets, \
         created_by, created_at, updated_at FROM workloads"
    };
}

fn workload_row(row: &AnyRow) -> Result<WorkloadRow, ControlError> {
    let id: String = row.try_get("id")?;
    let phase: String = row.try_get("phase")?;
    let choices: String = row.try_get("choices")?;
    let stopped: i64 = row.try_get("stopped")?;
    Ok(WorkloadRow {
        phase: WorkloadPhase::parse(&phase)
            .ok_or_else(|| corrupt("phase", &id, format!("unknown phase {phase:?}")))?,
        choices: serde_json::from_str(&choices).map_err(|e| corrupt("choices", &id, e))?,
        stopped: match stopped {
            0 => false,
            1 => true,
            other => return Err(corrupt("stopped", &id, format!("{other} is not 0 or 1"))),
        },
        cluster_id: row.try_get("cluster_id")?,
        name: row.try_get("name")?,
        app_id: row.try_get("app_id")?,
        version_id: row.try_get("version_id")?,
        secrets: row.try_get("secrets")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        id,
    })
}

impl Store {
    /// Adds a workload with the workflow that deploys it (one transaction); `false` when the
    /// cluster has a workload of that name already.
    pub async fn insert_workload(
        &self,
        w: &WorkloadRow,
        workflow: &NewWorkflow,
    ) -> Result<bool, ControlError> {
        let choices =
            serde_json::to_string(&w.choices).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO workloads (id, cluster_id, name, app_id, version_id, phase, stopped, choices, \
             secrets, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&w.id)
        .bind(&w.cluster_id)
        .bind(&w.name)
        .bind(&w.app_id)
        .bind(&w.version_id)
        .bind(w.phase.as_str())
        .bind(i64::from(w.stopped))
        .bind(choices)
        .bind(&w.secrets)
        .bind(&w.created_by)
        .bind(w.created_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted.map_err(ControlError::from) {
            return if e.is_unique_violation() {
                Ok(false)
            } else {
                Err(e)
            };
        }
        insert_workflow(&mut tx, workflow, w.created_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn workload(&self, id: &str) -> Result<Option<WorkloadRow>, ControlError> {
        sqlx::query(concat!(select_workloads!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(workload_row)
            .transpose()
    }

    /// A cluster's workloads by name.
    pub async fn workloads_of(&self, cluster_id: &str) -> Result<Vec<WorkloadRow>, ControlError> {
        sqlx::query(concat!(
            select_workloads!(),
            " WHERE cluster_id = $1 ORDER BY name"
        ))
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(workload_row)
        .collect()
    }

    /// How many workloads use an app (any version).
    pub async fn count_workloads_of_app(&self, app_id: &str) -> Result<i64, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM workloads WHERE app_id = $1")
                .bind(app_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn set_workload_phase(
        &self,
        id: &str,
        phase: WorkloadPhase,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE workloads SET phase = $1, updated_at = $2 WHERE id = $3")
            .bind(phase.as_str())
            .bind(crate::secret::now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves a workload to `change.phase` (with its new version, choices or running state) and
    /// records the workflow that gets it there (one transaction); `false` when the workload is
    /// not in one of `change.from`.
    pub async fn begin_workload_change(
        &self,
        id: &str,
        change: WorkloadChange<'_>,
    ) -> Result<bool, ControlError> {
        let WorkloadChange {
            from,
            phase,
            version_id,
            choices,
            stopped,
            workflow,
        } = change;
        let choices = choices
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let now = crate::secret::now_ms();
        let mut tx = self.begin_write().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT phase FROM workloads WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if !current.is_some_and(|p| from.iter().any(|f| f.as_str() == p)) {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE workloads SET phase = $1, updated_at = $2, version_id = COALESCE($3, version_id), \
             choices = COALESCE($4, choices), stopped = COALESCE($5, stopped) WHERE id = $6",
        )
        .bind(phase.as_str())
        .bind(now)
        .bind(version_id)
        .bind(choices)
        .bind(stopped.map(i64::from))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_workflow(&mut tx, workflow, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records the version (and choices) a workload runs again, after Swarm rolled an update
    /// back.
    pub async fn revert_workload(
        &self,
        id: &str,
        version_id: &str,
        choices: &[(String, ServiceChoice)],
    ) -> Result<(), ControlError> {
        let choices =
            serde_json::to_string(choices).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        sqlx::query(
            "UPDATE workloads SET version_id = $1, choices = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(version_id)
        .bind(choices)
        .bind(crate::secret::now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_workload(&self, id: &str) -> Result<(), ControlError> {
        sqlx::query("DELETE FROM workloads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn a_bad_phase_is_corrupt_not_a_default() {
        let (store, _dir) = temp_store().await;
        for sql in [
            "INSERT INTO clusters (id, name, name_key, definition, phase, created_by, created_at, updated_at) \
             VALUES ('c', 'line', 'line', '{}', 'active', 'admin', 0, 0)",
            "INSERT INTO apps (id, name, name_key, kind, description, created_by, created_at) \
             VALUES ('a', 'Shop', 'shop', 'app', '', 'admin', 0)",
            "INSERT INTO app_versions (id, app_id, version, compose, created_by, created_at) \
             VALUES ('v', 'a', '1', '', 'admin', 0)",
            "INSERT INTO workloads (id, cluster_id, name, app_id, version_id, phase, stopped, choices, \
             secrets, created_by, created_at, updated_at) \
             VALUES ('w', 'c', 'shop', 'a', 'v', 'sideways', 0, '[]', '', 'admin', 0, 0)",
        ] {
            sqlx::query(sql).execute(&store.pool).await.expect("insert");
        }
        assert!(matches!(
            store.workload("w").await,
            Err(ControlError::Corrupt(m)) if m.contains("sideways")
        ));
    }
}

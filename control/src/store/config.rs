//! A cluster's Global Config: its versions (each a whole document), named saves and the nodes'
//! write failures. The origin of a version is stored as JSON and decoded here (bad data is an
//! error).
use domain::config::global::Origin;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use crate::ControlError;

/// One stored version of a cluster's document.
#[derive(Clone, Debug)]
pub struct ConfigVersionRow {
    pub version: u64,
    pub document: String,
    pub origin: Origin,
    pub saved_by: String,
    pub saved_at: i64,
}

/// A node's last failure to write a version.
#[derive(Clone, Debug)]
pub struct ConfigFailureRow {
    pub node_id: String,
    pub version: u64,
    pub message: String,
}

fn version_of(value: i64, cluster_id: &str) -> Result<u64, ControlError> {
    u64::try_from(value).map_err(|_| corrupt("global config", cluster_id, "negative version"))
}

fn version_row(row: &AnyRow, cluster_id: &str) -> Result<ConfigVersionRow, ControlError> {
    let origin: String = row.try_get("origin")?;
    Ok(ConfigVersionRow {
        version: version_of(row.try_get("version")?, cluster_id)?,
        document: row.try_get("document")?,
        origin: serde_json::from_str(&origin)
            .map_err(|e| corrupt("global config origin", cluster_id, e))?,
        saved_by: row.try_get("saved_by")?,
        saved_at: row.try_get("saved_at")?,
    })
}

fn as_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

impl Store {
    /// The newest version of a cluster's document, if any was saved.
    pub async fn config_current(
        &self,
        cluster_id: &str,
    ) -> Result<Option<ConfigVersionRow>, ControlError> {
        sqlx::query(
            "SELECT version, document, origin, saved_by, saved_at FROM global_config_versions \
             WHERE cluster_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| version_row(&r, cluster_id))
        .transpose()
    }

    /// One version of a cluster's document.
    pub async fn config_version(
        &self,
        cluster_id: &str,
        version: u64,
    ) -> Result<Option<ConfigVersionRow>, ControlError> {
        sqlx::query(
            "SELECT version, document, origin, saved_by, saved_at FROM global_config_versions \
             WHERE cluster_id = $1 AND version = $2",
        )
        .bind(cluster_id)
        .bind(as_i64(version))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| version_row(&r, cluster_id))
        .transpose()
    }

    /// Every version of a cluster's document, newest first (at most `limit`).
    pub async fn config_versions(
        &self,
        cluster_id: &str,
        limit: u32,
    ) -> Result<Vec<ConfigVersionRow>, ControlError> {
        sqlx::query(
            "SELECT version, document, origin, saved_by, saved_at FROM global_config_versions \
             WHERE cluster_id = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(cluster_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| version_row(r, cluster_id))
        .collect()
    }

    /// Stores `document` as version `base + 1`; `false` (nothing stored) when the newest
    /// version is not `base` any more (somebody saved meanwhile).
    pub async fn insert_config_version(
        &self,
        cluster_id: &str,
        base: u64,
        document: &str,
        origin: &Origin,
        saved_by: &str,
    ) -> Result<bool, ControlError> {
        let origin = serde_json::to_string(origin)
            .map_err(|e| corrupt("global config origin", cluster_id, e))?;
        let mut tx = self.begin_write().await?;
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM global_config_versions WHERE cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_one(&mut *tx)
        .await?;
        if version_of(newest.unwrap_or(0), cluster_id)? != base {
            return Ok(false);
        }
        let stored = sqlx::query(
            "INSERT INTO global_config_versions (cluster_id, version, document, origin, saved_by, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cluster_id, version) DO NOTHING",
        )
        .bind(cluster_id)
        .bind(as_i64(base + 1))
        .bind(document)
        .bind(origin)
        .bind(saved_by)
        .bind(crate::secret::now_ms())
        .execute(&mut *tx)
        .await?;
        if stored.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Names of a cluster's saved documents, newest first.
    pub async fn config_saved_names(&self, cluster_id: &str) -> Result<Vec<String>, ControlError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM global_config_saved WHERE cluster_id = $1 ORDER BY saved_at DESC, name",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A saved document by name.
    pub async fn config_saved(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<String>, ControlError> {
        Ok(sqlx::query_scalar(
            "SELECT document FROM global_config_saved WHERE cluster_id = $1 AND name = $2",
        )
        .bind(cluster_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Saves (or overwrites) a document under a name.
    pub async fn upsert_config_saved(
        &self,
        cluster_id: &str,
        name: &str,
        document: &str,
        saved_by: &str,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO global_config_saved (cluster_id, name, document, saved_by, saved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cluster_id, name) \
             DO UPDATE SET document = excluded.document, saved_by = excluded.saved_by, saved_at = excluded.saved_at",
        )
        .bind(cluster_id)
        .bind(name)
        .bind(document)
        .bind(saved_by)
        .bind(crate::secret::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a saved document; `false` when there was none of that name.
    pub async fn delete_config_saved(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<bool, ControlError> {
        let done =
            sqlx::query("DELETE FROM global_config_saved WHERE cluster_id = $1 AND name = $2")
                .bind(cluster_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The cluster a node is a member of, if any.
    pub async fn cluster_id_of_node(&self, node_id: &str) -> Result<Option<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT cluster_id FROM cluster_members WHERE node_id = $1")
                .bind(node_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The nodes' last write failures in a cluster.
    pub async fn config_failures(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<ConfigFailureRow>, ControlError> {
        sqlx::query(
            "SELECT node_id, version, message FROM global_config_failures WHERE cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ConfigFailureRow {
                node_id: r.try_get("node_id")?,
                version: version_of(r.try_get("version")?, cluster_id)?,
                message: r.try_get("message")?,
            })
        })
        .collect()
    }

    /// Records what a node's agent said when it could not write a version (`None`: it wrote
    /// it, any failure is forgotten).
    pub async fn set_config_failure(
        &self,
        cluster_id: &str,
        node_id: &str,
        failure: Option<(u64, &str)>,
    ) -> Result<(), ControlError> {
        match failure {
            None => {
                sqlx::query(
                    "DELETE FROM global_config_failures WHERE cluster_id = $1 AND node_id = $2",
                )
                .bind(cluster_id)
                .bind(node_id)
                .execute(&self.pool)
                .await?;
            }
            Some((version, message)) => {
                sqlx::query(
                    "INSERT INTO global_config_failures (cluster_id, node_id, version, message, failed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cluster_id, node_id) \
                     DO UPDATE SET version = excluded.version, message = excluded.message, failed_at = excluded.failed_at",
                )
                .bind(cluster_id)
                .bind(node_id)
                .bind(as_i64(version))
                .bind(message)
                .bind(crate::secret::now_ms())
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}

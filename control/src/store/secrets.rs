//! A cluster's Global Secrets: sealed values with their versions (the store never sees a value
//! in clear: the vault seals and opens them in `control::config::secrets`).
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use super::workflows::{NewWorkflow, insert_workflow};
use crate::ControlError;

/// One stored secret; `value` is sealed.
#[derive(Clone)]
pub struct SecretRow {
    pub name: String,
    pub version: u64,
    pub value: String,
    pub size_bytes: u64,
    pub updated_by: String,
    pub updated_at: i64,
}

impl std::fmt::Debug for SecretRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRow")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn number(row: &AnyRow, column: &str, name: &str) -> Result<u64, ControlError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| corrupt("global secret", name, format!("negative {column}")))
}

fn secret_row(row: &AnyRow) -> Result<SecretRow, ControlError> {
    let name: String = row.try_get("name")?;
    Ok(SecretRow {
        version: number(row, "version", &name)?,
        size_bytes: number(row, "size_bytes", &name)?,
        value: row.try_get("value")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
        name,
    })
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// A cluster's secrets by name.
    pub async fn secrets(&self, cluster_id: &str) -> Result<Vec<SecretRow>, ControlError> {
        sqlx::query(
            "SELECT name, version, value, size_bytes, updated_by, updated_at FROM global_secrets \
             WHERE cluster_id = $1 ORDER BY name",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(secret_row)
        .collect()
    }

    pub async fn secret(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<SecretRow>, ControlError> {
        sqlx::query(
            "SELECT name, version, value, size_bytes, updated_by, updated_at FROM global_secrets \
             WHERE cluster_id = $1 AND name = $2",
        )
        .bind(cluster_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| secret_row(&r))
        .transpose()
    }

    /// Writes secrets in one transaction: a new name starts at version 1, a changed one gets the
    /// next version. `(name, sealed value, size)`; answers the versions written, in order. The
    /// workflow that rolls the services using them is recorded in the same transaction.
    pub async fn put_secrets(
        &self,
        cluster_id: &str,
        secrets: &[(String, String, u64)],
        by: &str,
        workflow: Option<&NewWorkflow>,
    ) -> Result<Vec<u64>, ControlError> {
        let now = crate::secret::now_ms();
        let mut tx = self.begin_write().await?;
        let mut versions = vec![];
        for (name, sealed, size) in secrets {
            let current: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM global_secrets WHERE cluster_id = $1 AND name = $2",
            )
            .bind(cluster_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let version = match current {
                Some(v) => {
                    let next = u64::try_from(v)
                        .map_err(|_| corrupt("global secret", name, "negative version"))?
                        + 1;
                    sqlx::query(
                        "UPDATE global_secrets SET version = $1, value = $2, size_bytes = $3, \
                         updated_by = $4, updated_at = $5 WHERE cluster_id = $6 AND name = $7",
                    )
                    .bind(as_i64(next))
                    .bind(sealed)
                    .bind(as_i64(*size))
                    .bind(by)
                    .bind(now)
                    .bind(cluster_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                    next
                }
                None => {
                    sqlx::query(
                        "INSERT INTO global_secrets (cluster_id, name, version, value, size_bytes, updated_by, updated_at) \
                         VALUES ($1, $2, 1, $3, $4, $5, $6)",
                    )
                    .bind(cluster_id)
                    .bind(name)
                    .bind(sealed)
                    .bind(as_i64(*size))
                    .bind(by)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    1
                }
            };
            versions.push(version);
        }
        if let Some(w) = workflow {
            insert_workflow(&mut tx, w, now).await?;
        }
        tx.commit().await?;
        Ok(versions)
    }

    /// Removes a secret; `false` when there was none of that name.
    pub async fn delete_secret(&self, cluster_id: &str, name: &str) -> Result<bool, ControlError> {
        let done = sqlx::query("DELETE FROM global_secrets WHERE cluster_id = $1 AND name = $2")
            .bind(cluster_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

//! Registry credentials of clusters (passwords sealed by the vault) and what each node's
//! `docker login` said. Check statuses are decoded here (unknown text is `Corrupt`).
use domain::workload::registry::CheckStatus;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use super::workflows::{NewWorkflow, insert_workflow};
use crate::ControlError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub id: String,
    pub cluster_id: String,
    pub registry: String,
    pub username: String,
    /// Sealed by the vault.
    pub password: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    pub credential_id: String,
    pub node_id: String,
    pub status: CheckStatus,
    pub message: String,
}

fn credential_row(row: &AnyRow) -> Result<CredentialRow, ControlError> {
    Ok(CredentialRow {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        registry: row.try_get("registry")?,
        username: row.try_get("username")?,
        password: row.try_get("password")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn check_row(row: &AnyRow) -> Result<CheckRow, ControlError> {
    let credential_id: String = row.try_get("credential_id")?;
    let status: String = row.try_get("status")?;
    Ok(CheckRow {
        status: CheckStatus::parse(&status).ok_or_else(|| {
            corrupt(
                "check status",
                &credential_id,
                format!("unknown status {status:?}"),
            )
        })?,
        node_id: row.try_get("node_id")?,
        message: row.try_get("message")?,
        credential_id,
    })
}

impl Store {
    /// Adds or replaces the credentials of a cluster's registries (by registry), marks their
    /// checks pending on `nodes`, and records the workflow that checks and applies them — one
    /// transaction.
    pub async fn save_credentials(
        &self,
        rows: &[CredentialRow],
        created_by: &str,
        nodes: &[String],
        workflow: &NewWorkflow,
    ) -> Result<(), ControlError> {
        let now = crate::secret::now_ms();
        let mut tx = self.begin_write().await?;
        for c in rows {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM registry_credentials WHERE cluster_id = $1 AND registry = $2",
            )
            .bind(&c.cluster_id)
            .bind(&c.registry)
            .fetch_optional(&mut *tx)
            .await?;
            let id = match existing {
                Some(id) => {
                    sqlx::query(
                        "UPDATE registry_credentials SET username = $1, password = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(&c.username)
                    .bind(&c.password)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    id
                }
                None => {
                    sqlx::query(
                        "INSERT INTO registry_credentials (id, cluster_id, registry, username, password, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(&c.id)
                    .bind(&c.cluster_id)
                    .bind(&c.registry)
                    .bind(&c.username)
                    .bind(&c.password)
                    .bind(created_by)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    c.id.clone()
                }
            };
            sqlx::query("DELETE FROM credential_checks WHERE credential_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            for node in nodes {
                sqlx::query(
                    "INSERT INTO credential_checks (credential_id, node_id, status, message, checked_at) \
                     VALUES ($1, $2, 'pending', '', $3)",
                )
                .bind(&id)
                .bind(node)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_workflow(&mut tx, workflow, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A cluster's credentials by registry.
    pub async fn credentials_of(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<CredentialRow>, ControlError> {
        sqlx::query(
            "SELECT id, cluster_id, registry, username, password, updated_at FROM registry_credentials \
             WHERE cluster_id = $1 ORDER BY registry",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(credential_row)
        .collect()
    }

    pub async fn credential_checks(&self, cluster_id: &str) -> Result<Vec<CheckRow>, ControlError> {
        sqlx::query(
            "SELECT k.credential_id, k.node_id, k.status, k.message FROM credential_checks k \
             JOIN registry_credentials c ON c.id = k.credential_id WHERE c.cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(check_row)
        .collect()
    }

    pub async fn set_credential_check(
        &self,
        credential_id: &str,
        node_id: &str,
        status: CheckStatus,
        message: &str,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "UPDATE credential_checks SET status = $1, message = $2, checked_at = $3 \
             WHERE credential_id = $4 AND node_id = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(crate::secret::now_ms())
        .bind(credential_id)
        .bind(node_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a credential of a cluster; `false` when there is none with that id.
    pub async fn delete_credential(
        &self,
        cluster_id: &str,
        id: &str,
    ) -> Result<bool, ControlError> {
        let done =
            sqlx::query("DELETE FROM registry_credentials WHERE id = $1 AND cluster_id = $2")
                .bind(id)
                .bind(cluster_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

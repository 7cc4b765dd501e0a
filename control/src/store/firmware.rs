//! Firmware artifacts and the panel's named keys (sealed by the vault).
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::ControlError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    pub id: String,
    pub version: String,
    pub target: String,
    pub notes: String,
    pub size: u64,
    pub sha256: String,
    pub signature: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

fn artifact_row(row: &AnyRow) -> Result<ArtifactRow, ControlError> {
    let id: String = row.try_get("id")?;
    let size: i64 = row.try_get("size")?;
    Ok(ArtifactRow {
        size: u64::try_from(size)
            .map_err(|_| super::clusters::corrupt("firmware artifact", &id, "negative size"))?,
        version: row.try_get("version")?,
        target: row.try_get("target")?,
        notes: row.try_get("notes")?,
        sha256: row.try_get("sha256")?,
        signature: row.try_get("signature")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at: row.try_get("uploaded_at")?,
        id,
    })
}

macro_rules! columns {
    () => {
        "id, version, target, notes, size, sha256, signature, uploaded_by, uploaded_at"
    };
}

impl Store {
    /// The sealed value of a named panel key, if it was made.
    pub async fn panel_key(&self, name: &str) -> Result<Option<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM panel_keys WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores a named key unless one exists (two panels starting together keep the first).
    pub async fn insert_panel_key(&self, name: &str, sealed: &str) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO panel_keys (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(crate::secret::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an uploaded artifact; `false` when that version and target exist already.
    pub async fn insert_artifact(&self, a: &ArtifactRow) -> Result<bool, ControlError> {
        let size = i64::try_from(a.size).map_err(|_| {
            ControlError::Invalid(vec![domain::ValidationError::new("file", "too large")])
        })?;
        let done = sqlx::query(concat!(
            "INSERT INTO firmware_artifacts (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (version, target) DO NOTHING"
        ))
        .bind(&a.id)
        .bind(&a.version)
        .bind(&a.target)
        .bind(&a.notes)
        .bind(size)
        .bind(&a.sha256)
        .bind(&a.signature)
        .bind(&a.uploaded_by)
        .bind(a.uploaded_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn artifacts(&self) -> Result<Vec<ArtifactRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM firmware_artifacts ORDER BY uploaded_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(artifact_row)
        .collect()
    }

    pub async fn artifact(&self, id: &str) -> Result<Option<ArtifactRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM firmware_artifacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(artifact_row)
        .transpose()
    }

    /// Removes an artifact's row; `false` when it did not exist.
    pub async fn delete_artifact(&self, id: &str) -> Result<bool, ControlError> {
        let done = sqlx::query("DELETE FROM firmware_artifacts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

//! The library's apps and versions. The kind is decoded here (unknown text is `Corrupt`); a
//! version keeps its compose file as written, and is parsed again wherever it is used.
use domain::workload::library::WorkloadKind;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use crate::ControlError;

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub kind: WorkloadKind,
    pub model_format: Option<String>,
    pub description: String,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub id: String,
    pub app_id: String,
    pub version: String,
    pub compose: String,
    pub created_by: String,
    pub created_at: i64,
}

// Queries as literals, so that every query stays a static string (`concat!`).
macro_rules! select_apps {
    () => {
        "SELECT id, name, kind, model_format, description, created_by, created_at FROM apps"
    };
}
macro_rules! select_versions {
    () => {
        "SELECT id, app_id, version, compose, created_by, created_at FROM app_versions"
    };
}

fn app_row(row: &AnyRow) -> Result<AppRow, ControlError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    Ok(AppRow {
        kind: WorkloadKind::parse(&kind)
            .ok_or_else(|| corrupt("kind", &id, format!("unknown kind {kind:?}")))?,
        name: row.try_get("name")?,
        model_format: row.try_get("model_format")?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        id,
    })
}

fn version_row(row: &AnyRow) -> Result<VersionRow, ControlError> {
    Ok(VersionRow {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        version: row.try_get("version")?,
        compose: row.try_get("compose")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Adds an app; `false` when the name is taken (in any case).
    pub async fn insert_app(&self, app: &AppRow) -> Result<bool, ControlError> {
        let done = sqlx::query(
            "INSERT INTO apps (id, name, name_key, kind, model_format, description, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(app.name.to_lowercase())
        .bind(app.kind.as_str())
        .bind(&app.model_format)
        .bind(&app.description)
        .bind(&app.created_by)
        .bind(app.created_at)
        .execute(&self.pool)
        .await
        .map_err(ControlError::from);
        match done {
            Ok(_) => Ok(true),
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn list_apps(&self) -> Result<Vec<AppRow>, ControlError> {
        sqlx::query(concat!(select_apps!(), " ORDER BY name_key"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(app_row)
            .collect()
    }

    pub async fn app_by_id(&self, id: &str) -> Result<Option<AppRow>, ControlError> {
        sqlx::query(concat!(select_apps!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(app_row)
            .transpose()
    }

    /// Removes an app and its versions; `false` when it did not exist.
    pub async fn delete_app(&self, id: &str) -> Result<bool, ControlError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM app_versions WHERE app_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Adds a version; `false` when the app has that version already.
    pub async fn insert_version(&self, v: &VersionRow) -> Result<bool, ControlError> {
        let done = sqlx::query(
            "INSERT INTO app_versions (id, app_id, version, compose, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&v.id)
        .bind(&v.app_id)
        .bind(&v.version)
        .bind(&v.compose)
        .bind(&v.created_by)
        .bind(v.created_at)
        .execute(&self.pool)
        .await
        .map_err(ControlError::from);
        match done {
            Ok(_) => Ok(true),
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every version of every app, newest first.
    pub async fn list_versions(&self) -> Result<Vec<VersionRow>, ControlError> {
        sqlx::query(concat!(
            select_versions!(),
            " ORDER BY created_at DESC, version DESC"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(version_row)
        .collect()
    }

    pub async fn count_versions(&self, app_id: &str) -> Result<i64, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM app_versions WHERE app_id = $1")
                .bind(app_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn version_by_id(&self, id: &str) -> Result<Option<VersionRow>, ControlError> {
        sqlx::query(concat!(select_versions!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(version_row)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn app(name: &str) -> AppRow {
        AppRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            kind: WorkloadKind::Model,
            model_format: Some("onnx".into()),
            description: String::new(),
            created_by: "admin".into(),
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn names_are_unique_regardless_of_case_and_kinds_decode() {
        let (store, _dir) = temp_store().await;
        let a = app("Defects");
        assert!(store.insert_app(&a).await.expect("inserts"));
        assert!(!store.insert_app(&app("DEFECTS")).await.expect("runs"));
        let back = store
            .app_by_id(&a.id)
            .await
            .expect("reads")
            .expect("exists");
        assert_eq!(back.kind, WorkloadKind::Model);
        sqlx::query("UPDATE apps SET kind = 'daemon' WHERE id = $1")
            .bind(&a.id)
            .execute(&store.pool)
            .await
            .expect("corrupts");
        assert!(matches!(
            store.app_by_id(&a.id).await,
            Err(ControlError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn versions_are_unique_per_app_and_leave_with_it() {
        let (store, _dir) = temp_store().await;
        let a = app("Defects");
        store.insert_app(&a).await.expect("inserts");
        let v = VersionRow {
            id: "v1".into(),
            app_id: a.id.clone(),
            version: "1.0".into(),
            compose: "services: {}".into(),
            created_by: "admin".into(),
            created_at: 1,
        };
        assert!(store.insert_version(&v).await.expect("inserts"));
        let again = VersionRow {
            id: "v2".into(),
            ..v.clone()
        };
        assert!(!store.insert_version(&again).await.expect("runs"));
        assert_eq!(store.count_versions(&a.id).await.expect("counts"), 1);
        assert!(store.delete_app(&a.id).await.expect("deletes"));
        assert!(store.version_by_id("v1").await.expect("reads").is_none());
        assert!(!store.delete_app(&a.id).await.expect("runs"));
    }
}

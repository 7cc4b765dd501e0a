//! Persistence through sqlx. Row types stay in this module; callers get domain types.
//!
//! The embedded default is a SQLite file (WAL mode). All SQL is static and uses bind parameters.
mod clusters;
mod keys;
mod nodes;
mod users;

pub use clusters::{ClusterRow, MemberRow, NewCluster, VipRow, WorkflowRow};
pub use keys::KeyRow;
pub use nodes::{NodeEnrolment, NodeRow};
pub use users::UserRow;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::ControlError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, ControlError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Round-trips a trivial query (health checks).
    pub async fn ping(&self) -> Result<(), ControlError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Appends to the audit log. Every change made through the panel is recorded here.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(crate::secret::now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn audit_actions(&self) -> Result<Vec<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Store;

    /// A migrated store in a temporary directory that lives as long as the guard.
    pub async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let store = Store::open(&url).await.expect("store opens");
        (store, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::temp_store;

    #[tokio::test]
    async fn migrations_apply_once_and_reopen_keeps_data() {
        let (store, dir) = temp_store().await;
        store
            .audit("admin", "test.action", Some("t"), None)
            .await
            .expect("audit");
        store.close().await;
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let reopened = super::Store::open(&url).await.expect("reopens");
        assert_eq!(
            reopened.audit_actions().await.expect("reads"),
            vec!["test.action".to_string()]
        );
    }
}

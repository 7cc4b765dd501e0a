//! Persistence through sqlx. Row types stay in this module; callers get domain types.
//!
//! Two backends behind one pool (sqlx's `Any` driver): the embedded default, a SQLite file in
//! WAL mode, and PostgreSQL as the scale-out store. All SQL is static, portable between the two and
//! uses bind parameters; each backend has its own migrations with the same version numbers.
mod clusters;
mod keys;
mod nodes;
mod users;

pub use clusters::{ClusterRow, MemberRow, NewCluster, VipRow, WorkflowRow};
pub use keys::KeyRow;
pub use nodes::{AgentIdentity, Enrolled, NodeEnrolment, NodeRow};
pub use users::UserRow;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::ControlError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Self, ControlError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(ControlError::Config(
                "the database URL must start with sqlite: or postgres:".into(),
            ))
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Advisory-lock keys of changes that must not interleave across connections (PostgreSQL runs
/// transactions concurrently; SQLite has one writer at a time anyway).
#[derive(Clone, Copy, Debug)]
enum Serialized {
    /// Changes that could leave the panel without an active Administrator.
    Administrators = 7001,
}

impl Store {
    /// Opens the database at `url` and applies pending migrations. A SQLite file is created when
    /// missing; a PostgreSQL database must exist (the panel's role needs no CREATEDB).
    pub async fn open(url: &str) -> Result<Self, ControlError> {
        install_default_drivers();
        let backend = Backend::of(url)?;
        let (url, max_connections) = match backend {
            Backend::Sqlite if url.contains("mode=") => (url.to_string(), 8),
            Backend::Sqlite if url.contains('?') => (format!("{url}&mode=rwc"), 8),
            Backend::Sqlite => (format!("{url}?mode=rwc"), 8),
            Backend::Postgres => (url.to_string(), 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Per connection; foreign keys and a 5 s busy timeout are sqlx's defaults.
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => {
                // WAL is a property of the file: set once, kept by every later connection.
                pool.execute("PRAGMA journal_mode = WAL").await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// A transaction that runs one at a time with every other transaction for the same `what`,
    /// also across panel processes on PostgreSQL (a transaction-scoped advisory lock). On SQLite
    /// the single writer already serializes the guarded statements.
    async fn begin_serialized(
        &self,
        what: Serialized,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, ControlError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(what as i64)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
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

    /// Every audited action, oldest first (tests check what was recorded).
    #[cfg(any(test, feature = "testing"))]
    pub async fn audit_actions(&self) -> Result<Vec<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

/// Scratch databases for tests: a SQLite file in a temporary directory, or, when
/// `FLOTILLA_TEST_POSTGRES_URL` names a PostgreSQL server (`postgres://user@host`, no database),
/// a fresh database there, so that the same tests prove both backends.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use sqlx::migrate::MigrateDatabase;

    pub async fn scratch_url(dir: &std::path::Path) -> String {
        match std::env::var("FLOTILLA_TEST_POSTGRES_URL") {
            Ok(server) if !server.is_empty() => {
                sqlx::any::install_default_drivers();
                let url = format!(
                    "{}/flotilla_test_{}",
                    server.trim_end_matches('/'),
                    uuid::Uuid::new_v4().simple()
                );
                sqlx::Any::create_database(&url)
                    .await
                    .expect("creates a scratch PostgreSQL database");
                url
            }
            _ => format!("sqlite://{}/test.db", dir.display()),
        }
    }

    /// A migrated store that lives as long as the guard.
    #[cfg(test)]
    pub async fn temp_store() -> (super::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = super::Store::open(&scratch_url(dir.path()).await)
            .await
            .expect("store opens");
        (store, dir)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migrations() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        let sqlite = versions(&super::SQLITE_MIGRATIONS);
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, versions(&super::POSTGRES_MIGRATIONS));
    }

    #[tokio::test]
    async fn migrations_apply_once_and_reopen_keeps_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = super::testing::scratch_url(dir.path()).await;
        let store = super::Store::open(&url).await.expect("opens");
        store
            .audit("admin", "test.action", Some("t"), None)
            .await
            .expect("audit");
        store.close().await;
        let reopened = super::Store::open(&url).await.expect("reopens");
        assert_eq!(
            reopened.audit_actions().await.expect("reads"),
            vec!["test.action".to_string()]
        );
    }
}

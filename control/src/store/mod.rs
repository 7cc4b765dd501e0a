//! Persistence through sqlx. Row types stay in this module; callers get domain types.
//!
//! Two backends behind one pool (sqlx's `Any` driver): the embedded default, a SQLite file in
//! WAL mode, and PostgreSQL as the scale-out store. All SQL is static, portable between the two and
//! uses bind parameters; each backend has its own migrations with the same version numbers.
mod audit;
mod clusters;
mod config;
mod credentials;
mod firmware;
mod gates;
mod keys;
mod library;
mod node_list;
mod nodes;
mod replicas;
mod secrets;
mod standby;
mod users;
mod workflows;
mod workloads;

pub use clusters::{ClusterRow, MemberRow, NewCluster, VipRow};
pub use config::{ConfigFailureRow, ConfigVersionRow};
pub use credentials::{CheckRow, CredentialRow};
pub use firmware::ArtifactRow;
pub use keys::KeyRow;
pub use library::{AppRow, VersionRow};
pub use node_list::NodeKey;
pub use nodes::{AgentIdentity, Enrolled, NodeEnrolment, NodeRow};
pub use replicas::{CommandRow, ObservedRow, PresenceRow, SharedWrite};
pub use secrets::SecretRow;
pub use standby::StandbyRow;
pub use users::UserRow;
pub use workflows::{NewStep, NewWorkflow, Rerun, StepRow, WorkflowRow};
pub use workloads::{WorkloadChange, WorkloadRow};

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
        // On PostgreSQL sqlx migrates under a session advisory lock: replicas starting together
        // apply each migration once. (SQLite serves one panel process.)
        let migrated = match backend {
            Backend::Sqlite => {
                // WAL is a property of the file: set once, kept by every later connection.
                pool.execute("PRAGMA journal_mode = WAL").await?;
                SQLITE_MIGRATIONS.run(&pool).await
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await,
        };
        match migrated {
            // A migration this build does not have: a newer panel migrated the database.
            Err(sqlx::migrate::MigrateError::VersionMissing(version)) => {
                pool.close().await;
                Err(ControlError::Config(format!(
                    "the database was migrated by a newer Flotilla (migration {version} is unknown to this version): run that version or a newer one against it"
                )))
            }
            Err(e) => Err(e.into()),
            Ok(()) => Ok(Self { pool, backend }),
        }
    }

    /// The rows of `{head} IN (ids) {tail}`, the ids bound; none for no ids.
    async fn rows_in(
        &self,
        head: &str,
        ids: &[String],
        tail: &str,
    ) -> Result<Vec<sqlx::any::AnyRow>, ControlError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!("{head} IN ({}) {tail}", placeholders(1, ids.len()));
        // Audited: `head` and `tail` are constants of the callers; the only other text added
        // is the statement's own `$n` placeholders.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// A transaction that writes. On SQLite it takes the write lock when it starts (`BEGIN
    /// IMMEDIATE`, waiting up to the busy timeout): a transaction that reads first and writes
    /// later would otherwise fail with SQLITE_BUSY_SNAPSHOT ("database is locked", which the busy
    /// timeout does not retry) whenever another connection wrote in between.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, ControlError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A transaction that runs one at a time with every other transaction for the same `what`,
    /// also across panel processes on PostgreSQL (a transaction-scoped advisory lock). On SQLite
    /// the single writer already serializes the guarded statements.
    async fn begin_serialized(
        &self,
        what: Serialized,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, ControlError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(what as i64)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Whether only one panel process can use this store (the embedded SQLite file).
    pub fn single_process(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Round-trips a trivial query (health checks).
    pub async fn ping(&self) -> Result<(), ControlError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
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

/// `$first, $first+1, …`: the placeholders of an `IN (…)` list of `count` values. The only
/// text a statement built with it gains is its own placeholders (audited for `AssertSqlSafe`).
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
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

    /// Workflows recorded before the engine (steps as a JSON column) come through the migration
    /// as step rows, on both backends.
    #[tokio::test]
    async fn existing_workflows_survive_the_engine_migration() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = super::testing::scratch_url(dir.path()).await;
        let (url, migrator) = match super::Backend::of(&url).expect("backend") {
            super::Backend::Sqlite => (format!("{url}?mode=rwc"), &super::SQLITE_MIGRATIONS),
            super::Backend::Postgres => (url.clone(), &super::POSTGRES_MIGRATIONS),
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("connects");
        migrator.run_to(4, &pool).await.expect("migrates to 4");
        let steps = r#"[{"op":{"op":"init","node_id":"n1"},"title":"Initialise the swarm on edge-1","state":"done","error":null},{"op":{"op":"activate"},"title":"Mark the cluster active","state":"failed","error":"boom"}]"#;
        sqlx::query(
            "INSERT INTO workflows (id, cluster_id, kind, status, steps, current, error, created_at, updated_at) \
             VALUES ('w1', 'c1', 'create', 'failed', $1, 1, 'boom', 5, 5)",
        )
        .bind(steps)
        .execute(&pool)
        .await
        .expect("old row");
        pool.close().await;
        let store = super::Store::open(&url).await.expect("migrates the rest");
        let w = store.workflow("w1").await.expect("reads").expect("exists");
        assert_eq!(w.status, domain::workflow::WorkflowStatus::Failed);
        let rows = store.steps("w1").await.expect("steps decode");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].title, "Initialise the swarm on edge-1");
        assert_eq!(rows[0].node_id.as_deref(), Some("n1"));
        assert_eq!(rows[1].status, domain::workflow::StepStatus::Failed);
        assert_eq!(rows[1].error.as_deref(), Some("boom"));
        let op: serde_json::Value = serde_json::from_str(&rows[0].step).expect("json");
        assert_eq!(op["op"], "init");
    }

    /// PostgreSQL only (the PostgreSQL phase of `./dev test`): SQLite serves one panel process.
    #[tokio::test]
    async fn replicas_starting_together_on_postgresql_migrate_once_and_both_serve() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = super::testing::scratch_url(dir.path()).await;
        if !url.starts_with("postgres") {
            return;
        }
        let (a, b) = tokio::join!(super::Store::open(&url), super::Store::open(&url));
        let (a, b) = (a.expect("replica A starts"), b.expect("replica B starts"));
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&a.pool)
            .await
            .expect("counts");
        assert_eq!(applied as usize, super::POSTGRES_MIGRATIONS.iter().count());
        a.audit("admin", "from.a", None, None)
            .await
            .expect("A writes");
        b.audit("admin", "from.b", None, None)
            .await
            .expect("B writes");
        assert_eq!(b.audit_actions().await.expect("reads").len(), 2);
    }

    #[tokio::test]
    async fn a_database_migrated_by_a_newer_version_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = super::testing::scratch_url(dir.path()).await;
        let store = super::Store::open(&url).await.expect("opens");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from a newer panel', TRUE, $1, 1)",
        )
        .bind(vec![0u8; 48])
        .execute(&store.pool)
        .await
        .expect("a newer migration recorded");
        store.close().await;
        match super::Store::open(&url).await {
            Err(crate::ControlError::Config(m)) => {
                assert!(m.contains("newer Flotilla") && m.contains("9999"), "{m}");
            }
            Err(other) => panic!("expected a configuration error, got {other:?}"),
            Ok(_) => panic!("a database migrated by a newer version was accepted"),
        }
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

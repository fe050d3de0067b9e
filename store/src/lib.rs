//! The storage boundary. Everything the node keeps lives behind [`Store`];
//! handlers and actors never write SQL. Database errors are translated once,
//! in [`translate`], into [`StoreError`].
//!
//! Two backends behind one API: SQLite (embedded, the default, one node) and
//! PostgreSQL (`--database-url postgres://...`, shared by a cluster). Most
//! statements are written once in the SQL both understand (`$1` placeholders,
//! `ON CONFLICT`, `RETURNING`) and compiled for each backend by [`on_pool!`];
//! where the two differ (bulk inserts, partitions, backups) the backend is
//! matched explicitly. Times are unix milliseconds.

/// Runs `$body` with `$pool` bound to the backend's typed pool. The body is
/// compiled once per backend, so its SQL must be valid on both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

mod accounts;
mod audit;
mod channels;
mod incidents;
mod maintenance;
mod migrate;
mod monitors;
mod results;
mod rollups;
pub mod seal;
mod tokens;

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::seal::{Sealer, SecretsKey};

pub use accounts::{Invitation, Invitee, Member, Membership, NewUser, SessionRow, TotpState, User};
pub use audit::{AuditEntry, AuditScope, NewAudit};
pub use channels::Channel;
pub use incidents::{
    AlertStateRow, Applied, Change, Claimed, Incident, IncidentEvent, IncidentFilter,
    NewTransition, NotificationRow, MAX_NOTE,
};
pub use maintenance::MaintenanceWindow;
pub use monitors::{MonitorStatus, MonitorSummary};
pub use openseer_core::model::{BucketKey, Monitor, StoredResult};
pub use results::{Details, MonitorScope, ResultRow, Written};
pub use rollups::{Results, RollupRow};
pub use tokens::{
    ApiToken, EnrollmentToken, NewApiToken, NewEnrollmentToken, TokenAuth, Worker, WorkerAuth,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration: {0}")]
    Migration(String),
    #[error("{0}")]
    Config(String),
}

/// The one place database errors become domain errors.
pub(crate) fn translate(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// [`translate`], saying what a unique violation means here.
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match translate(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.into()),
        other => other,
    }
}

impl StoreError {
    /// Whether trying again later may succeed: the database was unreachable,
    /// busy, out of resources or shutting down, rather than refusing what
    /// was asked of it.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_code(&c)),
            _ => false,
        }
    }
}

/// PostgreSQL SQLSTATE classes 08 (connection), 40 (serialization,
/// deadlock), 53 (resources), 57 (shutdown), 58 (system); SQLite's BUSY,
/// LOCKED, IOERR, FULL and CANTOPEN (primary codes of extended ones).
fn transient_code(code: &str) -> bool {
    if let Ok(n) = code.parse::<u32>() {
        return matches!(n & 0xff, 5 | 6 | 10 | 13 | 14);
    }
    ["08", "40", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

/// Starting a transaction that will write.
pub(crate) trait WritePool {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = StoreResult<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    /// A transaction that takes SQLite's write lock at BEGIN. A deferred
    /// transaction that reads first and writes later cannot wait for the
    /// lock (SQLite fails it with "database is locked" at once).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await.map_err(translate)
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await.map_err(translate)
    }
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A `postgres://` URL.
    Postgres(String),
    /// An SQLite file (created when missing).
    Sqlite(std::path::PathBuf),
}

#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Day partitions of `results_raw` known to exist (PostgreSQL).
    partitions: Arc<Mutex<HashSet<i64>>>,
    /// Seals secrets at rest (monitor headers and bodies); a store opened
    /// without one refuses to read or write them.
    sealer: Option<Arc<Sealer>>,
}

/// `$1, $2, ...` from `from` on, `n` of them: for statements with a list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Opens the database a URL names: `postgres://...` (or `postgresql://`)
    /// for PostgreSQL; anything else is refused.
    pub async fn open_url(url: &str) -> StoreResult<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Store::open_postgres(url).await;
        }
        Err(StoreError::Config(format!(
            "database_url must start with postgres:// (got {:?}); without it the node uses SQLite in data_dir",
            url.split(':').next().unwrap_or("")
        )))
    }

    /// The database at `location`, sealing secrets with `key`.
    pub async fn open(location: &Location, key: &SecretsKey) -> StoreResult<Store> {
        let store = match location {
            Location::Postgres(url) => Store::open_url(url).await?,
            Location::Sqlite(path) => Store::open_sqlite(path).await?,
        };
        Ok(store.with_secrets_key(key))
    }

    pub async fn open_postgres(url: &str) -> StoreResult<Store> {
        let options = PgConnectOptions::from_str(url).map_err(translate)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(translate)?;
        Ok(Store::with(Backend::Postgres(pool)))
    }

    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> StoreResult<Store> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(translate)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we acknowledge a result.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(translate)?;
        Ok(Store::with(Backend::Sqlite(pool)))
    }

    fn with(backend: Backend) -> Store {
        Store {
            backend,
            partitions: Arc::default(),
            sealer: None,
        }
    }

    /// This store with the key that seals secrets at rest.
    pub fn with_secrets_key(mut self, key: &SecretsKey) -> Store {
        self.sealer = Some(Arc::new(Sealer::new(key)));
        self
    }

    pub fn sealer(&self) -> StoreResult<&Sealer> {
        self.sealer.as_deref().ok_or_else(|| {
            StoreError::Config("this store was opened without the secrets key".into())
        })
    }

    /// The PostgreSQL pool, for tools that measure the database itself.
    pub fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres(p) => Some(p.clone()),
            Backend::Sqlite(_) => None,
        }
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(p) => migrate::run_sqlite(p).await,
            Backend::Postgres(p) => migrate::run_postgres(p).await,
        }
    }

    /// Whether the schema is at the version this binary expects.
    pub async fn migrations_current(&self) -> StoreResult<bool> {
        match &self.backend {
            Backend::Sqlite(p) => migrate::sqlite_is_current(p).await,
            Backend::Postgres(p) => migrate::postgres_is_current(p).await,
        }
    }

    /// (connections open, of which idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        on_pool!(self, pool => (pool.size(), pool.num_idle()))
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(translate))?;
        Ok(())
    }

    /// A consistent copy of the whole SQLite database, taken while it is in
    /// use (`VACUUM INTO`). The target must not exist yet. PostgreSQL is
    /// backed up with its own tools (docs/operations.md).
    pub async fn backup_to(&self, target: &Path) -> StoreResult<()> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StoreError::Config(
                "openseer backup copies SQLite; back PostgreSQL up with pg_dump (docs/operations.md)".into(),
            ));
        };
        if target.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists",
                target.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_string_lossy().into_owned())
            .execute(pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    pub async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(translate))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))?;
        Ok(())
    }

    /// Sets `key` unless it is set already; true when this call set it.
    pub async fn insert_meta(&self, key: &str, value: &str) -> StoreResult<bool> {
        on_pool!(self, pool => sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(translate))
    }

    pub async fn delete_meta(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(key)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))?;
        Ok(())
    }
}

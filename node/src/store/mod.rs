//! The storage boundary. Everything the node keeps lives behind [`Store`];
//! handlers and actors never write SQL. Database errors are translated once,
//! in [`translate`], into [`StoreError`].
//!
//! Backend: SQLite (embedded, one node). Times are unix milliseconds.

mod accounts;
mod migrate;
mod monitors;
mod results;
mod tokens;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use accounts::{NewUser, SessionRow, User};
pub use monitors::{Monitor, MonitorStatus};
pub use results::{Details, ResultRow, StoredResult};
pub use tokens::{ApiToken, EnrollmentToken, Worker, WorkerAuth};

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

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
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
        Ok(Store { pool })
    }

    /// A transaction that takes SQLite's write lock at BEGIN. A deferred
    /// transaction that reads first and writes later cannot wait for the
    /// lock (SQLite fails it with "database is locked" at once), so every
    /// transaction that writes starts here.
    async fn write_tx(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(translate)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        migrate::run(&self.pool).await
    }

    /// Whether the schema is at the version this binary expects.
    pub async fn migrations_current(&self) -> StoreResult<bool> {
        migrate::is_current(&self.pool).await
    }

    /// (connections open, of which idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    /// A consistent copy of the whole database, taken while it is in use
    /// (SQLite's `VACUUM INTO`). The target must not exist yet.
    pub async fn backup_to(&self, target: &Path) -> StoreResult<()> {
        if target.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists",
                target.display()
            )));
        }
        sqlx::query("VACUUM INTO ?")
            .bind(target.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    pub async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    pub async fn delete_meta(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM meta WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }
}

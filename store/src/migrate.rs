//! Applies the SQL files of `migrations/<backend>/` in order, each once, each
//! in its own transaction. The files are embedded in the binary.

use sqlx::{PgPool, SqlitePool};

use super::{translate, StoreError, StoreResult};

type Migration = (i64, &'static str, &'static str);

const SQLITE: &[Migration] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "check_details",
        include_str!("../../migrations/sqlite/0002_check_details.sql"),
    ),
    (
        3,
        "rollups",
        include_str!("../../migrations/sqlite/0003_rollups.sql"),
    ),
    (
        4,
        "monitor_status",
        include_str!("../../migrations/sqlite/0004_monitor_status.sql"),
    ),
    (
        5,
        "teams",
        include_str!("../../migrations/sqlite/0005_teams.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../../migrations/sqlite/0006_hardening.sql"),
    ),
    (
        7,
        "incidents",
        include_str!("../../migrations/sqlite/0007_incidents.sql"),
    ),
    (
        8,
        "maintenance",
        include_str!("../../migrations/sqlite/0008_maintenance.sql"),
    ),
];

const POSTGRES: &[Migration] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        3,
        "rollups",
        include_str!("../../migrations/postgres/0003_rollups.sql"),
    ),
    (
        4,
        "monitor_status",
        include_str!("../../migrations/postgres/0004_monitor_status.sql"),
    ),
    (
        5,
        "teams",
        include_str!("../../migrations/postgres/0005_teams.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../../migrations/postgres/0006_hardening.sql"),
    ),
    (
        7,
        "incidents",
        include_str!("../../migrations/postgres/0007_incidents.sql"),
    ),
    (
        8,
        "maintenance",
        include_str!("../../migrations/postgres/0008_maintenance.sql"),
    ),
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies what is missing, each migration in its own transaction, begun
/// on `$conn` by `$begin`. `$lock` (if any) runs first in each; `$check` (if
/// any) runs after the migration's SQL and must find no rows.
macro_rules! apply {
    ($conn:expr, $list:expr, |$c:ident| $begin:expr, $lock:expr, $check:expr) => {{
        sqlx::query(CREATE_TABLE)
            .execute(&mut *$conn)
            .await
            .map_err(translate)?;
        for &(version, name, sql) in $list {
            let mut tx = {
                let $c = &mut *$conn;
                $begin.await.map_err(translate)?
            };
            if let Some(lock) = $lock {
                sqlx::query(lock)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(translate)?;
            if done.is_some() {
                continue;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Migration(format!("{version} {name}: {e}")))?;
            if let Some(check) = $check {
                let broken: Option<String> = sqlx::query_scalar(check)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(translate)?;
                if let Some(what) = broken {
                    return Err(StoreError::Migration(format!(
                        "{version} {name}: leaves a broken foreign key in {what}"
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(openseer_core::clock::system_now_ms())
            .execute(&mut *tx)
            .await
            .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            tracing::info!(version, name, "applied migration");
        }
        Ok(())
    }};
}

/// SQLite migrations run on one connection with foreign keys off, the way
/// SQLite documents rebuilding a table (a plain `DROP TABLE` would cascade
/// into every table that references it); each checks its foreign keys
/// before it commits.
pub async fn run_sqlite(pool: &SqlitePool) -> StoreResult<()> {
    let mut conn = pool.acquire().await.map_err(translate)?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(translate)?;
    match apply_sqlite(&mut conn).await {
        Ok(()) => {
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&mut *conn)
                .await
                .map_err(translate)?;
            Ok(())
        }
        Err(e) => {
            // Never hand a connection without foreign keys back to the pool.
            use sqlx::Connection;
            let _ = conn.detach().close().await;
            Err(e)
        }
    }
}

async fn apply_sqlite(conn: &mut sqlx::SqliteConnection) -> StoreResult<()> {
    use sqlx::Connection;
    apply!(
        conn,
        SQLITE,
        |c| c.begin_with("BEGIN IMMEDIATE"),
        None::<&str>,
        Some("SELECT \"table\" FROM pragma_foreign_key_check")
    )
}

/// On PostgreSQL several nodes may start at once: each migration runs under
/// a transaction-scoped advisory lock, so exactly one of them applies it
/// and the others see it done.
pub async fn run_postgres(pool: &PgPool) -> StoreResult<()> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await.map_err(translate)?;
    // The key is arbitrary; it only has to be the same on every node.
    apply!(
        conn,
        POSTGRES,
        |c| c.begin(),
        Some("SELECT pg_advisory_xact_lock(7263410001)"),
        None::<&str>
    )
}

pub async fn sqlite_is_current(pool: &SqlitePool) -> StoreResult<bool> {
    let has_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .fetch_optional(pool)
    .await
    .map_err(translate)?;
    if has_table.is_none() {
        return Ok(false);
    }
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .map_err(translate)?;
    Ok(applied == SQLITE.last().map(|m| m.0))
}

pub async fn postgres_is_current(pool: &PgPool) -> StoreResult<bool> {
    let has_table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('schema_migrations')::text")
            .fetch_one(pool)
            .await
            .map_err(translate)?;
    if has_table.is_none() {
        return Ok(false);
    }
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .map_err(translate)?;
    Ok(applied == POSTGRES.last().map(|m| m.0))
}

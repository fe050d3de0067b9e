//! Applies the SQL files of `migrations/sqlite/` in order, each once, each in
//! its own transaction. The files are embedded in the binary.

use sqlx::SqlitePool;

use super::{translate, StoreError, StoreResult};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "check_details",
        include_str!("../../../migrations/sqlite/0002_check_details.sql"),
    ),
];

pub async fn run(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(translate)?;
    for &(version, name, sql) in MIGRATIONS {
        let mut tx = pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(translate)?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(translate)?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration(format!("{version} {name}: {e}")))?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(crate::clock::system_now_ms())
            .execute(&mut *tx)
            .await
            .map_err(translate)?;
        tx.commit().await.map_err(translate)?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}

/// Whether every migration this binary knows has been applied.
pub async fn is_current(pool: &SqlitePool) -> StoreResult<bool> {
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
    Ok(applied == MIGRATIONS.last().map(|m| m.0))
}

//! Server-side sessions (the actix-session store's rows): only a hash of
//! the session key is stored.

use super::*;
use crate::{translate, Store, StoreResult};

impl Store {
    pub async fn session_load(&self, key_hash: &str, now: i64) -> StoreResult<Option<String>> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT state FROM sessions WHERE key_hash = $1 AND expires_at > $2")
                .bind(key_hash)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn session_save(&self, key_hash: &str, row: SessionRow<'_>) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (key_hash, state, user_id, org_id, sid, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT(key_hash) DO UPDATE SET state = excluded.state, user_id = excluded.user_id, org_id = excluded.org_id, sid = excluded.sid, expires_at = excluded.expires_at",
            )
            .bind(key_hash)
            .bind(row.state)
            .bind(row.user_id)
            .bind(row.org_id)
            .bind(&row.sid)
            .bind(row.expires_at)
            .execute(pool)
            .await
            .map_err(translate)?;
            Ok(())
        })
    }

    /// Updates an existing, unexpired session; `false` when there is none.
    pub async fn session_update(
        &self,
        key_hash: &str,
        row: SessionRow<'_>,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let r = sqlx::query(
                "UPDATE sessions SET state = $1, user_id = $2, org_id = $3, sid = $4, expires_at = $5 WHERE key_hash = $6 AND expires_at > $7",
            )
            .bind(row.state)
            .bind(row.user_id)
            .bind(row.org_id)
            .bind(&row.sid)
            .bind(row.expires_at)
            .bind(key_hash)
            .bind(now)
            .execute(pool)
            .await
            .map_err(translate)?;
            Ok(r.rows_affected() == 1)
        })
    }

    pub async fn session_touch(&self, key_hash: &str, expires_at: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET expires_at = $1 WHERE key_hash = $2")
                .bind(expires_at)
                .bind(key_hash)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(())
        })
    }

    pub async fn session_delete(&self, key_hash: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
                .bind(key_hash)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(())
        })
    }

    /// Whether the session `sid` is still there (not signed out, expired or
    /// ended by a password change), signed in to `org_id` as `user_id`, and
    /// the user still a member of it (live streams check this as they go).
    pub async fn session_alive(
        &self,
        sid: &str,
        user_id: i64,
        org_id: i64,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.org_id = s.org_id
                 WHERE s.sid = $1 AND s.user_id = $2 AND s.org_id = $3 AND s.expires_at > $4",
            )
            .bind(sid)
            .bind(user_id)
            .bind(org_id)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(translate)?;
            Ok(n > 0)
        })
    }

    /// How many sessions a user has (tests: removal ends them).
    pub async fn session_count(&self, user_id: i64) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn sessions_purge_expired(&self, now: i64) -> StoreResult<u64> {
        on_pool!(self, pool => {
            let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(r.rows_affected())
        })
    }
}

//! Two-factor sign-in: the sealed TOTP secret, the last step accepted
//! (codes are not replayed), recovery codes (stored as hashes).

use sqlx::Row;

use super::*;
use crate::{translate, Store, StoreError, StoreResult, WritePool};

impl Store {
    pub async fn totp_state(&self, user_id: i64) -> StoreResult<Option<TotpState>> {
        on_pool!(self, pool => {
            let row = sqlx::query("SELECT totp_secret, totp_enabled_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await
                .map_err(translate)?;
            let secret: Option<String> = row.get("totp_secret");
            Ok(secret.map(|sealed_secret| TotpState {
                sealed_secret,
                enabled: row.get::<Option<i64>, _>("totp_enabled_at").is_some(),
            }))
        })
    }

    /// Starts enrolment: a new secret, not in force until confirmed. Refused
    /// (`Conflict`) while two-factor sign-in is on.
    pub async fn begin_totp(&self, user_id: i64, sealed_secret: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            let r = sqlx::query("UPDATE users SET totp_secret = $1, totp_last_step = NULL WHERE id = $2 AND totp_enabled_at IS NULL")
                .bind(sealed_secret)
                .bind(user_id)
                .execute(pool)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::Conflict("two-factor sign-in is already on".into()));
            }
            Ok(())
        })
    }

    /// Puts the enrolled secret in force with a fresh set of recovery codes.
    pub async fn enable_totp(
        &self,
        user_id: i64,
        code_hashes: &[String],
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let r = sqlx::query("UPDATE users SET totp_enabled_at = $1 WHERE id = $2 AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::Conflict("no two-factor enrolment to confirm".into()));
            }
            replace_codes!(tx, user_id, code_hashes);
            tx.commit().await.map_err(translate)
        })
    }

    /// Turns two-factor sign-in off: secret and recovery codes go.
    pub async fn disable_totp(&self, user_id: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)
        })
    }

    /// Records that a code of time step `step` was accepted; false when a
    /// code of this or a later step was accepted before (a replayed code).
    pub async fn accept_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let r = sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)")
                .bind(step)
                .bind(user_id)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(r.rows_affected() == 1)
        })
    }

    pub async fn replace_recovery_codes(
        &self,
        user_id: i64,
        code_hashes: &[String],
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            replace_codes!(tx, user_id, code_hashes);
            tx.commit().await.map_err(translate)
        })
    }

    /// Uses a recovery code: true once per code.
    pub async fn use_recovery_code(
        &self,
        user_id: i64,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let r = sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
                .bind(now)
                .bind(user_id)
                .bind(code_hash)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(r.rows_affected() > 0)
        })
    }

    pub async fn recovery_codes_left(&self, user_id: i64) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }
}

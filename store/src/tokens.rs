//! API tokens, enrollment tokens and workers. Tokens are looked up by the
//! SHA-256 of the presented secret; the secret itself is never stored.

use openseer_protocol::Scope;
use sqlx::Row;

use super::{translate, Store, StoreError, StoreResult, WritePool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a live user API token proves.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenAuth {
    pub token_id: i64,
    pub token_name: String,
    pub user_id: i64,
    pub org_id: i64,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
}

pub struct NewApiToken<'a> {
    pub org_id: i64,
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scope: Scope,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrollmentToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
}

impl EnrollmentToken {
    /// "active" while it can still enroll a worker, else why not:
    /// "revoked", "expired" or "used up".
    pub fn status_at(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            "used up"
        } else {
            "active"
        }
    }
}

pub struct NewEnrollmentToken<'a> {
    pub org_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Worker {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub region: String,
    pub version: String,
    pub capabilities: String,
    pub enrolled_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
}

/// What a valid worker token proves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::FromRow)]
pub struct WorkerAuth {
    pub worker_id: i64,
    pub org_id: i64,
    pub region: String,
}

impl Store {
    // --- user API tokens -------------------------------------------------

    pub async fn create_api_token(&self, t: NewApiToken<'_>, now: i64) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("INSERT INTO api_tokens (org_id, user_id, name, token_hash, scope, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                .bind(t.org_id)
                .bind(t.user_id)
                .bind(t.name)
                .bind(t.token_hash)
                .bind(t.scope.as_str())
                .bind(t.expires_at)
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    /// What a live (not revoked, not expired) API token proves, marking it
    /// used. Whether its user is still a member is the caller's check.
    pub async fn api_token_auth(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<TokenAuth>> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) RETURNING id AS token_id, name AS token_name, user_id, org_id, scope",
            )
            .bind(now)
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .map_err(translate)
        })
    }

    /// A user's tokens for one organization, newest first.
    pub async fn api_tokens_of_user(
        &self,
        user_id: i64,
        org_id: i64,
    ) -> StoreResult<Vec<ApiToken>> {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT id, user_id, name, scope, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 AND org_id = $2 ORDER BY id DESC")
                .bind(user_id)
                .bind(org_id)
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    /// Revokes one of a user's tokens for an organization; its name.
    pub async fn revoke_api_token(
        &self,
        user_id: i64,
        org_id: i64,
        id: i64,
        now: i64,
    ) -> StoreResult<String> {
        on_pool!(self, pool => {
            let name: Option<String> = sqlx::query_scalar("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3 AND org_id = $4 RETURNING name")
                .bind(now)
                .bind(id)
                .bind(user_id)
                .bind(org_id)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            name.ok_or(StoreError::NotFound)
        })
    }

    // --- enrollment tokens -----------------------------------------------

    pub async fn create_enrollment_token(
        &self,
        t: NewEnrollmentToken<'_>,
        now: i64,
    ) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("INSERT INTO enrollment_tokens (org_id, name, token_hash, expires_at, max_uses, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(t.org_id)
                .bind(t.name)
                .bind(t.token_hash)
                .bind(t.expires_at)
                .bind(t.max_uses)
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn enrollment_tokens(&self, org_id: i64) -> StoreResult<Vec<EnrollmentToken>> {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, created_at, revoked_at, expires_at, max_uses, uses FROM enrollment_tokens WHERE org_id = $1 ORDER BY id DESC")
                .bind(org_id)
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn revoke_enrollment_token(&self, org_id: i64, id: i64, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let r = sqlx::query("UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND org_id = $3")
                .bind(now)
                .bind(id)
                .bind(org_id)
                .execute(pool)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    // --- workers -----------------------------------------------------------

    /// Exchanges a usable enrollment token (not revoked, not expired, uses
    /// left) for a new worker row, counting the use in the same statement
    /// that checks it, so concurrent enrollments cannot overrun the count.
    /// The worker's id, organization and the token's name.
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll_worker(
        &self,
        enrollment_hash: &str,
        name: &str,
        region: &str,
        version: &str,
        capabilities: &str,
        worker_token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(i64, i64, String)>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(
                "UPDATE enrollment_tokens SET uses = uses + 1 WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses) RETURNING org_id, name",
            )
            .bind(enrollment_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(translate)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let org_id: i64 = row.get("org_id");
            let token_name: String = row.get("name");
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO workers (org_id, name, region, version, capabilities, token_hash, enrolled_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(org_id)
            .bind(name)
            .bind(region)
            .bind(version)
            .bind(capabilities)
            .bind(worker_token_hash)
            .bind(now)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Ok(Some((id, org_id, token_name)))
        })
    }

    pub async fn worker_by_token(&self, token_hash: &str) -> StoreResult<Option<WorkerAuth>> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id AS worker_id, org_id, region FROM workers WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .map_err(translate)
        })
    }

    pub async fn workers_seen(&self, seen: &[(i64, i64)]) -> StoreResult<()> {
        on_pool!(self, pool => {
            if seen.is_empty() {
                return Ok(());
            }
            let mut tx = pool.begin_write().await?;
            for (id, at) in seen {
                sqlx::query("UPDATE workers SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            tx.commit().await.map_err(translate)
        })
    }

    pub async fn workers(&self, org_id: i64) -> StoreResult<Vec<Worker>> {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT id, org_id, name, region, version, capabilities, enrolled_at, last_seen_at, revoked_at FROM workers WHERE org_id = $1 ORDER BY revoked_at IS NOT NULL, region, name, id")
                .bind(org_id)
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn revoke_worker(&self, org_id: i64, id: i64, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let r = sqlx::query(
                "UPDATE workers SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND org_id = $3",
            )
            .bind(now)
            .bind(id)
            .bind(org_id)
            .execute(pool)
            .await
            .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}

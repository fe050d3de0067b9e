//! Invitations: one-time links to join an organization with a role.

use openseer_protocol::Role;
use sqlx::Row;

use super::*;
use crate::{conflict_as, translate, Store, StoreError, StoreResult, WritePool};

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_invitation(
        &self,
        org_id: i64,
        role: Role,
        email: Option<&str>,
        token_hash: &str,
        created_by: i64,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO invitations (org_id, role, email, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(org_id)
            .bind(role.as_str())
            .bind(email)
            .bind(token_hash)
            .bind(created_by)
            .bind(now)
            .bind(expires_at)
            .fetch_one(pool)
            .await
            .map_err(translate)
        })
    }

    /// The invitation a token stands for, whatever its state.
    pub async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.org_id WHERE i.token_hash = $1");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(token_hash)
                .fetch_optional(pool)
                .await
                .map_err(translate)
        })
    }

    /// The organization's invitations that are still open, newest first.
    pub async fn open_invitations(&self, org_id: i64, now: i64) -> StoreResult<Vec<Invitation>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.org_id WHERE i.org_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 ORDER BY i.id DESC");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn revoke_invitation(
        &self,
        org_id: i64,
        id: i64,
        now: i64,
    ) -> StoreResult<Invitation> {
        on_pool!(self, pool => {
            let r = sqlx::query("UPDATE invitations SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND org_id = $3")
                .bind(now)
                .bind(id)
                .bind(org_id)
                .execute(pool)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.org_id WHERE i.id = $1");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    /// Uses an invitation: marks it accepted (once: a second use finds it
    /// taken) and makes `user_id`, or a new user, a member with its role.
    /// `NotFound` when the invitation is not open any more.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        who: Invitee<'_>,
        now: i64,
    ) -> StoreResult<(i64, i64, Role)> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(
                "UPDATE invitations SET accepted_at = $1 WHERE token_hash = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1 RETURNING id, org_id, role, email",
            )
            .bind(now)
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(translate)?;
            let Some(row) = row else {
                return Err(StoreError::NotFound);
            };
            let id: i64 = row.get("id");
            let org_id: i64 = row.get("org_id");
            let role = Role::try_from(row.get::<String, _>("role")).map_err(unknown)?;
            let for_email: Option<String> = row.get("email");
            let (user_id, email) = match who {
                Invitee::Existing { user_id, email } => (user_id, email.to_string()),
                Invitee::New(user) => (insert_user!(tx, &user, Some(org_id), now), user.email.to_string()),
            };
            if for_email.is_some_and(|e| !e.eq_ignore_ascii_case(&email)) {
                return Err(StoreError::Conflict(
                    "this invitation is for another email address".into(),
                ));
            }
            insert_membership!(tx, org_id, user_id, role, now);
            sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Ok((user_id, org_id, role))
        })
    }
}

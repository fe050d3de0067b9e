//! Users: who they are, their name, password and last organization.

use super::*;
use crate::{translate, Store, StoreResult, WritePool};

impl Store {
    pub async fn user_count(&self) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(email)
                .fetch_optional(pool)
                .await
                .map_err(translate)
        })
    }

    /// A user and the organizations they belong to (by name), in one query:
    /// every signed-in request needs both. `None` when there is no such user.
    pub async fn user_with_memberships(
        &self,
        user_id: i64,
    ) -> StoreResult<Option<(User, Vec<Membership>)>> {
        on_pool!(self, pool => {
            let rows: Vec<UserAndMembership> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS_OF_U}, {MEMBERSHIP_COLUMNS}
                 FROM users u
                 LEFT JOIN memberships m ON m.user_id = u.id
                 LEFT JOIN organizations o ON o.id = m.org_id
                 WHERE u.id = $1 ORDER BY o.name, o.id"
            )))
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let user = first.user.clone();
            let mut memberships = Vec::with_capacity(rows.len());
            for r in rows {
                memberships.extend(r.membership()?);
            }
            Ok(Some((user, memberships)))
        })
    }

    pub async fn set_last_org(&self, user_id: i64, org_id: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET last_org_id = $1 WHERE id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    pub async fn set_user_name(&self, user_id: i64, name: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    /// A new password hash; every session of the user ends with it.
    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)
        })
    }
}

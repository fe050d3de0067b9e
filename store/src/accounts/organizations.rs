//! Organizations and their members. An organization always keeps at least
//! one owner, checked in the same transaction as the change that could
//! remove the last one.

use openseer_protocol::Role;

use super::*;
use crate::{conflict_as, translate, BackendKind, Store, StoreError, StoreResult, WritePool};

impl Store {
    /// Creates the organization and its first owner, atomically, and only
    /// while no user exists: a second setup fails with `Conflict`.
    pub async fn create_first_admin(
        &self,
        org_name: &str,
        admin: NewUser<'_>,
        now: i64,
    ) -> StoreResult<(User, i64)> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Two concurrent setups serialise here: SQLite's BEGIN IMMEDIATE
            // already holds the write lock; PostgreSQL takes a table lock.
            sqlx::query(match self.kind() {
                BackendKind::Sqlite => "SELECT 1",
                BackendKind::Postgres => "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE",
            })
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await
                .map_err(translate)?;
            if users > 0 {
                return Err(StoreError::Conflict(
                    "this instance is already set up".into(),
                ));
            }
            let org_id = insert_organization!(tx, org_name, now);
            let user_id = insert_user!(tx, &admin, Some(org_id), now);
            insert_membership!(tx, org_id, user_id, Role::Owner, now);
            sqlx::query("DELETE FROM meta WHERE key = 'setup_token_hash'")
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Ok((self.user_by_id(user_id).await?, org_id))
        })
    }

    /// A new organization with a new user as its owner (tests, tools).
    pub async fn create_organization(
        &self,
        org_name: &str,
        owner: NewUser<'_>,
        now: i64,
    ) -> StoreResult<(User, i64)> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let org_id = insert_organization!(tx, org_name, now);
            let user_id = insert_user!(tx, &owner, Some(org_id), now);
            insert_membership!(tx, org_id, user_id, Role::Owner, now);
            tx.commit().await.map_err(translate)?;
            Ok((self.user_by_id(user_id).await?, org_id))
        })
    }

    /// A new organization owned by an existing user; its id.
    pub async fn create_organization_for(
        &self,
        user_id: i64,
        org_name: &str,
        now: i64,
    ) -> StoreResult<i64> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let org_id = insert_organization!(tx, org_name, now);
            insert_membership!(tx, org_id, user_id, Role::Owner, now);
            tx.commit().await.map_err(translate)?;
            Ok(org_id)
        })
    }

    /// Adds an existing user to an organization (tests, tools).
    pub async fn add_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_membership!(tx, org_id, user_id, role, now);
            tx.commit().await.map_err(translate)
        })
    }

    /// A new user who is a member of `org_id` with `role` (tests, tools).
    pub async fn create_member(
        &self,
        org_id: i64,
        user: NewUser<'_>,
        role: Role,
        now: i64,
    ) -> StoreResult<User> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id = insert_user!(tx, &user, Some(org_id), now);
            insert_membership!(tx, org_id, id, role, now);
            tx.commit().await.map_err(translate)?;
            self.user_by_id(id).await
        })
    }

    /// The organizations a user belongs to, by name.
    pub async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Membership>> {
        on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MEMBERSHIP_COLUMNS} FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name, o.id"
            )))
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(translate)
        })
    }

    /// How `user_id` belongs to `org_id`, if at all.
    pub async fn membership(&self, org_id: i64, user_id: i64) -> StoreResult<Option<Membership>> {
        on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MEMBERSHIP_COLUMNS} FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.org_id = $1 AND m.user_id = $2"
            )))
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
            .map_err(translate)
        })
    }

    pub async fn members(&self, org_id: i64) -> StoreResult<Vec<Member>> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT u.id AS user_id, u.email, u.name, m.role, (u.totp_enabled_at IS NOT NULL) AS totp_enabled, m.created_at AS since
                 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err(translate)
        })
    }

    /// Changes a member's role. `NotFound` when they are not a member;
    /// `Conflict` when that would leave the organization without an owner.
    pub async fn set_member_role(&self, org_id: i64, user_id: i64, role: Role) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(lock_members(self.kind()))
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            let r = sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            keep_an_owner!(tx, org_id);
            tx.commit().await.map_err(translate)
        })
    }

    /// Removes a member: their membership, their sessions in this
    /// organization and their API tokens for it go, in one transaction.
    pub async fn remove_member(&self, org_id: i64, user_id: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(lock_members(self.kind()))
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            let r = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            keep_an_owner!(tx, org_id);
            sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            sqlx::query("DELETE FROM api_tokens WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)
        })
    }

    pub async fn first_org_id(&self) -> StoreResult<Option<i64>> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY id LIMIT 1")
                .fetch_optional(pool)
                .await
                .map_err(translate)
        })
    }

    /// Every organization's id, oldest first.
    pub async fn organization_ids(&self) -> StoreResult<Vec<i64>> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY id")
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    pub async fn rename_organization(&self, org_id: i64, name: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE organizations SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(org_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    pub async fn set_require_2fa(&self, org_id: i64, required: bool) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE organizations SET require_2fa = $1 WHERE id = $2")
            .bind(required)
            .bind(org_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }
}

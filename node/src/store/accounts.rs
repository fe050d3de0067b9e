//! Organizations, users and server-side sessions.

use sqlx::Row;

use super::{translate, BackendKind, Store, StoreError, StoreResult, WritePool};

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
}

pub struct SessionRow {
    pub state: String,
    pub expires_at: i64,
}

const USER_COLUMNS: &str =
    "u.id, u.org_id, o.name AS org_name, u.email, u.name, u.role, u.password_hash";

/// A `User` from a row of `USER_COLUMNS` (either backend's row type).
macro_rules! user_from_row {
    ($r:expr) => {{
        let r = $r;
        User {
            id: r.get("id"),
            org_id: r.get("org_id"),
            org_name: r.get("org_name"),
            email: r.get("email"),
            name: r.get("name"),
            role: r.get("role"),
            password_hash: r.get("password_hash"),
        }
    }};
}

/// A new organization and its first administrator, inside `$tx`; evaluates
/// to the user's id.
macro_rules! insert_organization {
    ($tx:expr, $org_name:expr, $admin:expr, $now:expr) => {{
        let org_id: i64 = sqlx::query_scalar(
            "INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind($org_name)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await
        .map_err(translate)?;
        insert_user!($tx, org_id, $admin, $now)
    }};
}

macro_rules! insert_user {
    ($tx:expr, $org_id:expr, $user:expr, $now:expr) => {{
        let user = $user;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (org_id, email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind($org_id)
        .bind(user.email)
        .bind(user.name)
        .bind(user.password_hash)
        .bind(user.role)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await
        .map_err(|e| match translate(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict("a user with this email already exists".into())
            }
            other => other,
        })?;
        id
    }};
}

impl Store {
    pub async fn user_count(&self) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    /// Creates the organization and its first administrator, atomically, and
    /// only while no user exists: a second setup fails with `Conflict`.
    pub async fn create_first_admin(
        &self,
        org_name: &str,
        admin: NewUser<'_>,
        now: i64,
    ) -> StoreResult<User> {
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
            let user_id = insert_organization!(tx, org_name, &admin, now);
            sqlx::query("DELETE FROM meta WHERE key = 'setup_token_hash'")
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            self.user_by_id(user_id).await
        })
    }

    /// Creates a further organization with its first administrator (used by
    /// tests today; by organization management later).
    pub async fn create_organization(
        &self,
        org_name: &str,
        admin: NewUser<'_>,
        now: i64,
    ) -> StoreResult<User> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let user_id = insert_organization!(tx, org_name, &admin, now);
            tx.commit().await.map_err(translate)?;
            self.user_by_id(user_id).await
        })
    }

    pub async fn create_user(&self, org_id: i64, user: NewUser<'_>, now: i64) -> StoreResult<User> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id = insert_user!(tx, org_id, &user, now);
            tx.commit().await.map_err(translate)?;
            self.user_by_id(id).await
        })
    }

    pub async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_one(pool)
                .await
                .map_err(translate)?;
            Ok(user_from_row!(&row))
        })
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE lower(u.email) = lower($1)");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(email)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            Ok(row.as_ref().map(|r| user_from_row!(r)))
        })
    }

    pub async fn users_of_org(&self, org_id: i64) -> StoreResult<Vec<User>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.org_id = $1 ORDER BY u.email");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .fetch_all(pool)
                .await
                .map_err(translate)?;
            Ok(rows.iter().map(|r| user_from_row!(r)).collect())
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

    // --- sessions -------------------------------------------------------

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

    pub async fn session_save(
        &self,
        key_hash: &str,
        state: &str,
        user_id: Option<i64>,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (key_hash, state, user_id, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(key_hash) DO UPDATE SET state = excluded.state, user_id = excluded.user_id, expires_at = excluded.expires_at",
            )
            .bind(key_hash)
            .bind(state)
            .bind(user_id)
            .bind(expires_at)
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
        state: &str,
        user_id: Option<i64>,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let r = sqlx::query(
                "UPDATE sessions SET state = $1, user_id = $2, expires_at = $3 WHERE key_hash = $4 AND expires_at > $5",
            )
            .bind(state)
            .bind(user_id)
            .bind(expires_at)
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

//! Organizations, users and server-side sessions.

use sqlx::Row;

use super::{translate, Store, StoreError, StoreResult};

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

fn user_from_row(r: &sqlx::sqlite::SqliteRow) -> User {
    User {
        id: r.get("id"),
        org_id: r.get("org_id"),
        org_name: r.get("org_name"),
        email: r.get("email"),
        name: r.get("name"),
        role: r.get("role"),
        password_hash: r.get("password_hash"),
    }
}

impl Store {
    pub async fn user_count(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(translate)
    }

    /// Creates the organization and its first administrator, atomically, and
    /// only while no user exists: a second setup fails with `Conflict`.
    pub async fn create_first_admin(
        &self,
        org_name: &str,
        admin: NewUser<'_>,
        now: i64,
    ) -> StoreResult<User> {
        let mut tx = self.write_tx().await?;
        // Take the write lock first so two concurrent setups serialise here.
        sqlx::query("UPDATE meta SET value = value WHERE key = 'setup_token_hash'")
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
        let user_id = insert_organization(&mut tx, org_name, &admin, now).await?;
        sqlx::query("DELETE FROM meta WHERE key = 'setup_token_hash'")
            .execute(&mut *tx)
            .await
            .map_err(translate)?;
        tx.commit().await.map_err(translate)?;
        self.user_by_id(user_id).await
    }

    /// Creates a further organization with its first administrator (used by
    /// tests today; by organization management later).
    pub async fn create_organization(
        &self,
        org_name: &str,
        admin: NewUser<'_>,
        now: i64,
    ) -> StoreResult<User> {
        let mut tx = self.write_tx().await?;
        let user_id = insert_organization(&mut tx, org_name, &admin, now).await?;
        tx.commit().await.map_err(translate)?;
        self.user_by_id(user_id).await
    }

    pub async fn create_user(&self, org_id: i64, user: NewUser<'_>, now: i64) -> StoreResult<User> {
        let mut tx = self.write_tx().await?;
        let id = insert_user(&mut tx, org_id, &user, now).await?;
        tx.commit().await.map_err(translate)?;
        self.user_by_id(id).await
    }

    pub async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(translate)?;
        Ok(user_from_row(&row))
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.email = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        Ok(row.as_ref().map(user_from_row))
    }

    pub async fn users_of_org(&self, org_id: i64) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.org_id = ? ORDER BY u.email");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    pub async fn first_org_id(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT id FROM organizations ORDER BY id LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)
    }

    // --- sessions -------------------------------------------------------

    pub async fn session_load(&self, key_hash: &str, now: i64) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT state FROM sessions WHERE key_hash = ? AND expires_at > ?")
            .bind(key_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)
    }

    pub async fn session_save(
        &self,
        key_hash: &str,
        state: &str,
        user_id: Option<i64>,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (key_hash, state, user_id, expires_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(key_hash) DO UPDATE SET state = excluded.state, user_id = excluded.user_id, expires_at = excluded.expires_at",
        )
        .bind(key_hash)
        .bind(state)
        .bind(user_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(translate)?;
        Ok(())
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
        let r = sqlx::query(
            "UPDATE sessions SET state = ?, user_id = ?, expires_at = ? WHERE key_hash = ? AND expires_at > ?",
        )
        .bind(state)
        .bind(user_id)
        .bind(expires_at)
        .bind(key_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(translate)?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn session_touch(&self, key_hash: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires_at = ? WHERE key_hash = ?")
            .bind(expires_at)
            .bind(key_hash)
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    pub async fn session_delete(&self, key_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE key_hash = ?")
            .bind(key_hash)
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(())
    }

    pub async fn sessions_purge_expired(&self, now: i64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(r.rows_affected())
    }
}

/// A new organization and its first administrator; returns the user's id.
async fn insert_organization(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    org_name: &str,
    admin: &NewUser<'_>,
    now: i64,
) -> StoreResult<i64> {
    let org_id: i64 = sqlx::query_scalar(
        "INSERT INTO organizations (name, created_at) VALUES (?, ?) RETURNING id",
    )
    .bind(org_name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(translate)?;
    insert_user(tx, org_id, admin, now).await
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    org_id: i64,
    user: &NewUser<'_>,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (org_id, email, name, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(org_id)
    .bind(user.email)
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match translate(e) {
        StoreError::Conflict(_) => StoreError::Conflict("a user with this email already exists".into()),
        other => other,
    })
}

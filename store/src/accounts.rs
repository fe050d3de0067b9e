//! Users, organizations and their members, invitations, two-factor
//! secrets and recovery codes, and server-side sessions.
//!
//! A user belongs to organizations through `memberships`, each with a
//! [`Role`]; an organization always keeps at least one owner (checked in
//! the same transaction as the change that could remove the last one).

use openseer_protocol::Role;
use sqlx::Row;

use super::{conflict_as, translate, BackendKind, Store, StoreError, StoreResult, WritePool};

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    /// Two-factor sign-in is in force.
    pub totp_enabled: bool,
    /// The organization a sign-in opens (the last one used).
    pub last_org_id: Option<i64>,
}

/// One organization a user belongs to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: i64,
    pub org_name: String,
    pub role: Role,
    /// The organization requires two-factor sign-in of its members.
    pub require_2fa: bool,
}

/// A member as the members page lists them.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub totp_enabled: bool,
    pub since: i64,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
}

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub role: Role,
    pub email: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Invitation {
    /// Still good: neither used, nor revoked, nor expired.
    pub fn open_at(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// The stored two-factor state of a user.
#[derive(Debug, Clone)]
pub struct TotpState {
    /// Sealed secret (see `auth::seal`).
    pub sealed_secret: String,
    pub enabled: bool,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, totp_enabled_at, last_org_id";

/// A `User` from a row of `USER_COLUMNS` (either backend's row type).
macro_rules! user_from_row {
    ($r:expr) => {{
        let r = $r;
        User {
            id: r.get("id"),
            email: r.get("email"),
            name: r.get("name"),
            password_hash: r.get("password_hash"),
            totp_enabled: r.get::<Option<i64>, _>("totp_enabled_at").is_some(),
            last_org_id: r.get("last_org_id"),
        }
    }};
}

fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Conflict(format!("unknown role {s:?} stored")))
}

macro_rules! membership_from_row {
    ($r:expr) => {{
        let r = $r;
        Membership {
            org_id: r.get("org_id"),
            org_name: r.get("org_name"),
            role: role_of(r.get::<&str, _>("role"))?,
            require_2fa: r.get("require_2fa"),
        }
    }};
}

const INVITATION_COLUMNS: &str = "i.id, i.org_id, o.name AS org_name, i.role, i.email, i.created_at, i.expires_at, i.accepted_at, i.revoked_at";

macro_rules! invitation_from_row {
    ($r:expr) => {{
        let r = $r;
        Invitation {
            id: r.get("id"),
            org_id: r.get("org_id"),
            org_name: r.get("org_name"),
            role: role_of(r.get::<&str, _>("role"))?,
            email: r.get("email"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            accepted_at: r.get("accepted_at"),
            revoked_at: r.get("revoked_at"),
        }
    }};
}

/// Inserts a user inside `$tx`; evaluates to the new id. A taken email is
/// a `Conflict` that says so.
macro_rules! insert_user {
    ($tx:expr, $user:expr, $last_org:expr, $now:expr) => {{
        let user = $user;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, last_org_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user.email)
        .bind(user.name)
        .bind(user.password_hash)
        .bind($last_org)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await
        .map_err(conflict_as("a user with this email already exists"))?;
        id
    }};
}

macro_rules! insert_organization {
    ($tx:expr, $name:expr, $now:expr) => {{
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind($name)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await
        .map_err(translate)?;
        id
    }};
}

macro_rules! insert_membership {
    ($tx:expr, $org_id:expr, $user_id:expr, $role:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind($org_id)
        .bind($user_id)
        .bind($role.as_str())
        .bind($now)
        .execute(&mut *$tx)
        .await
        .map_err(conflict_as("already a member of this organization"))?;
    }};
}

/// Fails the change in `$tx` when `$org_id` would be left without an owner.
macro_rules! keep_an_owner {
    ($tx:expr, $org_id:expr) => {{
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
        )
        .bind($org_id)
        .fetch_one(&mut *$tx)
        .await
        .map_err(translate)?;
        if owners == 0 {
            return Err(StoreError::Conflict(
                "an organization keeps at least one owner".into(),
            ));
        }
    }};
}

/// Replaces a user's recovery codes inside `$tx`.
macro_rules! replace_codes {
    ($tx:expr, $user_id:expr, $hashes:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await
            .map_err(translate)?;
        for h in $hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user_id)
                .bind(h)
                .execute(&mut *$tx)
                .await
                .map_err(translate)?;
        }
    }};
}

/// The statement that serialises changes to an organization's members, so
/// two concurrent demotions cannot both see another owner left.
fn lock_members(kind: BackendKind) -> &'static str {
    match kind {
        // BEGIN IMMEDIATE already holds the write lock.
        BackendKind::Sqlite => "SELECT 1",
        BackendKind::Postgres => "LOCK TABLE memberships IN SHARE ROW EXCLUSIVE MODE",
    }
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

    pub async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
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
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(email)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            Ok(row.as_ref().map(|r| user_from_row!(r)))
        })
    }

    /// A user and the organizations they belong to (by name), in one query:
    /// every signed-in request needs both. `None` when there is no such user.
    pub async fn user_with_memberships(
        &self,
        user_id: i64,
    ) -> StoreResult<Option<(User, Vec<Membership>)>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.id, u.email, u.name, u.password_hash, u.totp_enabled_at, u.last_org_id,
                        m.org_id, o.name AS org_name, m.role, o.require_2fa
                 FROM users u
                 LEFT JOIN memberships m ON m.user_id = u.id
                 LEFT JOIN organizations o ON o.id = m.org_id
                 WHERE u.id = $1 ORDER BY o.name, o.id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let user = user_from_row!(first);
            let mut memberships = Vec::with_capacity(rows.len());
            for r in rows.iter().filter(|r| r.get::<Option<i64>, _>("org_id").is_some()) {
                memberships.push(membership_from_row!(r));
            }
            Ok(Some((user, memberships)))
        })
    }

    /// The organizations a user belongs to, by name.
    pub async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Membership>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.org_id, o.name AS org_name, m.role, o.require_2fa FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name, o.id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(membership_from_row!(r));
            }
            Ok(out)
        })
    }

    /// How `user_id` belongs to `org_id`, if at all.
    pub async fn membership(&self, org_id: i64, user_id: i64) -> StoreResult<Option<Membership>> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT m.org_id, o.name AS org_name, m.role, o.require_2fa FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.org_id = $1 AND m.user_id = $2",
            )
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
            .map_err(translate)?;
            match row {
                Some(r) => Ok(Some(membership_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    pub async fn members(&self, org_id: i64) -> StoreResult<Vec<Member>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.id, u.email, u.name, m.role, u.totp_enabled_at, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(Member {
                    user_id: r.get("id"),
                    email: r.get("email"),
                    name: r.get("name"),
                    role: role_of(r.get::<&str, _>("role"))?,
                    totp_enabled: r.get::<Option<i64>, _>("totp_enabled_at").is_some(),
                    since: r.get("created_at"),
                });
            }
            Ok(out)
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

    pub async fn set_last_org(&self, user_id: i64, org_id: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET last_org_id = $1 WHERE id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    pub async fn first_org_id(&self) -> StoreResult<Option<i64>> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY id LIMIT 1")
                .fetch_optional(pool)
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

    // --- invitations -------------------------------------------------------

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
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(token_hash)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            match row {
                Some(r) => Ok(Some(invitation_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// The organization's invitations that are still open, newest first.
    pub async fn open_invitations(&self, org_id: i64, now: i64) -> StoreResult<Vec<Invitation>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.org_id WHERE i.org_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 ORDER BY i.id DESC");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(translate)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(invitation_from_row!(r));
            }
            Ok(out)
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
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_one(pool)
                .await
                .map_err(translate)?;
            Ok(invitation_from_row!(&row))
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
            let role = role_of(row.get::<&str, _>("role"))?;
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

    // --- two-factor sign-in --------------------------------------------------

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

    pub async fn session_save(&self, key_hash: &str, row: SessionRow<'_>) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO sessions (key_hash, state, user_id, org_id, expires_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT(key_hash) DO UPDATE SET state = excluded.state, user_id = excluded.user_id, org_id = excluded.org_id, expires_at = excluded.expires_at",
            )
            .bind(key_hash)
            .bind(row.state)
            .bind(row.user_id)
            .bind(row.org_id)
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
                "UPDATE sessions SET state = $1, user_id = $2, org_id = $3, expires_at = $4 WHERE key_hash = $5 AND expires_at > $6",
            )
            .bind(row.state)
            .bind(row.user_id)
            .bind(row.org_id)
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

    /// Whether the user still has a live session in the organization and is
    /// still its member (live streams check this as they go).
    pub async fn signed_in_to(&self, user_id: i64, org_id: i64, now: i64) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.org_id = s.org_id WHERE s.user_id = $1 AND s.org_id = $2 AND s.expires_at > $3",
            )
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

/// Who accepts an invitation.
pub enum Invitee<'a> {
    Existing { user_id: i64, email: &'a str },
    New(NewUser<'a>),
}

/// A session as stored: its state (JSON) and, read from that state, the
/// user and organization it is signed in to.
pub struct SessionRow<'a> {
    pub state: &'a str,
    pub user_id: Option<i64>,
    pub org_id: Option<i64>,
    pub expires_at: i64,
}

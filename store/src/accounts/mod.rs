//! Users ([`users`]), organizations and their members
//! ([`organizations`]), invitations ([`invitations`]), two-factor secrets
//! and recovery codes ([`two_factor`]), and server-side sessions
//! ([`sessions`]). The row types and the statements several of them run
//! inside their transactions are here.
//!
//! A user belongs to organizations through `memberships`, each with a
//! [`Role`]; an organization always keeps at least one owner (checked in
//! the same transaction as the change that could remove the last one).

use openseer_protocol::Role;

use crate::{BackendKind, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Membership {
    pub org_id: i64,
    pub org_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// The organization requires two-factor sign-in of its members.
    pub require_2fa: bool,
}

/// A member as the members page lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub totp_enabled: bool,
    pub since: i64,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    #[sqlx(try_from = "String")]
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

const USER_COLUMNS: &str =
    "id, email, name, password_hash, (totp_enabled_at IS NOT NULL) AS totp_enabled, last_org_id";
/// [`USER_COLUMNS`] of the table aliased `u`.
const USER_COLUMNS_OF_U: &str = "u.id, u.email, u.name, u.password_hash, (u.totp_enabled_at IS NOT NULL) AS totp_enabled, u.last_org_id";
/// A [`Membership`] from `memberships m JOIN organizations o`.
const MEMBERSHIP_COLUMNS: &str = "m.org_id, o.name AS org_name, m.role, o.require_2fa";
const INVITATION_COLUMNS: &str = "i.id, i.org_id, o.name AS org_name, i.role, i.email, i.created_at, i.expires_at, i.accepted_at, i.revoked_at";

/// A user, and one of their memberships if they have any (a LEFT JOIN).
#[derive(sqlx::FromRow)]
struct UserAndMembership {
    #[sqlx(flatten)]
    user: User,
    org_id: Option<i64>,
    org_name: Option<String>,
    role: Option<String>,
    require_2fa: Option<bool>,
}

impl UserAndMembership {
    fn membership(self) -> StoreResult<Option<Membership>> {
        let (Some(org_id), Some(org_name), Some(role), Some(require_2fa)) =
            (self.org_id, self.org_name, self.role, self.require_2fa)
        else {
            return Ok(None);
        };
        Ok(Some(Membership {
            org_id,
            org_name,
            role: Role::try_from(role).map_err(unknown)?,
            require_2fa,
        }))
    }
}

/// A stored value the protocol does not know (a damaged row).
fn unknown(e: openseer_protocol::UnknownValue) -> StoreError {
    StoreError::Conflict(format!("{e} stored"))
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

mod invitations;
mod organizations;
mod sessions;
mod two_factor;
mod users;

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
    /// The session's id, kept across key rotations.
    pub sid: Option<String>,
    pub expires_at: i64,
}

//! actix-session store on our own database. The cookie carries a random
//! session key; the database keeps only its SHA-256, the state and the user
//! and organization it is signed in to (so removing a member can end their
//! sessions), so any node can read the session and logout deletes it.
//!
//! Only sessions that stand for someone get a row: a signed-in user, or
//! one half-way through two-factor sign-in. An anonymous visitor's state
//! (the CSRF token of the sign-in form) travels in the cookie itself,
//! which the session middleware encrypts and authenticates, so a visitor
//! without a cookie costs no database write.
//!
//! Deleted means deleted: a request still in flight when its session is
//! signed out or its password changed does not write the session back.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;

use openseer_core::clock::system_now_ms;
use openseer_store::{SessionRow, Store};

pub const USER_ID_KEY: &str = "user_id";
pub const ORG_ID_KEY: &str = "org_id";
/// A random id of the signed-in session that survives key rotation (live
/// streams check that their own session is still there).
pub const SID_KEY: &str = "sid";
/// Set while the second factor of a sign-in is awaited.
pub const PENDING_USER_KEY: &str = "pending_user";

/// An anonymous session's key: this prefix, then its state as JSON.
const ANONYMOUS: &str = "a.";

/// Whether the state stands for someone and so needs a row.
fn needs_row(state: &HashMap<String, String>) -> bool {
    state.contains_key(USER_ID_KEY) || state.contains_key(PENDING_USER_KEY)
}

/// The key that carries an anonymous state; `None` when it would not fit
/// in a cookie.
fn anonymous_key(body: &str) -> Option<SessionKey> {
    SessionKey::try_from(format!("{ANONYMOUS}{body}")).ok()
}

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
}

impl DbSessionStore {
    pub fn new(store: Store) -> DbSessionStore {
        DbSessionStore { store }
    }
}

fn key_hash(key: &SessionKey) -> String {
    super::token::hash(key.as_ref())
}

fn id_of(state: &HashMap<String, String>, key: &str) -> Option<i64> {
    state
        .get(key)
        .and_then(|v| serde_json::from_str::<i64>(v).ok())
}

fn row<'a>(body: &'a str, state: &HashMap<String, String>, ttl: &Duration) -> SessionRow<'a> {
    SessionRow {
        state: body,
        user_id: id_of(state, USER_ID_KEY),
        org_id: id_of(state, ORG_ID_KEY),
        sid: state
            .get(SID_KEY)
            .and_then(|v| serde_json::from_str::<String>(v).ok()),
        expires_at: expiry(ttl),
    }
}

fn expiry(ttl: &Duration) -> i64 {
    system_now_ms() + ttl.whole_milliseconds() as i64
}

fn new_key() -> SessionKey {
    // 64 hex characters; actix-session requires at least 32.
    SessionKey::try_from(super::token::random_hex(32)).expect("64 characters is a valid key")
}

impl SessionStore for DbSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        if let Some(body) = session_key.as_ref().strip_prefix(ANONYMOUS) {
            return serde_json::from_str(body)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into()));
        }
        let state = self
            .store
            .session_load(&key_hash(session_key), system_now_ms())
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        match state {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let body = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        if !needs_row(&state) {
            if let Some(key) = anonymous_key(&body) {
                return Ok(key);
            }
        }
        let key = new_key();
        self.store
            .session_save(&key_hash(&key), row(&body, &state, ttl))
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let body =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        if !needs_row(&state) {
            if let Some(key) = anonymous_key(&body) {
                // A row it had (signed out by clearing) goes.
                if !session_key.as_ref().starts_with(ANONYMOUS) {
                    self.delete(&session_key)
                        .await
                        .map_err(UpdateError::Other)?;
                }
                return Ok(key);
            }
        }
        if session_key.as_ref().starts_with(ANONYMOUS) {
            // Someone now: a row of its own under a fresh key.
            let key = new_key();
            self.store
                .session_save(&key_hash(&key), row(&body, &state, ttl))
                .await
                .map_err(|e| UpdateError::Other(e.into()))?;
            return Ok(key);
        }
        // Only a row that is still there is updated: one deleted meanwhile
        // (signed out, password changed, member removed) stays deleted, and
        // the cookie now names nothing.
        self.store
            .session_update(
                &key_hash(&session_key),
                row(&body, &state, ttl),
                system_now_ms(),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        Ok(session_key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &Duration,
    ) -> Result<(), anyhow::Error> {
        if session_key.as_ref().starts_with(ANONYMOUS) {
            return Ok(());
        }
        self.store
            .session_touch(&key_hash(session_key), expiry(ttl))
            .await
            .map_err(Into::into)
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        if session_key.as_ref().starts_with(ANONYMOUS) {
            return Ok(());
        }
        self.store
            .session_delete(&key_hash(session_key))
            .await
            .map_err(Into::into)
    }
}

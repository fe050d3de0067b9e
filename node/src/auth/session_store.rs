//! actix-session store on our own database. The cookie carries a random
//! session key; the database keeps only its SHA-256, the state and the user
//! and organization it is signed in to (so removing a member can end their
//! sessions), so any node can read the session and logout deletes it.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;

use openseer_core::clock::system_now_ms;
use openseer_store::{SessionRow, Store};

pub const USER_ID_KEY: &str = "user_id";
pub const ORG_ID_KEY: &str = "org_id";

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
        let updated = self
            .store
            .session_update(
                &key_hash(&session_key),
                row(&body, &state, ttl),
                system_now_ms(),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(session_key);
        }
        // Expired or deleted meanwhile: start a new session rather than revive it.
        let key = new_key();
        self.store
            .session_save(&key_hash(&key), row(&body, &state, ttl))
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        Ok(key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &Duration,
    ) -> Result<(), anyhow::Error> {
        self.store
            .session_touch(&key_hash(session_key), expiry(ttl))
            .await
            .map_err(Into::into)
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        self.store
            .session_delete(&key_hash(session_key))
            .await
            .map_err(Into::into)
    }
}

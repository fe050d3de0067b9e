//! CSRF protection: a random token per session, sent back with every form
//! (hidden field `_csrf`) and every cookie-authenticated API write
//! (`X-CSRF-Token` header), compared in constant time.

use actix_session::Session;

const KEY: &str = "csrf";

/// The session's token, created on first use.
pub fn token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(KEY) {
        return t;
    }
    let t = super::token::random_hex(32);
    // Only fails if the value cannot be serialised, which a String can.
    let _ = session.insert(KEY, &t);
    t
}

pub fn verify(session: &Session, presented: Option<&str>) -> bool {
    let Ok(Some(expected)) = session.get::<String>(KEY) else {
        return false;
    };
    presented.is_some_and(|p| super::token::equal(p, &expected))
}

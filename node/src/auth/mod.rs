//! Authentication pieces: password hashing, secret tokens, the server-side
//! session store, CSRF tokens, sign-in throttling, TOTP second factors and
//! the sealing of secrets at rest.

pub mod csrf;
pub mod password;
pub mod session_store;
pub mod throttle;
pub mod token;
pub mod totp;

//! Authentication pieces: password hashing, secret tokens, the server-side
//! session store, CSRF tokens and sign-in throttling.

pub mod csrf;
pub mod password;
pub mod session_store;
pub mod throttle;
pub mod token;

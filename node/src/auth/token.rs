//! Secret tokens: generated from the OS RNG, stored only as SHA-256 hex.

use openseer_protocol::token::{format_token, is_well_formed, TokenKind};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn generate(kind: TokenKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format_token(kind, &bytes)
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The hash to look up, or `None` when the token is not of the expected kind.
pub fn lookup_hash(kind: TokenKind, token: &str) -> Option<String> {
    is_well_formed(kind, token).then(|| hash(token))
}

/// Constant-time equality of two secrets (or hashes).
pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

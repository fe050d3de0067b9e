//! Secrets at rest: monitor header values and bodies, TOTP secrets. Each
//! value is sealed with AES-256-GCM under the node's secrets key, with a
//! fresh random nonce and the value's purpose as associated data (a sealed
//! body cannot be passed off as a TOTP secret). A sealed value names the
//! key it was sealed with, so opening it with another key fails with an
//! error that says so instead of garbage.
//!
//! Stored form: `sealed:v1:<key id>:<hex of nonce || ciphertext || tag>`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

/// 32 bytes of key material. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(hidden)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("expected 64 hexadecimal characters (32 bytes), e.g. from `openssl rand -hex 32`")]
    BadKey,
    #[error("sealed with another secrets key (key id {0}); configure the key it was sealed with")]
    OtherKey(String),
    #[error("a sealed value is damaged or was not sealed for this purpose")]
    Damaged,
}

impl SecretsKey {
    pub fn from_hex(text: &str) -> Result<SecretsKey, SealError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(SecretsKey(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn generate() -> SecretsKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretsKey(key)
    }

    /// A key derived from a shared secret (the cluster secret), labelled so
    /// it differs from every other key derived from the same secret.
    pub fn derive(secret: &[u8]) -> SecretsKey {
        let mut h = Sha256::new();
        h.update(b"openseer secrets key v1\0");
        h.update(secret);
        SecretsKey(h.finalize().into())
    }

    /// A short public name for the key: the start of a hash of it.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"openseer key id\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..4])
    }
}

/// Seals and opens values under one key.
pub struct Sealer {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(key id {})", self.id)
    }
}

impl Sealer {
    pub fn new(key: &SecretsKey) -> Sealer {
        let unbound = UnboundKey::new(&AES_256_GCM, &key.0).expect("32 bytes is an AES-256 key");
        Sealer {
            key: LessSafeKey::new(unbound),
            id: key.id(),
        }
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// `plain` sealed for `purpose` (a fixed name such as `monitor.body`).
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seals any length we store");
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        format!("{PREFIX}{}:{}", self.id, hex::encode(out))
    }

    /// The plain text of a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, stored: &str) -> Result<String, SealError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(SealError::Damaged)?;
        let (id, body) = rest.split_once(':').ok_or(SealError::Damaged)?;
        if id != self.id {
            return Err(SealError::OtherKey(id.to_string()));
        }
        let mut bytes = hex::decode(body).map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let mut data = bytes.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = bytes.try_into().map_err(|_| SealError::Damaged)?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_to_itself_and_hides_its_text() {
        let s = Sealer::new(&SecretsKey::generate());
        let sealed = s.seal("monitor.body", "Bearer s3cret");
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(s.open("monitor.body", &sealed).unwrap(), "Bearer s3cret");
        // A fresh nonce each time: the same value never seals the same way.
        assert_ne!(sealed, s.seal("monitor.body", "Bearer s3cret"));
        assert_eq!(s.open("x", &s.seal("x", "")).unwrap(), "");
    }

    #[test]
    fn another_key_another_purpose_or_a_changed_byte_do_not_open() {
        let a = Sealer::new(&SecretsKey::generate());
        let b = Sealer::new(&SecretsKey::generate());
        let sealed = a.seal("monitor.headers", "[]");
        assert!(matches!(
            b.open("monitor.headers", &sealed),
            Err(SealError::OtherKey(_))
        ));
        assert_eq!(a.open("user.totp", &sealed), Err(SealError::Damaged));
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(a.open("monitor.headers", &flipped), Err(SealError::Damaged));
        assert_eq!(a.open("monitor.headers", "plain"), Err(SealError::Damaged));
    }

    #[test]
    fn keys_round_trip_through_hex_and_refuse_other_shapes() {
        let k = SecretsKey::generate();
        assert_eq!(SecretsKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_eq!(SecretsKey::from_hex("abcd"), Err(SealError::BadKey));
        assert_eq!(
            SecretsKey::from_hex(&"zz".repeat(32)),
            Err(SealError::BadKey)
        );
        assert_eq!(format!("{k:?}"), "SecretsKey(hidden)");
        // Derived keys are stable and differ by secret.
        assert_eq!(SecretsKey::derive(b"one"), SecretsKey::derive(b"one"));
        assert_ne!(SecretsKey::derive(b"one"), SecretsKey::derive(b"two"));
    }
}

//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6
//! digits), as every authenticator app speaks them, and recovery codes.
//! The clock is the caller's (`now_ms`), so tests drive time.

use aws_lc_rs::hmac;
use rand::RngCore;

pub const STEP_MS: i64 = 30_000;
pub const DIGITS: u32 = 6;
/// Codes of one step before and after the current one are accepted too:
/// phones and servers disagree by a few seconds.
const DRIFT_STEPS: i64 = 1;

/// A new 160-bit secret (the size RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill_bytes(&mut s);
    s
}

/// The code for time step `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(STEP_MS)
}

/// The time step `code` is good for at `now_ms`, if any. The caller keeps
/// the last step accepted and refuses a step at or before it, so a code
/// works once.
pub fn verify(secret: &[u8], code: &str, now_ms: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(now_ms);
    (now - DRIFT_STEPS..=now + DRIFT_STEPS)
        .find(|&step| crate::auth::token::equal(&code_at(secret, step), &code))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take a key.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI an authenticator app scans.
pub fn uri(secret: &[u8], account: &str) -> String {
    let label: String = format!("OpenSeer:{account}")
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "otpauth://totp/{label}?secret={}&issuer=OpenSeer&algorithm=SHA1&digits={DIGITS}&period={}",
        base32(secret),
        STEP_MS / 1000
    )
}

/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Fresh recovery codes, `xxxxx-xxxxx` (no 0/o, 1/l/i to misread).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut c = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    c.push('-');
                }
                let n = rng.next_u32() as usize % CODE_ALPHABET.len();
                c.push(CODE_ALPHABET[n] as char);
            }
            c
        })
        .collect()
}

/// A recovery code as typed (any case, spaces, with or without the dash),
/// in the one form that is hashed; `None` when it cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let chars: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    if chars.len() != 10 || !chars.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &chars[..5], &chars[5..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8-digit codes there; ours are the
    /// last 6 digits of the same number).
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (seconds, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(seconds * 1000)), eight[2..]);
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_not_further() {
        let secret = new_secret();
        let now = 1_700_000_000_000;
        let step = step_of(now);
        assert_eq!(verify(&secret, &code_at(&secret, step), now), Some(step));
        assert_eq!(
            verify(&secret, &code_at(&secret, step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, step + 1), now),
            Some(step + 1)
        );
        let two_away = code_at(&secret, step - 2);
        let near: Vec<String> = (step - 1..=step + 1).map(|s| code_at(&secret, s)).collect();
        if !near.contains(&two_away) {
            assert_eq!(verify(&secret, &two_away, now), None);
        }
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify(&secret, "abcdef", now), None);
        assert_eq!(verify(&secret, "", now), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn the_uri_names_the_account_and_carries_the_key() {
        let u = uri(b"12345678901234567890", "a b@example.com");
        assert!(u.starts_with(
            "otpauth://totp/OpenSeer:a%20b@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
        ));
        assert!(u.contains("issuer=OpenSeer") && u.contains("period=30"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalize_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(normalize_recovery_code(c).as_deref(), Some(c.as_str()));
            let typed = c.replace('-', " ").to_uppercase();
            assert_eq!(normalize_recovery_code(&typed).as_deref(), Some(c.as_str()));
        }
        assert_eq!(normalize_recovery_code("abc"), None);
        assert_eq!(normalize_recovery_code("00000-00000"), None);
    }
}

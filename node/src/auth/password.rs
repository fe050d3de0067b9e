//! argon2id password hashes (PHC strings). Hashing is deliberately slow, so
//! callers run it on a blocking thread.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random password, verified against when the account does not
/// exist, so a sign-in takes as long for an unknown address as for a known one.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("openseer-dummy-password-for-timing").expect("hashing works"))
}

/// How much of a password the guessability estimate reads: its cost grows
/// with length, and a password whose first 100 characters are hard to
/// guess is hard to guess.
const ESTIMATE_CHARS: usize = 100;

/// A new password: at least 12 characters, at most 1 KiB, and not among
/// the most common passwords or otherwise easy to guess (zxcvbn's estimate
/// of more than 10^8 guesses, with `context` such as the user's email and
/// name counted as known to an attacker).
pub fn check_new_password(password: &str, context: &[&str]) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!("at most {MAX_PASSWORD_LEN} bytes"));
    }
    let head: String = password.chars().take(ESTIMATE_CHARS).collect();
    // An email or a name, whole and word by word: guesses an attacker
    // would try first.
    let words: Vec<String> = context
        .iter()
        .flat_map(|c| std::iter::once(*c).chain(c.split(|ch: char| !ch.is_alphanumeric())))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(&head, &words);
    if estimate.score() < zxcvbn::Score::Three {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(format!(
            "too easy to guess{why}: use a few unrelated words or a password manager"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn common_short_and_guessable_passwords_are_refused() {
        use super::check_new_password as check;
        assert!(check("short", &[]).unwrap_err().contains("at least 12"));
        for common in [
            "password1234",
            "123456789012",
            "qwertyuiopas",
            "iloveyou1234",
            "Password123!",
            "aaaaaaaaaaaaaaaaaaaa",
        ] {
            let e = check(common, &[]).unwrap_err();
            assert!(e.contains("too easy to guess"), "{common}: {e}");
        }
        // What the user's account says is known to an attacker.
        let me = ["alice.smith@acme.example", "Alice Smith"];
        assert!(check("alice.smith@acme.example", &me).is_err());
        assert!(check("alice.smith@acme.example", &[]).is_ok());
        assert!(check("correct horse battery staple", &[]).is_ok());
        assert!(check("vG7#qL2!mZ9@xR4w", &[]).is_ok());
        assert!(check(&"x".repeat(2000), &[])
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", &h));
        assert!(!super::verify("wrong", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}

//! Token formats. A token is a kind prefix followed by 64 lowercase hex
//! characters (32 random bytes). Only a SHA-256 of the whole token is ever
//! stored; the prefix lets a server reject a token of the wrong kind before
//! touching storage and lets secret scanners recognise leaked tokens.

/// The kinds of bearer secret OpenSeer hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Worker enrollment token, exchanged once for a worker token.
    Enrollment,
    /// Worker API token.
    Worker,
    /// User API token.
    User,
    /// One-time link that claims a fresh instance.
    Setup,
    /// One-time link that joins an organization with a role.
    Invitation,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Enrollment => "ostc_",
            TokenKind::Worker => "ostk_",
            TokenKind::User => "ostu_",
            TokenKind::Setup => "osts_",
            TokenKind::Invitation => "osti_",
        }
    }
}

pub const SECRET_HEX_LEN: usize = 64;

/// Builds a token string from 32 random bytes supplied by the caller.
pub fn format_token(kind: TokenKind, random: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(kind.prefix().len() + SECRET_HEX_LEN);
    s.push_str(kind.prefix());
    for b in random {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// True when `token` has the shape of a token of `kind`. Says nothing about
/// whether the token is valid; that takes a lookup of its hash.
pub fn is_well_formed(kind: TokenKind, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(kind.prefix()) else {
        return false;
    };
    rest.len() == SECRET_HEX_LEN
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_tokens_are_well_formed_for_their_kind_only() {
        let t = format_token(TokenKind::Worker, &[0xab; 32]);
        assert!(t.starts_with("ostk_abab"));
        assert_eq!(t.len(), 5 + 64);
        assert!(is_well_formed(TokenKind::Worker, &t));
        assert!(!is_well_formed(TokenKind::User, &t));
        assert!(!is_well_formed(TokenKind::Worker, "ostk_xyz"));
        assert!(!is_well_formed(TokenKind::Worker, &t.to_uppercase()));
    }
}

//! Random tokens and their stored hashes. Tokens (sessions, enrolment keys, node tokens) are shown
//! once and only their SHA-256 is stored, so a copy of the database does not grant access.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh 256-bit token, URL-safe, with a readable prefix (`flt_ek_`, `flt_nt_`, …).
pub fn token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh key for an async volume's sync channel (base64 of
/// [`domain::standby::KEY_BYTES`] random bytes).
pub fn sync_key() -> String {
    let mut bytes = [0u8; domain::standby::KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A short reference that ties a user-facing error to its log line.
pub fn reference() -> String {
    let mut bytes = [0u8; 4];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A readable generated password (used for the first Administrator when none is configured).
pub fn password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed() {
        let a = token("flt_nt_");
        let b = token("flt_nt_");
        assert_ne!(a, b);
        assert!(a.starts_with("flt_nt_"));
        assert_eq!(a.len(), 7 + 43);
        assert_eq!(hash(&a).len(), 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn generated_passwords_are_long_enough() {
        assert!(domain::user::Password::parse(&password()).is_ok());
    }
}

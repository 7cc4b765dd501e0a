//! Accounts: usernames, passwords and the user shown in the UI.
use serde::{Deserialize, Serialize};

use crate::{Role, ValidationError};

pub const PASSWORD_MIN_LEN: usize = 10;
pub const PASSWORD_MAX_LEN: usize = 256;

/// A login name: 3–32 characters, lowercase letters, digits, `.`, `_` or `-`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let v = value.trim();
        let err = |m: &str| Err(ValidationError::new("username", m));
        if v.len() < 3 || v.len() > 32 {
            return err("Use 3 to 32 characters.");
        }
        if !v.starts_with(|c: char| c.is_ascii_lowercase()) {
            return err("Start with a lowercase letter.");
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            return err("Use only lowercase letters, digits, '.', '_' and '-'.");
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password. Kept out of `Debug` output so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let n = value.chars().count();
        if n < PASSWORD_MIN_LEN {
            return Err(ValidationError::new(
                "password",
                format!("Use at least {PASSWORD_MIN_LEN} characters."),
            ));
        }
        if n > PASSWORD_MAX_LEN {
            return Err(ValidationError::new(
                "password",
                format!("Use at most {PASSWORD_MAX_LEN} characters."),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A user as the UI sees it (never with a hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at_ms: i64,
    /// A disabled user cannot sign in; their sessions ended when they were disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// What an Administrator can do to another account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    Disable,
    Enable,
    Delete,
}

/// The signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub username: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("admin").is_ok());
        assert_eq!(
            Username::parse("  ops.team-1 ").map(|u| u.0),
            Ok("ops.team-1".into())
        );
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("Admin").is_err());
        assert!(Username::parse("1admin").is_err());
        assert!(Username::parse("ad min").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough pw").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-secret").ok()),
            "Some(Password(<redacted>))"
        );
    }
}

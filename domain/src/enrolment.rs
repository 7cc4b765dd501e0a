//! Enrolment keys: what an operator gives a new node so it can join the panel once.
use serde::{Deserialize, Serialize};

use crate::ValidationError;

pub const MAX_EXPIRY_HOURS: u32 = 24 * 365;
/// The largest use limit a key may have (0 means no limit).
pub const MAX_USES: u32 = 10_000;
/// What the form proposes: a key enrols one node.
pub const DEFAULT_USES: &str = "1";

/// A validated request to create an enrolment key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEnrolmentKey {
    pub label: String,
    pub expires_in_hours: u32,
    /// How many nodes the key may enrol; `None` is no limit.
    pub max_uses: Option<u32>,
}

impl NewEnrolmentKey {
    /// `max_uses` absent means the default, a single use.
    pub fn parse(
        label: &str,
        expires_in_hours: &str,
        max_uses: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            label: parse_label(label)?,
            expires_in_hours: parse_expiry_hours(expires_in_hours)?,
            max_uses: parse_max_uses(max_uses.unwrap_or(DEFAULT_USES))?,
        })
    }
}

/// How many nodes a key may enrol: 1 to [`MAX_USES`], or 0 for no limit (`None`).
pub fn parse_max_uses(value: &str) -> Result<Option<u32>, ValidationError> {
    let err = || {
        ValidationError::new(
            "max_uses",
            format!("Enter how many nodes it may enrol, 1 to {MAX_USES} (0 for no limit)."),
        )
    };
    match value.trim().parse::<u32>().map_err(|_| err())? {
        0 => Ok(None),
        n if n <= MAX_USES => Ok(Some(n)),
        _ => Err(err()),
    }
}

pub fn parse_label(value: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::new(
            "label",
            "Give the key a name, e.g. \"line 3 gateways\".",
        ));
    }
    if v.chars().count() > 64 {
        return Err(ValidationError::new("label", "Use at most 64 characters."));
    }
    if v.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "label",
            "Control characters are not allowed.",
        ));
    }
    Ok(v.to_owned())
}

pub fn parse_expiry_hours(value: &str) -> Result<u32, ValidationError> {
    let err = || {
        ValidationError::new(
            "expires_in_hours",
            format!("Enter whole hours from 1 to {MAX_EXPIRY_HOURS}."),
        )
    };
    let hours: u32 = value.trim().parse().map_err(|_| err())?;
    if hours == 0 || hours > MAX_EXPIRY_HOURS {
        return Err(err());
    }
    Ok(hours)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Active,
    /// Every use it was given is spent.
    UsedUp,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn label(self) -> &'static str {
        match self {
            KeyState::Active => "Active",
            KeyState::UsedUp => "Used up",
            KeyState::Expired => "Expired",
            KeyState::Revoked => "Revoked",
        }
    }
}

/// An enrolment key as listed in the UI (the secret itself is shown only once, at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentKeyView {
    pub id: String,
    pub label: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub uses: i64,
    /// How many nodes it may enrol; `None` is no limit.
    pub max_uses: Option<i64>,
}

impl EnrolmentKeyView {
    pub fn state(&self, now_ms: i64) -> KeyState {
        if self.revoked_at_ms.is_some() {
            KeyState::Revoked
        } else if self.expires_at_ms <= now_ms {
            KeyState::Expired
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            KeyState::UsedUp
        } else {
            KeyState::Active
        }
    }

    /// "1 of 3", "2 (no limit)".
    pub fn uses_label(&self) -> String {
        match self.max_uses {
            Some(m) => format!("{} of {m}", self.uses),
            None => format!("{} (no limit)", self.uses),
        }
    }
}

/// The answer to "create a key": the only time the secret is visible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEnrolmentKey {
    pub key: EnrolmentKeyView,
    pub secret: String,
    /// The command that enrols a node with this key, ready to copy.
    pub agent_command: String,
}

/// The command line that enrols a node: `panel_url` is the panel as agents reach it.
pub fn agent_command(panel_url: &str, secret: &str) -> String {
    format!("flotilla-agent --panel {panel_url} --enrolment-key {secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_command_names_the_panel_and_the_key() {
        assert_eq!(
            agent_command("https://10.0.0.1:3100", "flt_ek_x"),
            "flotilla-agent --panel https://10.0.0.1:3100 --enrolment-key flt_ek_x"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("  lab  "), Ok("lab".into()));
        assert!(parse_label("   ").is_err());
        assert!(parse_label(&"x".repeat(65)).is_err());
        assert!(parse_label("a\nb").is_err());
    }

    #[test]
    fn expiry() {
        assert_eq!(parse_expiry_hours("24"), Ok(24));
        assert!(parse_expiry_hours("0").is_err());
        assert!(parse_expiry_hours("-3").is_err());
        assert!(parse_expiry_hours("1.5").is_err());
        assert!(parse_expiry_hours("8761").is_err());
        assert_eq!(parse_expiry_hours("8760"), Ok(8760));
    }

    #[test]
    fn use_limits() {
        assert_eq!(parse_max_uses("1"), Ok(Some(1)));
        assert_eq!(parse_max_uses(" 0 "), Ok(None));
        assert_eq!(parse_max_uses("10000"), Ok(Some(10_000)));
        for bad in ["", "-1", "10001", "two"] {
            assert!(parse_max_uses(bad).is_err(), "{bad}");
        }
        let k = NewEnrolmentKey::parse("lab", "24", None).expect("valid");
        assert_eq!(
            k.max_uses,
            Some(1),
            "a key enrols one node unless told otherwise"
        );
        let e = NewEnrolmentKey::parse("lab", "24", Some("x")).expect_err("invalid");
        assert_eq!(e.field, "max_uses");
    }

    #[test]
    fn state() {
        let mut k = EnrolmentKeyView {
            id: "k".into(),
            label: "l".into(),
            created_by: "admin".into(),
            created_at_ms: 0,
            expires_at_ms: 100,
            revoked_at_ms: None,
            uses: 0,
            max_uses: Some(2),
        };
        assert_eq!(k.state(50), KeyState::Active);
        k.uses = 2;
        assert_eq!(k.state(50), KeyState::UsedUp);
        assert_eq!(k.uses_label(), "2 of 2");
        k.max_uses = None;
        assert_eq!(k.state(50), KeyState::Active);
        assert_eq!(k.state(100), KeyState::Expired);
        k.revoked_at_ms = Some(10);
        assert_eq!(k.state(50), KeyState::Revoked);
    }
}

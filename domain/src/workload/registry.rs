//! Registry credentials of a cluster: what an operator types (or imports as CSV), the checks, and
//! what the panel shows — never the password once saved.
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The most credentials one cluster keeps, and the largest CSV import.
pub const MAX_CREDENTIALS: usize = 50;
pub const MAX_CSV_BYTES: usize = 64 * 1024;
const MAX_PASSWORD: usize = 1024;

/// A credential as typed (or read from one CSV line).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDraft {
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// A credential that passed the checks.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// `host[:port]`, lowercase, as images name it (`registry.example:5000/app:1`).
    pub registry: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A registry address: `host[:port]` without scheme or path (`https://` is taken off).
pub fn parse_registry(text: &str) -> Result<String, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("https://")
        .unwrap_or(t)
        .trim_end_matches('/');
    if t.starts_with("http://") {
        return Err("Flotilla talks to registries over HTTPS only: drop http://".into());
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (t, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !host.starts_with('-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok && !t.contains('/') {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(format!(
            "{t:?} is not a registry address: write host or host:port, e.g. registry.example.com:5000"
        ))
    }
}

impl CredentialDraft {
    /// Checks one credential; fields are `registry`, `username` and `password`, each prefixed
    /// with `prefix` (e.g. `csv.3.` for line 3 of an import).
    pub fn validate_as(&self, prefix: &str) -> Result<Credential, Vec<ValidationError>> {
        let mut errors = vec![];
        let registry = parse_registry(&self.registry)
            .map_err(|e| errors.push(ValidationError::new(format!("{prefix}registry"), e)))
            .ok();
        let username = self.username.trim();
        if username.is_empty()
            || username.len() > 255
            || username.contains(':')
            || username
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            errors.push(ValidationError::new(
                format!("{prefix}username"),
                "Give the user name: at most 255 characters, no spaces or ':'",
            ));
        }
        if self.password.is_empty()
            || self.password.len() > MAX_PASSWORD
            || self.password.chars().any(char::is_control)
        {
            errors.push(ValidationError::new(
                format!("{prefix}password"),
                format!("Give the password (or token): 1 to {MAX_PASSWORD} characters, one line"),
            ));
        }
        match registry {
            Some(registry) if errors.is_empty() => Ok(Credential {
                registry,
                username: username.to_owned(),
                password: self.password.clone(),
            }),
            _ => Err(errors),
        }
    }

    pub fn validate(&self) -> Result<Credential, Vec<ValidationError>> {
        self.validate_as("")
    }
}

/// Reads `registry,username,password` lines (a header line naming the columns is skipped; no
/// quoting: none of the three may contain a comma). Every problem names its line (`csv.N.field`);
/// a registry given twice is refused.
pub fn parse_csv(text: &str) -> Result<Vec<Credential>, Vec<ValidationError>> {
    if text.len() > MAX_CSV_BYTES {
        return Err(vec![ValidationError::new(
            "csv",
            format!("Import at most {} KiB at once", MAX_CSV_BYTES / 1024),
        )]);
    }
    let mut errors = vec![];
    let mut out: Vec<Credential> = vec![];
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("registry,")) {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, ',').collect();
        let [registry, username, password] = parts[..] else {
            errors.push(ValidationError::new(
                format!("csv.{n}"),
                format!("line {n}: write registry,username,password"),
            ));
            continue;
        };
        let draft = CredentialDraft {
            registry: registry.into(),
            username: username.into(),
            password: password.into(),
        };
        match draft.validate_as(&format!("csv.{n}.")) {
            Ok(c) if out.iter().any(|o| o.registry == c.registry) => {
                errors.push(ValidationError::new(
                    format!("csv.{n}.registry"),
                    format!("line {n}: {} is given twice", c.registry),
                ))
            }
            Ok(c) => out.push(c),
            Err(mut e) => {
                for v in &mut e {
                    v.message = format!("line {n}: {}", v.message);
                }
                errors.append(&mut e);
            }
        }
    }
    if out.len() > MAX_CREDENTIALS {
        errors.push(ValidationError::new(
            "csv",
            format!("A cluster keeps at most {MAX_CREDENTIALS} credentials"),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What a `docker login` on one node said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Not checked yet (the check runs).
    Pending,
    Valid,
    /// The registry refused the login, or could not be reached from the node.
    Invalid,
}

impl CheckStatus {
    pub const ALL: [CheckStatus; 3] = [
        CheckStatus::Pending,
        CheckStatus::Valid,
        CheckStatus::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pending => "pending",
            CheckStatus::Valid => "valid",
            CheckStatus::Invalid => "invalid",
        }
    }

    pub fn parse(text: &str) -> Option<CheckStatus> {
        CheckStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCheck {
    pub node: String,
    pub status: CheckStatus,
    /// The registry's (or the engine's) words when it failed.
    pub message: String,
}

/// A saved credential as the panel shows it: that it exists and for whom, never its password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    pub id: String,
    pub registry: String,
    pub username: String,
    pub updated_at_ms: i64,
    pub checks: Vec<NodeCheck>,
}

/// The export: `registry,username` per line, without passwords.
pub fn export_csv(list: &[CredentialView]) -> String {
    let mut out = String::from("registry,username\n");
    for c in list {
        out.push_str(&format!("{},{}\n", c.registry, c.username));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_host_and_port() {
        assert_eq!(
            parse_registry("Registry.Lab:5000"),
            Ok("registry.lab:5000".into())
        );
        assert_eq!(
            parse_registry("https://10.77.0.1:5000/"),
            Ok("10.77.0.1:5000".into())
        );
        assert!(parse_registry("http://x").is_err());
        assert!(parse_registry("x/y").is_err());
        assert!(parse_registry("x:99999").is_err());
        assert!(parse_registry("").is_err());
    }

    #[test]
    fn drafts_name_their_fields_and_hide_the_password() {
        let c = CredentialDraft {
            registry: "r.lab:5000".into(),
            username: "ci".into(),
            password: "s3cret".into(),
        }
        .validate()
        .expect("valid");
        assert!(!format!("{c:?}").contains("s3cret"));
        let bad = CredentialDraft::default()
            .validate()
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["registry", "username", "password"]);
    }

    #[test]
    fn csv_imports_all_or_nothing_with_lines() {
        let ok = parse_csv(
            "registry,username,password\nr1.lab,ci,p1\n\nr2.lab:5000,bot,p,with,commas\n",
        )
        .expect("parses");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].password, "p,with,commas");
        let bad = parse_csv("r1.lab,ci,p1\nr1.lab,ci,p2\nnope\nhttp://x,a,b\n")
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["csv.2.registry", "csv.3", "csv.4.registry"]);
        assert!(bad[0].message.starts_with("line 2:"));
        let export = export_csv(&[CredentialView {
            id: "1".into(),
            registry: "r1.lab".into(),
            username: "ci".into(),
            updated_at_ms: 0,
            checks: vec![],
        }]);
        assert_eq!(export, "registry,username\nr1.lab,ci\n");
    }
}

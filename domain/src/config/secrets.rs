//! A cluster's Global Secrets: named values (typed, or a file's content) that the cluster's
//! workloads receive as Swarm secrets. Each change of a value is a new version, delivered as a
//! new Swarm secret `name_vN` (Swarm secrets cannot change), so services move to it by a rolling
//! update and the old object goes once no service uses it. Names, values and the `.txt` import
//! (`NAME=value` lines) are checked here, in the browser and on the server alike.
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Largest value (a file's content included); Swarm's own limit is 500 KB.
pub const MAX_VALUE_BYTES: usize = 500 * 1024;
/// Most secrets per cluster.
pub const MAX_SECRETS: usize = 200;
/// Longest name (the Swarm object adds `_v` and the version).
pub const MAX_NAME: usize = 48;

/// Letters, digits, `_`, `-` and `.`, starting with a letter or a digit.
pub fn validate_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ValidationError::new(
            "name",
            format!(
                "A name is letters, digits, _ - and . (starting with a letter or digit), at most {MAX_NAME} characters"
            ),
        ))
    }
}

/// Not empty, at most [`MAX_VALUE_BYTES`].
pub fn validate_value(value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new("value", "Give the secret a value"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(ValidationError::new(
            "value",
            format!(
                "The value is {} KiB; at most {} KiB",
                value.len().div_ceil(1024),
                MAX_VALUE_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// The add/edit form as typed (on edit the name is the existing one and cannot change).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretDraft {
    pub name: String,
    pub value: String,
}

/// A checked secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecret {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SecretDraft {
    /// Fields: `name`, `value`.
    pub fn validate(&self) -> Result<NewSecret, Vec<ValidationError>> {
        let name = validate_name(&self.name);
        let value = validate_value(&self.value);
        match (name, value) {
            (Ok(name), Ok(())) => Ok(NewSecret {
                name,
                value: self.value.clone(),
            }),
            (name, value) => Err(name.err().into_iter().chain(value.err()).collect()),
        }
    }
}

/// The Swarm secret that carries version `version` of `name`.
pub fn object_name(name: &str, version: u64) -> String {
    format!("{name}_v{version}")
}

/// `name_vN` back into its name and version.
pub fn parse_object_name(object: &str) -> Option<(&str, u64)> {
    let (name, version) = object.rsplit_once("_v")?;
    let version = version.parse().ok()?;
    validate_name(name).ok()?;
    Some((name, version))
}

/// A `.txt` of `NAME=value` lines (blank lines and `#` comments skipped; a value in double
/// quotes is read with JSON escapes, so it may hold line breaks). All or nothing: any bad line
/// is named (field `file`) and nothing is taken.
pub fn parse_txt(text: &str) -> Result<Vec<NewSecret>, Vec<ValidationError>> {
    let mut found: Vec<NewSecret> = vec![];
    let mut errors = vec![];
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let bad = |m: String| ValidationError::new("file", format!("Line {n}: {m}"));
        let Some((name, raw)) = line.split_once('=') else {
            errors.push(bad("expected NAME=value".into()));
            continue;
        };
        let name = match validate_name(name) {
            Ok(name) => name,
            Err(e) => {
                errors.push(bad(e.message));
                continue;
            }
        };
        let value = if raw.starts_with('"') {
            match serde_json::from_str::<String>(raw.trim_end()) {
                Ok(v) => v,
                Err(_) => {
                    errors.push(bad(format!(
                        "the quoted value of {name} does not end with a closing \" (or has a bad \\ escape)"
                    )));
                    continue;
                }
            }
        } else {
            raw.to_owned()
        };
        if let Err(e) = validate_value(&value) {
            errors.push(bad(format!("{name}: {}", e.message)));
            continue;
        }
        if found.iter().any(|s| s.name == name) {
            errors.push(bad(format!("{name} is in the file twice")));
            continue;
        }
        found.push(NewSecret { name, value });
    }
    if found.is_empty() && errors.is_empty() {
        errors.push(ValidationError::new(
            "file",
            "The file holds no NAME=value line",
        ));
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// `NAME=value` lines that [`parse_txt`] reads back: values with line breaks, quotes or
/// surrounding spaces are written in double quotes with JSON escapes.
pub fn export_txt<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in secrets {
        let plain = !value.starts_with('"')
            && value.trim() == value
            && !value.chars().any(char::is_control);
        if plain {
            out.push_str(&format!("{name}={value}\n"));
        } else {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            out.push_str(&format!("{name}={quoted}\n"));
        }
    }
    out
}

/// A secret as lists show it: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretView {
    pub name: String,
    pub version: u64,
    pub size_bytes: u64,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert_eq!(
            validate_name(" DB_PASSWORD ").ok(),
            Some("DB_PASSWORD".into())
        );
        assert!(validate_name("tls.key").is_ok());
        for bad in ["", "_x", "a b", "ä", "a/b", &"x".repeat(MAX_NAME + 1)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_value("").is_err());
        assert!(validate_value(&"x".repeat(MAX_VALUE_BYTES)).is_ok());
        let big = validate_value(&"x".repeat(MAX_VALUE_BYTES + 1)).expect_err("too big");
        assert!(big.message.contains("at most 500 KiB"), "{}", big.message);
        let both = SecretDraft::default().validate().expect_err("empty");
        let fields: Vec<&str> = both.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "value"]);
        assert_eq!(
            format!(
                "{:?}",
                SecretDraft {
                    name: "a".into(),
                    value: "hunter2".into()
                }
                .validate()
            ),
            "Ok(NewSecret { name: \"a\", .. })"
        );
    }

    #[test]
    fn object_names_carry_the_version() {
        assert_eq!(object_name("db_pass", 3), "db_pass_v3");
        assert_eq!(parse_object_name("db_pass_v3"), Some(("db_pass", 3)));
        assert_eq!(parse_object_name("db_pass_v"), None);
        assert_eq!(parse_object_name("shop_db"), None);
    }

    #[test]
    fn txt_import_is_all_or_nothing_and_names_the_line() {
        let ok = parse_txt("# comment\nA=1\n\nB=two words = fine\r\nC=\"line1\\nline2\"\n")
            .expect("valid");
        let pairs: Vec<(&str, &str)> = ok
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("A", "1"), ("B", "two words = fine"), ("C", "line1\nline2")]
        );
        let errors =
            parse_txt("A=1\nnot a line\nbad name=2\nA=3\nD=\nE=\"open\n").expect_err("bad lines");
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].starts_with("Line 2: expected NAME=value"));
        assert!(messages[1].starts_with("Line 3: A name is"));
        assert!(messages[2].starts_with("Line 4: A is in the file twice"));
        assert!(messages[3].starts_with("Line 5: D: Give the secret a value"));
        assert!(messages[4].starts_with("Line 6: the quoted value of E"));
        assert!(errors.iter().all(|e| e.field == "file"));
        assert!(parse_txt("\n# only comments\n").is_err());
    }

    #[test]
    fn export_reads_back() {
        let list = [
            ("A", "plain"),
            ("B", "two\nlines"),
            ("C", " padded "),
            ("D", "\"quoted\""),
        ];
        let text = export_txt(list);
        assert!(text.starts_with("A=plain\nB=\"two\\nlines\"\n"), "{text}");
        let back = parse_txt(&text).expect("reads back");
        let pairs: Vec<(&str, &str)> = back
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(pairs, list);
    }
}

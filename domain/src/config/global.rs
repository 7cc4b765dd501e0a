//! The Global Config of a cluster: one JSON object, versioned on the panel (every save is a new
//! version that can be restored), written by each member node's agent into the node's
//! `flotilla-appconfig` Docker volume and seen by the cluster's containers at
//! `/appconfig/global.json`. Validation, formatting and the change list between two versions
//! live here, so the editor checks inline what the server checks again.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationError;

/// Largest document (it travels in one agent frame).
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;
/// Most named saves per cluster.
pub const MAX_SAVED: usize = 50;
const MAX_NAME: usize = 64;
/// Most changes listed between two versions; the rest are counted.
pub const MAX_CHANGES: usize = 50;
const MAX_VALUE_CHARS: usize = 80;
/// The document of a cluster that has none (never saved, or reset).
pub const EMPTY: &str = "{}";
/// The node-local Docker volume that holds the file (a volume lives in each engine's own data
/// root, so every node keeps its own copy and version).
pub const VOLUME: &str = "flotilla-appconfig";
/// Where containers see the volume (read-only) and the file in it.
pub const MOUNT_TARGET: &str = "/appconfig";
pub const FILE_NAME: &str = "global.json";

/// Where a document is not valid JSON (1-based line and column, as editors count).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonProblem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Checks a document: valid JSON, one object, within the size limit.
pub fn check(text: &str) -> Result<Value, JsonProblem> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(JsonProblem {
            line: 1,
            column: 1,
            message: format!(
                "the document is {} KiB; at most {} KiB",
                text.len().div_ceil(1024),
                MAX_DOCUMENT_BYTES / 1024
            ),
        });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => {
            let (line, column) = first_token(text);
            Err(JsonProblem {
                line,
                column,
                message: "the global config is one JSON object: { … }".into(),
            })
        }
        Err(e) => {
            let full = e.to_string();
            let message = match full.rfind(" at line ") {
                Some(at) => full[..at].to_owned(),
                None => full,
            };
            Err(JsonProblem {
                line: e.line().max(1),
                column: e.column().max(1),
                message,
            })
        }
    }
}

/// [`check`] as a form's field error (`document`).
pub fn validate(text: &str) -> Result<String, ValidationError> {
    check(text)
        .map(|_| text.to_owned())
        .map_err(|p| ValidationError::new("document", p.to_string()))
}

fn first_token(text: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars() {
        match c {
            '\n' => {
                line += 1;
                column = 1;
            }
            c if c.is_whitespace() => column += 1,
            _ => break,
        }
    }
    (line, column)
}

/// The document indented by two spaces, keys in the order written and numbers as written.
pub fn format(text: &str) -> Result<String, JsonProblem> {
    check(text)?;
    Ok(reflow(text, true))
}

/// The document without any whitespace outside strings.
pub fn compact(text: &str) -> Result<String, JsonProblem> {
    check(text)?;
    Ok(reflow(text, false))
}

/// Re-lays out valid JSON token by token (so nothing is reordered or reformatted).
fn reflow(text: &str, pretty: bool) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            c if c.is_whitespace() => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|n| *n == '}' || *n == ']') {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    if pretty {
                        newline(&mut out, depth);
                    }
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if pretty {
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                if pretty {
                    newline(&mut out, depth);
                }
            }
            ':' => out.push_str(if pretty { ": " } else { ":" }),
            c => out.push(c),
        }
    }
    if pretty {
        out.push('\n');
    }
    out
}

/// A name given to a saved document.
pub fn validate_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            format!("Give the saved config a name (at most {MAX_NAME} characters)"),
        ));
    }
    Ok(name.to_owned())
}

/// One difference between two versions, at a JSON pointer (`/a/b/0`; empty for the whole
/// document). Values are shown compact and shortened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        value: String,
    },
    Removed {
        path: String,
        value: String,
    },
    Changed {
        path: String,
        from: String,
        to: String,
    },
}

/// What changed from `old` to `new` (at most [`MAX_CHANGES`], then how many more).
pub fn changes(old: &str, new: &str) -> (Vec<Change>, usize) {
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    let mut all = vec![];
    walk("", &parse(old), &parse(new), &mut all);
    let more = all.len().saturating_sub(MAX_CHANGES);
    all.truncate(MAX_CHANGES);
    (all, more)
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}/{}", pointer_escape(key));
                match b.get(key) {
                    Some(other) => walk(&here, value, other, out),
                    None => out.push(Change::Removed {
                        path: here,
                        value: shown(value),
                    }),
                }
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(Change::Added {
                    path: format!("{path}/{}", pointer_escape(key)),
                    value: shown(value),
                });
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}/{i}"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Change::Changed {
            path: path.to_owned(),
            from: shown(a),
            to: shown(b),
        }),
    }
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
    format!("{cut}…")
}

/// Where one member node stands with the cluster's current version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// The node holds the current version.
    Synced,
    /// The node holds an older version (or none) and gets the current one when it can.
    Pending,
    /// The node's agent could not write the current version.
    Error { message: String },
}

/// The version a node's agent says it holds: the cluster's id and its version number (a node
/// that moved to another cluster holds the old cluster's document until it gets the new one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldConfig {
    pub cluster_id: String,
    pub version: u64,
}

/// A node's state from the version it holds and the last failure its agent reported
/// (`failed`: the version it could not write, with the agent's words).
pub fn sync_state(
    cluster_id: &str,
    current: u64,
    held: Option<&HeldConfig>,
    failed: Option<(u64, &str)>,
) -> SyncState {
    let holds = match held {
        Some(h) => h.cluster_id == cluster_id && h.version == current,
        // Nothing written yet is the empty document, which a cluster without a saved
        // version has too.
        None => current == 0,
    };
    match failed {
        _ if holds => SyncState::Synced,
        Some((version, message)) if version == current => SyncState::Error {
            message: message.to_owned(),
        },
        _ => SyncState::Pending,
    }
}

/// One member node in the Global Config card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSync {
    pub node_id: String,
    pub hostname: String,
    pub online: bool,
    /// The version of this cluster the node holds, if any.
    pub version: Option<u64>,
    pub state: SyncState,
}

/// A cluster's Global Config as the card shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalConfigView {
    /// 0 until the first save.
    pub version: u64,
    pub document: String,
    pub updated_by: String,
    pub updated_at_ms: i64,
    pub nodes: Vec<NodeSync>,
    /// Names of the saved documents, newest first.
    pub saved: Vec<String>,
}

/// One version in the history, with what changed from the one before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    pub version: u64,
    pub saved_by: String,
    pub saved_at_ms: i64,
    /// How it came: "edited", "uploaded", "reset", "restored v3", "loaded “name”".
    pub origin: String,
    pub changes: Vec<Change>,
    pub more_changes: usize,
}

/// What a save of the Global Config says about where the document came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    Edited,
    Uploaded,
    Reset,
    Restored { version: u64 },
    Loaded { name: String },
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Edited => "edited".into(),
            Origin::Uploaded => "uploaded".into(),
            Origin::Reset => "reset to empty".into(),
            Origin::Restored { version } => format!("restored v{version}"),
            Origin::Loaded { name } => format!("loaded “{name}”"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_line_and_column() {
        let p = check("{\n  \"a\": 1,\n  \"b\": x\n}").expect_err("invalid");
        assert_eq!((p.line, p.column), (3, 8));
        assert!(p.message.starts_with("expected value"), "{p}");
        assert!(!p.message.contains("at line"), "{p}");
        let p = check("{\"a\": 1,}").expect_err("trailing comma");
        assert_eq!(p.line, 1);
        let p = check("\n  [1, 2]").expect_err("not an object");
        assert_eq!((p.line, p.column), (2, 3));
        assert!(p.message.contains("one JSON object"));
        let p = check("").expect_err("empty");
        assert_eq!(p.line, 1);
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(
            check(&big)
                .expect_err("too big")
                .message
                .contains("at most 128 KiB")
        );
        assert!(check(EMPTY).is_ok());
        assert_eq!(
            validate("[]").expect_err("field").field,
            "document".to_string()
        );
    }

    #[test]
    fn format_keeps_order_and_strings() {
        let text = r#"{"z":1,"a":{"list":[1,2.50,{}],"s":"a, b: {c} \"q\" \\"},"e":[]}"#;
        let pretty = format(text).expect("valid");
        assert_eq!(
            pretty,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"list\": [\n      1,\n      2.50,\n      {}\n    ],\n    \"s\": \"a, b: {c} \\\"q\\\" \\\\\"\n  },\n  \"e\": []\n}\n"
        );
        assert_eq!(compact(&pretty).expect("valid"), text);
        assert_eq!(
            serde_json::from_str::<Value>(&pretty).ok(),
            serde_json::from_str::<Value>(text).ok()
        );
        assert!(format("{").is_err());
    }

    #[test]
    fn changes_are_listed_by_pointer() {
        let old = r#"{"a":1,"b":{"c":[1,2],"d":"x"},"gone":true,"a/b":0}"#;
        let new = r#"{"a":2,"b":{"c":[1,3],"d":"x"},"new":{"k":null},"a/b":0}"#;
        let (list, more) = changes(old, new);
        assert_eq!(more, 0);
        assert_eq!(
            list,
            vec![
                Change::Changed {
                    path: "/a".into(),
                    from: "1".into(),
                    to: "2".into()
                },
                Change::Changed {
                    path: "/b/c/1".into(),
                    from: "2".into(),
                    to: "3".into()
                },
                Change::Removed {
                    path: "/gone".into(),
                    value: "true".into()
                },
                Change::Added {
                    path: "/new".into(),
                    value: r#"{"k":null}"#.into()
                },
            ]
        );
        let (list, _) = changes(EMPTY, r#"{"x/y":"a"}"#);
        assert_eq!(
            list,
            vec![Change::Added {
                path: "/x~1y".into(),
                value: "\"a\"".into()
            }]
        );
        let many: String = format!(
            "{{{}}}",
            (0..60)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let (list, more) = changes(EMPTY, &many);
        assert_eq!((list.len(), more), (MAX_CHANGES, 10));
        let (list, _) = changes(
            r#"{"a":[1]}"#,
            &format!("{{\"a\":\"{}\"}}", "y".repeat(200)),
        );
        assert!(
            matches!(&list[0], Change::Changed { to, .. } if to.chars().count() == MAX_VALUE_CHARS)
        );
    }

    #[test]
    fn node_states() {
        let held = |c: &str, v| HeldConfig {
            cluster_id: c.into(),
            version: v,
        };
        assert_eq!(sync_state("c", 0, None, None), SyncState::Synced);
        assert_eq!(sync_state("c", 3, None, None), SyncState::Pending);
        assert_eq!(
            sync_state("c", 3, Some(&held("c", 3)), Some((3, "disk full"))),
            SyncState::Synced
        );
        assert_eq!(
            sync_state("c", 3, Some(&held("c", 2)), Some((3, "disk full"))),
            SyncState::Error {
                message: "disk full".into()
            }
        );
        assert_eq!(
            sync_state("c", 4, Some(&held("c", 2)), Some((3, "disk full"))),
            SyncState::Pending
        );
        // The same number in another cluster is not this cluster's version.
        assert_eq!(
            sync_state("c", 2, Some(&held("other", 2)), None),
            SyncState::Pending
        );
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("  prod  ").ok(), Some("prod".into()));
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_name("a\nb").is_err());
    }
}

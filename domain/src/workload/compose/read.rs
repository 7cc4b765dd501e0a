//! Typed reading of YAML nodes for the compose parser. Every problem is collected with its line
//! (so one pass reports all of them) and the caller gets `None` for the part that failed.
use crate::workload::units;
use crate::workload::yaml::{Node, Value, YamlError};

/// Keys Compose knows but Swarm does not honour, with why.
const NOT_SWARM: &[&str] = &[
    "build",
    "container_name",
    "depends_on",
    "links",
    "external_links",
    "network_mode",
    "restart",
    "devices",
    "privileged",
    "security_opt",
    "userns_mode",
    "cgroup_parent",
    "pid",
    "ipc",
    "profiles",
    "extends",
    "env_file",
    "scale",
    "mem_limit",
    "memswap_limit",
    "cpus",
    "cpu_shares",
    "cpu_quota",
    "cpuset",
];

/// Compose keys Swarm honours that Flotilla does not take yet.
const NOT_YET: &[&str] = &[
    "working_dir",
    "user",
    "hostname",
    "stop_grace_period",
    "stop_signal",
    "init",
    "tty",
    "stdin_open",
    "dns",
    "dns_search",
    "extra_hosts",
    "cap_add",
    "cap_drop",
    "sysctls",
    "ulimits",
    "tmpfs",
    "logging",
    "isolation",
    "read_only",
    "domainname",
    "expose",
    "credential_spec",
];

pub struct Cx {
    pub errors: Vec<YamlError>,
}

impl Cx {
    pub fn fail<T>(&mut self, node: &Node, message: impl Into<String>) -> Option<T> {
        self.errors.push(node.error(message));
        None
    }

    /// The entries of a mapping whose keys are all in `known`; any other key is an error that
    /// names it (extension keys `x-…` are skipped, as Compose does).
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Some(vec![]),
            _ => {
                return self.fail(
                    node,
                    format!("{what} must be a mapping, not {}", node.kind()),
                );
            }
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.scalar() else { continue };
            if key.starts_with("x-") {
                continue;
            }
            if known.contains(&key) {
                out.push((key, v));
            } else if NOT_SWARM.contains(&key) {
                self.fail::<()>(k, format!("`{key}` is not supported by Swarm"));
            } else if NOT_YET.contains(&key) {
                self.fail::<()>(k, format!("`{key}` is not supported by Flotilla yet"));
            } else {
                self.fail::<()>(k, format!("`{key}` is not a key of {what}"));
            }
        }
        Some(out)
    }

    /// The entries of a mapping of names (services, networks…).
    pub fn named<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(&'n Node, &'n Node)> {
        match &node.value {
            Value::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
            Value::Null => vec![],
            _ => {
                self.fail::<()>(
                    node,
                    format!("{what} must be a mapping, not {}", node.kind()),
                );
                vec![]
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            Value::Null => Some(&[]),
            _ => self.fail(node, format!("{what} must be a list, not {}", node.kind())),
        }
    }

    /// A scalar as text (numbers and booleans as written).
    pub fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => self.fail(node, format!("{what} must be a value, not {}", node.kind())),
        }
    }

    /// A non-empty text of at most `max` bytes.
    pub fn name(&mut self, node: &Node, what: &str, max: usize) -> Option<String> {
        let text = self.text(node, what)?;
        if text.trim().is_empty() {
            return self.fail(node, format!("{what} must not be empty"));
        }
        if text.len() > max {
            return self.fail(node, format!("{what} is longer than {max} characters"));
        }
        Some(text)
    }

    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.text(node, what)?;
        text.trim()
            .parse()
            .ok()
            .or_else(|| self.fail(node, format!("{what} must be a whole number, not {text:?}")))
    }

    pub fn port(&mut self, node: &Node, what: &str) -> Option<u16> {
        let n = self.uint(node, what)?;
        match u16::try_from(n) {
            Ok(p) if p > 0 => Some(p),
            _ => self.fail(node, format!("{what} must be a port between 1 and 65535")),
        }
    }

    pub fn flag(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Scalar {
                text,
                quoted: false,
            } if matches!(text.as_str(), "true" | "True" | "TRUE") => Some(true),
            Value::Scalar {
                text,
                quoted: false,
            } if matches!(text.as_str(), "false" | "False" | "FALSE") => Some(false),
            _ => self.fail(node, format!("{what} must be true or false")),
        }
    }

    pub fn duration(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.text(node, what)?;
        match units::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => self.fail(node, format!("{what}: {e}")),
        }
    }

    pub fn bytes(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.text(node, what)?;
        match units::parse_bytes(&text) {
            Ok(b) => Some(b),
            Err(e) => self.fail(node, format!("{what}: {e}")),
        }
    }

    pub fn cpus(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.text(node, what)?;
        match units::parse_cpus(&text) {
            Ok(c) => Some(c),
            Err(e) => self.fail(node, format!("{what}: {e}")),
        }
    }

    /// A command: a list of words, or one string split as a shell would.
    pub fn words(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Scalar { text, .. } => match split_words(text) {
                Ok(words) => Some(words),
                Err(e) => self.fail(node, format!("{what}: {e}")),
            },
            Value::Seq(items) => items.iter().map(|i| self.text(i, what)).collect(),
            _ => self.fail(node, format!("{what} must be a string or a list")),
        }
    }

    /// `KEY=VALUE` pairs from a list or a mapping (environment, labels); a key without a value
    /// is an error, since the panel has no shell environment to take it from.
    pub fn pairs(&mut self, node: &Node, what: &str) -> Option<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        match &node.value {
            Value::Null => {}
            Value::Map(entries) => {
                for (k, v) in entries {
                    let key = self.text(k, what)?;
                    let value = match &v.value {
                        Value::Null => {
                            return self.fail(
                                k,
                                format!("{what} `{key}` needs a value (the panel has no shell to take it from)"),
                            );
                        }
                        _ => self.text(v, what)?,
                    };
                    out.push((key, value));
                }
            }
            Value::Seq(items) => {
                for item in items {
                    let text = self.text(item, what)?;
                    let Some((key, value)) = text.split_once('=') else {
                        return self.fail(
                            item,
                            format!("{what} `{text}` needs a value (write {text}=…)"),
                        );
                    };
                    out.push((key.to_owned(), value.to_owned()));
                }
            }
            _ => return self.fail(node, format!("{what} must be a list or a mapping")),
        }
        for (i, (key, _)) in out.iter().enumerate() {
            if key.is_empty() || key.contains(char::is_whitespace) {
                return self.fail(node, format!("{what}: {key:?} is not a valid name"));
            }
            if out[..i].iter().any(|(k, _)| k == key) {
                return self.fail(node, format!("{what} `{key}` is set twice"));
            }
        }
        Some(out)
    }
}

/// Splits a command line into words: whitespace separates, single and double quotes group,
/// a backslash escapes the next character outside single quotes.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_words(r#"sh -c 'echo "hi there"' x\ y "a\"b""#),
            Ok(vec![
                "sh".to_string(),
                "-c".into(),
                "echo \"hi there\"".into(),
                "x y".into(),
                "a\"b".into()
            ])
        );
        assert!(split_words("echo 'open").is_err());
        assert_eq!(split_words("  "), Ok(vec![]));
    }
}

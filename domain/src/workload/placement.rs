//! Placement: Swarm constraints (`node.labels.zone == a`), spread preferences and the check of
//! which of a cluster's nodes a service may run on. One parser serves the compose file, the
//! wizard's builder and its free-text field, in the browser and on the server.
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::swarm::SwarmRole;

/// The most constraints or preferences one service may carry.
pub const MAX_CONSTRAINTS: usize = 32;

/// What a constraint looks at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "key", rename_all = "snake_case")]
pub enum Attribute {
    NodeId,
    Hostname,
    Role,
    PlatformOs,
    PlatformArch,
    NodeLabel(String),
    EngineLabel(String),
}

impl Attribute {
    fn parse(text: &str) -> Option<Attribute> {
        let lower = text.to_ascii_lowercase();
        let label = |prefix: &str| {
            lower
                .starts_with(prefix)
                .then(|| text[prefix.len()..].to_owned())
                .filter(|k| valid_label_key(k))
        };
        Some(match lower.as_str() {
            "node.id" => Attribute::NodeId,
            "node.hostname" => Attribute::Hostname,
            "node.role" => Attribute::Role,
            "node.platform.os" => Attribute::PlatformOs,
            "node.platform.arch" => Attribute::PlatformArch,
            _ => {
                if let Some(k) = label("node.labels.") {
                    Attribute::NodeLabel(k)
                } else {
                    Attribute::EngineLabel(label("engine.labels.")?)
                }
            }
        })
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::NodeId => f.write_str("node.id"),
            Attribute::Hostname => f.write_str("node.hostname"),
            Attribute::Role => f.write_str("node.role"),
            Attribute::PlatformOs => f.write_str("node.platform.os"),
            Attribute::PlatformArch => f.write_str("node.platform.arch"),
            Attribute::NodeLabel(k) => write!(f, "node.labels.{k}"),
            Attribute::EngineLabel(k) => write!(f, "engine.labels.{k}"),
        }
    }
}

fn valid_label_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = "==")]
    Equals,
    #[serde(rename = "!=")]
    Differs,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::Differs => "!=",
        }
    }
}

/// One constraint; several on a service must all hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    pub attribute: Attribute,
    pub operator: Operator,
    pub value: String,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.attribute,
            self.operator.as_str(),
            self.value
        )
    }
}

impl Constraint {
    /// Parses `attribute == value` or `attribute != value`, as Swarm does.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let text = text.trim();
        let (at, operator, len) = match (text.find("=="), text.find("!=")) {
            (Some(i), Some(j)) if j < i => (j, Operator::Differs, 2),
            (Some(i), _) => (i, Operator::Equals, 2),
            (None, Some(j)) => (j, Operator::Differs, 2),
            (None, None) => {
                return Err(format!(
                    "{text:?} needs == or != (e.g. node.labels.zone == hall-1)"
                ));
            }
        };
        let (name, value) = (text[..at].trim(), text[at + len..].trim());
        let attribute = Attribute::parse(name).ok_or_else(|| {
            format!(
                "{name:?} is not something Swarm can place by: use node.id, node.hostname, node.role, \
                 node.platform.os, node.platform.arch, node.labels.<key> or engine.labels.<key>"
            )
        })?;
        if value.is_empty() {
            return Err(format!(
                "{text:?} needs a value after {}",
                operator.as_str()
            ));
        }
        if value.len() > 255 || value.contains(['=', '!']) || value.chars().any(char::is_control) {
            return Err(format!("{value:?} is not a valid value for a constraint"));
        }
        if attribute == Attribute::Role && SwarmRole::parse(&value.to_ascii_lowercase()).is_none() {
            return Err(format!("node.role is manager or worker, not {value:?}"));
        }
        Ok(Constraint {
            attribute,
            operator,
            value: value.to_owned(),
        })
    }

    /// Whether `node` satisfies this constraint (Swarm compares values without regard to case).
    pub fn holds_on(&self, node: &PlacementNode) -> bool {
        let actual = match &self.attribute {
            Attribute::NodeId => Some(node.id.as_str()),
            Attribute::Hostname => Some(node.hostname.as_str()),
            Attribute::Role => Some(node.role.as_str()),
            Attribute::PlatformOs => Some(node.os.as_str()),
            Attribute::PlatformArch => Some(node.arch.as_str()),
            Attribute::NodeLabel(k) => label(&node.labels, k),
            Attribute::EngineLabel(k) => label(&node.engine_labels, k),
        };
        let equal = actual.is_some_and(|a| a.eq_ignore_ascii_case(&self.value));
        match self.operator {
            Operator::Equals => equal,
            Operator::Differs => !equal,
        }
    }
}

fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A spread preference: tasks are spread evenly over the values of a label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Spread(pub Attribute);

impl Spread {
    /// Parses `spread=node.labels.zone` (or just the label descriptor).
    pub fn parse(text: &str) -> Result<Spread, String> {
        let text = text.trim();
        let descriptor = text.strip_prefix("spread=").unwrap_or(text).trim();
        match Attribute::parse(descriptor) {
            Some(a @ (Attribute::NodeLabel(_) | Attribute::EngineLabel(_))) => Ok(Spread(a)),
            _ => Err(format!(
                "{text:?} is not a spread preference (write spread=node.labels.<key>)"
            )),
        }
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spread={}", self.0)
    }
}

/// A node as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementNode {
    pub id: String,
    pub hostname: String,
    pub role: SwarmRole,
    pub os: String,
    pub arch: String,
    pub labels: Vec<(String, String)>,
    pub engine_labels: Vec<(String, String)>,
}

/// Parses constraints written one per line (blank lines skipped); errors name the line.
pub fn parse_constraints(text: &str) -> Result<Vec<Constraint>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    if lines.len() > MAX_CONSTRAINTS {
        return Err(format!("at most {MAX_CONSTRAINTS} constraints"));
    }
    lines
        .into_iter()
        .map(|(i, l)| Constraint::parse(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// The nodes on which every constraint holds.
pub fn eligible<'a>(
    constraints: &[Constraint],
    nodes: &'a [PlacementNode],
) -> Vec<&'a PlacementNode> {
    nodes
        .iter()
        .filter(|n| constraints.iter().all(|c| c.holds_on(n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, role: SwarmRole, labels: &[(&str, &str)]) -> PlacementNode {
        PlacementNode {
            id: format!("id-{host}"),
            hostname: host.into(),
            role,
            os: "linux".into(),
            arch: "x86_64".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            engine_labels: vec![],
        }
    }

    #[test]
    fn constraints_parse_and_print_back() {
        let c = Constraint::parse("  node.labels.zone==hall-1 ").expect("parses");
        assert_eq!(c.attribute, Attribute::NodeLabel("zone".into()));
        assert_eq!(c.operator, Operator::Equals);
        assert_eq!(c.to_string(), "node.labels.zone == hall-1");
        let r = Constraint::parse("node.role != manager").expect("parses");
        assert_eq!(r.operator, Operator::Differs);
        assert_eq!(
            Constraint::parse("Node.Hostname == edge-1")
                .expect("parses")
                .attribute,
            Attribute::Hostname
        );
    }

    #[test]
    fn bad_constraints_say_why() {
        for (text, says) in [
            ("node.labels.zone", "needs == or !="),
            ("node.colour == red", "not something Swarm can place by"),
            ("node.labels. == x", "not something"),
            ("node.labels.zone ==", "needs a value"),
            ("node.role == boss", "manager or worker"),
            ("node.labels.a == b == c", "not a valid value"),
        ] {
            let e = Constraint::parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        let e = parse_constraints("node.role == worker\n\nnode.x == 1").expect_err("line 3");
        assert!(e.starts_with("line 3:"), "{e}");
    }

    #[test]
    fn eligibility_follows_swarm() {
        let nodes = [
            node("edge-1", SwarmRole::Manager, &[("zone", "a")]),
            node("edge-2", SwarmRole::Worker, &[("zone", "B")]),
            node("edge-3", SwarmRole::Worker, &[]),
        ];
        let hosts = |text: &str| {
            let cs = parse_constraints(text).expect("parses");
            eligible(&cs, &nodes)
                .iter()
                .map(|n| n.hostname.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(hosts("node.labels.zone == b"), ["edge-2"]);
        assert_eq!(hosts("node.labels.zone != a"), ["edge-2", "edge-3"]);
        assert_eq!(
            hosts("node.role == worker\nnode.labels.zone == b"),
            ["edge-2"]
        );
        assert_eq!(hosts("node.labels.zone == c"), Vec::<String>::new());
        assert_eq!(hosts(""), ["edge-1", "edge-2", "edge-3"]);
    }

    #[test]
    fn spread_preferences() {
        assert_eq!(
            Spread::parse("spread=node.labels.rack")
                .expect("parses")
                .to_string(),
            "spread=node.labels.rack"
        );
        assert!(Spread::parse("spread=rack").is_err());
        assert!(Spread::parse("spread=node.role").is_err());
    }
}

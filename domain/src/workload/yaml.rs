//! A YAML document as a tree whose every node knows its line, so that the compose parser can say
//! where a problem is. Anchors, aliases and merge keys (`<<: *defaults`) are resolved here, within
//! a budget of nodes, so that an alias bomb is refused instead of filling memory.
use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The most nodes a document may expand to (aliases count every time they are used).
pub const MAX_NODES: usize = 50_000;
/// The deepest nesting a document may have.
pub const MAX_DEPTH: usize = 64;

/// A problem in the text, with the 1-based line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A scalar and whether it was quoted (a quoted `"true"` is text, not a boolean).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order; keys are scalars (anything else is refused when parsing).
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn error(&self, message: impl Into<String>) -> YamlError {
        YamlError {
            line: self.line,
            message: message.into(),
        }
    }

    /// The text of a scalar key or value.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// What kind of node this is, for messages ("expected a list, found a mapping").
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Scalar { .. } => "a value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document. An empty text is `Null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        budget: MAX_NODES,
    };
    builder.document()
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Node>,
    budget: usize,
}

fn at(mark: Marker, message: impl Into<String>) -> YamlError {
    YamlError {
        line: mark.line().max(1),
        message: message.into(),
    }
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(Event, Marker), YamlError> {
        self.parser
            .next_token()
            .map_err(|e| at(*e.marker(), e.info().to_owned()))
    }

    fn spend(&mut self, n: usize, mark: Marker) -> Result<(), YamlError> {
        self.budget = self.budget.checked_sub(n).ok_or_else(|| {
            at(
                mark,
                format!("the document expands to more than {MAX_NODES} values"),
            )
        })?;
        Ok(())
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (event, mark) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart if root.is_some() => {
                    return Err(at(mark, "only one YAML document is allowed"));
                }
                Event::DocumentStart => {
                    let (event, mark) = self.next()?;
                    root = Some(self.node(event, mark, 0)?);
                }
                _ => return Err(at(mark, "unexpected content")),
            }
        }
        Ok(root.unwrap_or(Node {
            line: 1,
            value: Value::Null,
        }))
    }

    fn node(&mut self, event: Event, mark: Marker, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(at(mark, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.spend(1, mark)?;
        let line = mark.line().max(1);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(at(mark, "YAML tags (`!tag`) are not supported"));
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                let value =
                    if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                        Value::Null
                    } else {
                        Value::Scalar { text, quoted }
                    };
                (Node { line, value }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, mark, depth + 1)?);
                }
                (
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => (self.mapping(line, depth)?, anchor),
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| at(mark, "an alias refers to an unknown anchor"))?;
                self.spend(size(&node), mark)?;
                return Ok(node);
            }
            _ => return Err(at(mark, "unexpected content")),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// A mapping; `<<` merges the keys of a mapping (or a list of mappings) that this one lacks.
    fn mapping(&mut self, line: usize, depth: usize) -> Result<Node, YamlError> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        loop {
            let (event, mark) = self.next()?;
            if event == Event::MappingEnd {
                break;
            }
            let key = self.node(event, mark, depth + 1)?;
            let (event, mark) = self.next()?;
            let value = self.node(event, mark, depth + 1)?;
            let Some(name) = key.scalar() else {
                return Err(key.error(format!("a key must be a plain value, not {}", key.kind())));
            };
            if name == "<<" {
                let sources = match value.value {
                    Value::Map(m) => vec![m],
                    Value::Seq(items) => items
                        .into_iter()
                        .map(|i| match i.value {
                            Value::Map(m) => Ok(m),
                            _ => Err(i.error("`<<` merges mappings only")),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(value.error("`<<` merges mappings only")),
                };
                for (k, v) in sources.into_iter().flatten() {
                    if !merged.iter().any(|(m, _)| m.scalar() == k.scalar()) {
                        merged.push((k, v));
                    }
                }
                continue;
            }
            if entries.iter().any(|(k, _)| k.scalar() == Some(name)) {
                return Err(key.error(format!("`{name}` appears twice")));
            }
            entries.push((key, value));
        }
        for (k, v) in merged {
            if !entries.iter().any(|(e, _)| e.scalar() == k.scalar()) {
                entries.push((k, v));
            }
        }
        Ok(Node {
            line,
            value: Value::Map(entries),
        })
    }
}

fn size(node: &Node) -> usize {
    match &node.value {
        Value::Null | Value::Scalar { .. } => 1,
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(node: &Node) -> Vec<(&str, usize)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.scalar().unwrap_or("?"), v.line))
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn nodes_know_their_lines() {
        let doc = parse("services:\n  web:\n    image: nginx\n  db:\n    image: 'postgres'\n")
            .expect("parses");
        let (_, services) = match &doc.value {
            Value::Map(e) => &e[0],
            _ => panic!("a map"),
        };
        assert_eq!(keys(services), vec![("web", 3), ("db", 5)]);
    }

    #[test]
    fn quoting_and_null_are_kept_apart() {
        let doc = parse("a: ~\nb: 'null'\nc: true\nd: \"true\"\n").expect("parses");
        let Value::Map(e) = doc.value else {
            panic!("a map")
        };
        assert_eq!(e[0].1.value, Value::Null);
        assert_eq!(
            e[1].1.value,
            Value::Scalar {
                text: "null".into(),
                quoted: true
            }
        );
        assert_eq!(
            e[2].1.value,
            Value::Scalar {
                text: "true".into(),
                quoted: false
            }
        );
    }

    #[test]
    fn anchors_and_merge_keys_resolve() {
        let doc = parse(
            "x-base: &base\n  image: busybox\n  labels: {a: b}\nweb:\n  <<: *base\n  image: nginx\n",
        )
        .expect("parses");
        let Value::Map(e) = doc.value else {
            panic!("a map")
        };
        let web = &e[1].1;
        assert_eq!(keys(web), vec![("image", 6), ("labels", 3)]);
    }

    #[test]
    fn syntax_errors_and_duplicates_name_their_line() {
        let bad = parse("a: 1\nb: [1, 2\n").expect_err("unterminated");
        assert!(bad.line >= 2, "{bad}");
        let twice = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(twice.line, 3);
        assert!(twice.message.contains("`a` appears twice"));
        let tagged = parse("a: !secret x\n").expect_err("tag");
        assert_eq!(tagged.line, 1);
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            let name = ["b", "c", "d", "e", "f", "g"][i];
            bomb.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse(&bomb).expect_err("bomb");
        assert!(e.message.contains("expands to more than"), "{e}");
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(
            parse(&deep)
                .expect_err("deep")
                .message
                .contains("nested deeper")
        );
    }

    #[test]
    fn empty_is_null_and_two_documents_are_refused() {
        assert_eq!(parse("").expect("empty").value, Value::Null);
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }
}

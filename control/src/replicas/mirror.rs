//! This replica's copy of which nodes the other replicas hold, refreshed from `node_presence`.
use std::collections::HashMap;

use crate::store::PresenceRow;

/// A node whose session another replica holds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Remote {
    replica: String,
    silent: bool,
    last_seen_ms: i64,
}

#[derive(Debug, Default)]
pub(super) struct Mirror {
    nodes: HashMap<String, Remote>,
}

/// What a refresh changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// Nodes that came, went, moved or turned silent or audible again.
    pub changed: Vec<String>,
    /// Nodes no other replica holds any more.
    pub gone: Vec<String>,
}

impl Mirror {
    /// Replaces the copy with `rows` (every session other live replicas hold).
    pub fn replace(&mut self, rows: Vec<PresenceRow>) -> Changes {
        let mut next: HashMap<String, Remote> = rows.into_iter().map(remote).collect();
        let mut changes = Changes::default();
        for (id, old) in &self.nodes {
            match next.get(id) {
                None => {
                    changes.changed.push(id.clone());
                    changes.gone.push(id.clone());
                }
                Some(new) if new.replica != old.replica || new.silent != old.silent => {
                    changes.changed.push(id.clone())
                }
                Some(_) => {}
            }
        }
        for id in next.keys() {
            if !self.nodes.contains_key(id) {
                changes.changed.push(id.clone());
            }
        }
        std::mem::swap(&mut self.nodes, &mut next);
        changes.changed.sort();
        changes.gone.sort();
        changes
    }

    /// Updates the copy for nodes `ids` only, whose rows (where other live replicas hold them)
    /// are `rows`.
    pub fn apply(&mut self, ids: &[String], rows: Vec<PresenceRow>) -> Changes {
        let mut fresh: HashMap<String, Remote> = rows.into_iter().map(remote).collect();
        let mut changes = Changes::default();
        for id in ids {
            let old = self.nodes.remove(id);
            let new = fresh.remove(id);
            match (&old, &new) {
                (Some(_), None) => {
                    changes.changed.push(id.clone());
                    changes.gone.push(id.clone());
                }
                (None, Some(_)) => changes.changed.push(id.clone()),
                (Some(o), Some(n)) if o.replica != n.replica || o.silent != n.silent => {
                    changes.changed.push(id.clone())
                }
                _ => {}
            }
            if let Some(new) = new {
                self.nodes.insert(id.clone(), new);
            }
        }
        changes.changed.sort();
        changes.changed.dedup();
        changes.gone.sort();
        changes.gone.dedup();
        changes
    }

    /// When the node was last heard of, as its replica vouches: now while it is not silent (the
    /// replica would have said so), its last frame's time when it is.
    pub fn heard(&self, node_id: &str, now_ms: i64) -> Option<i64> {
        self.nodes.get(node_id).map(|r| heard(r, now_ms))
    }

    /// The replica holding the node's session.
    pub fn holder(&self, node_id: &str) -> Option<&str> {
        self.nodes.get(node_id).map(|r| r.replica.as_str())
    }

    /// Every remote node with [`Mirror::heard`]'s time.
    pub fn all_heard(&self, now_ms: i64) -> impl Iterator<Item = (&String, i64)> {
        self.nodes.iter().map(move |(id, r)| (id, heard(r, now_ms)))
    }
}

fn remote(r: PresenceRow) -> (String, Remote) {
    (
        r.node_id,
        Remote {
            replica: r.replica,
            silent: r.silent != 0,
            last_seen_ms: r.last_seen_at,
        },
    )
}

fn heard(r: &Remote, now_ms: i64) -> i64 {
    if r.silent { r.last_seen_ms } else { now_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: &str, replica: &str, silent: bool) -> PresenceRow {
        PresenceRow {
            node_id: node.into(),
            replica: replica.into(),
            silent: i64::from(silent),
            last_seen_at: 1_000,
        }
    }

    #[test]
    fn a_refresh_names_what_came_went_moved_or_turned_silent() {
        let mut m = Mirror::default();
        let first = m.replace(vec![row("a", "r1", false), row("b", "r1", false)]);
        assert_eq!(first.changed, ["a", "b"]);
        assert!(first.gone.is_empty());
        let same = m.replace(vec![row("a", "r1", false), row("b", "r1", false)]);
        assert_eq!(same, Changes::default(), "nothing changed, nothing named");
        let next = m.replace(vec![
            row("a", "r2", false),
            row("c", "r1", false),
            row("b", "r1", true),
        ]);
        assert_eq!(next.changed, ["a", "b", "c"]);
        let gone = m.replace(vec![row("c", "r1", false)]);
        assert_eq!(gone.changed, ["a", "b"]);
        assert_eq!(gone.gone, ["a", "b"]);
        assert_eq!(m.holder("c"), Some("r1"));
        assert_eq!(m.holder("a"), None);
    }

    #[test]
    fn an_update_of_some_nodes_leaves_the_others_alone() {
        let mut m = Mirror::default();
        m.replace(vec![row("a", "r1", false), row("b", "r1", false)]);
        let ids = ["a".to_string(), "c".to_string()];
        let changes = m.apply(&ids, vec![row("c", "r2", false)]);
        assert_eq!(changes.changed, ["a", "c"]);
        assert_eq!(changes.gone, ["a"]);
        assert_eq!(m.holder("b"), Some("r1"), "not named, not touched");
        assert_eq!(m.holder("c"), Some("r2"));
        assert_eq!(m.holder("a"), None);
        let quiet = m.apply(&["b".to_string()], vec![row("b", "r1", true)]);
        assert_eq!(quiet.changed, ["b"]);
        assert!(quiet.gone.is_empty());
    }

    #[test]
    fn a_silent_remote_node_was_heard_at_its_last_frame_an_audible_one_now() {
        let mut m = Mirror::default();
        m.replace(vec![row("quiet", "r1", true), row("talks", "r1", false)]);
        assert_eq!(m.heard("quiet", 50_000), Some(1_000));
        assert_eq!(m.heard("talks", 50_000), Some(50_000));
        assert_eq!(m.heard("absent", 50_000), None);
        assert_eq!(m.all_heard(50_000).count(), 2);
    }
}

//! What this replica tells the others, in batches: the gateway and the event bus queue changes
//! without waiting, one task writes whatever is queued in one transaction and sends the bus
//! notifications with it.
use domain::event::UiEvent;
use serde::{Deserialize, Serialize};

use crate::store::SharedWrite;

/// PostgreSQL's limit on a notification's payload is 8,000 bytes; a batch is cut below it.
const PAYLOAD_MAX: usize = 7_000;
/// At most this many queued changes go in one transaction.
pub(super) const BATCH_MAX: usize = 2_000;

/// One change queued for the other replicas.
#[derive(Debug)]
pub(super) enum Out {
    Shared(SharedWrite),
    Ui(UiEvent),
}

/// A notification on the bus every replica listens to (JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Bus {
    /// The replica that sent it (which ignores its own).
    pub from: String,
    /// Nodes whose sessions came, went or turned silent or audible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presence: Vec<String>,
    /// The sender stopped: every session it held is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left: bool,
    /// Nodes whose observations changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
    /// Events for browsers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ui: Vec<UiEvent>,
}

/// Splits a batch into the store's writes and the bus payloads that announce them.
pub(super) fn plan(from: &str, batch: Vec<Out>) -> (Vec<SharedWrite>, Vec<String>) {
    let mut writes = Vec::new();
    let mut presence: Vec<String> = Vec::new();
    let mut observed: Vec<String> = Vec::new();
    let mut ui: Vec<UiEvent> = Vec::new();
    for out in batch {
        match out {
            Out::Shared(w) => {
                let (list, node_id) = match &w {
                    SharedWrite::Present { node_id, .. }
                    | SharedWrite::Gone { node_id, .. }
                    | SharedWrite::Silent { node_id, .. } => (&mut presence, node_id),
                    SharedWrite::Swarm { node_id, .. } | SharedWrite::Vips { node_id, .. } => {
                        (&mut observed, node_id)
                    }
                };
                if !list.contains(node_id) {
                    list.push(node_id.clone());
                }
                writes.push(w);
            }
            Out::Ui(e) => {
                if !ui.contains(&e) {
                    ui.push(e);
                }
            }
        }
    }
    (writes, payloads(from, presence, observed, ui))
}

/// Bus payloads under [`PAYLOAD_MAX`] that carry all of it (none when there is nothing to say).
/// Within one payload presence and observations come before the events they caused, and the
/// receiver reads them first.
fn payloads(
    from: &str,
    presence: Vec<String>,
    observed: Vec<String>,
    ui: Vec<UiEvent>,
) -> Vec<String> {
    // Key names, quotes, brackets and commas (generously).
    const FRAME: usize = 64;
    let empty = || Bus {
        from: from.to_owned(),
        ..Bus::default()
    };
    let mut out = Vec::new();
    let mut cur = empty();
    let mut size = from.len() + FRAME;
    let items = presence
        .into_iter()
        .map(Item::Presence)
        .chain(observed.into_iter().map(Item::Observed))
        .chain(ui.into_iter().map(Item::Ui));
    for item in items {
        let len = item.size() + 1;
        if size + len > PAYLOAD_MAX && !cur.is_empty() {
            out.push(encode(&std::mem::replace(&mut cur, empty())));
            size = from.len() + FRAME;
        }
        size += len;
        match item {
            Item::Presence(id) => cur.presence.push(id),
            Item::Observed(id) => cur.observed.push(id),
            Item::Ui(e) => cur.ui.push(e),
        }
    }
    if !cur.is_empty() {
        out.push(encode(&cur));
    }
    out
}

impl Bus {
    fn is_empty(&self) -> bool {
        self.presence.is_empty() && self.observed.is_empty() && self.ui.is_empty() && !self.left
    }
}

enum Item {
    Presence(String),
    Observed(String),
    Ui(UiEvent),
}

impl Item {
    fn size(&self) -> usize {
        match self {
            Item::Presence(id) | Item::Observed(id) => id.len() + 2,
            Item::Ui(e) => serde_json::to_string(e).map_or(0, |s| s.len()),
        }
    }
}

fn encode(bus: &Bus) -> String {
    serde_json::to_string(bus).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> UiEvent {
        UiEvent::Node { id: id.into() }
    }

    #[test]
    fn a_batch_becomes_its_writes_and_one_notice_without_repeats() {
        let batch = vec![
            Out::Shared(SharedWrite::Present {
                node_id: "n1".into(),
                conn: 1,
                at: 5,
            }),
            Out::Ui(node("n1")),
            Out::Ui(node("n1")),
            Out::Shared(SharedWrite::Vips {
                node_id: "n2".into(),
                json: "[]".into(),
                at: 5,
            }),
            Out::Shared(SharedWrite::Swarm {
                node_id: "n2".into(),
                json: "{}".into(),
            }),
        ];
        let (writes, notices) = plan("r1", batch);
        assert_eq!(writes.len(), 3);
        assert_eq!(notices.len(), 1);
        let bus: Bus = serde_json::from_str(&notices[0]).expect("decodes");
        assert_eq!(
            bus,
            Bus {
                from: "r1".into(),
                presence: vec!["n1".into()],
                left: false,
                observed: vec!["n2".into()],
                ui: vec![node("n1")],
            }
        );
    }

    #[test]
    fn a_large_batch_is_cut_into_notices_under_the_payload_limit() {
        let batch: Vec<Out> = (0..2_000)
            .map(|i| Out::Ui(node(&format!("node-{i:05}"))))
            .collect();
        let (_, notices) = plan("r1", batch);
        assert!(notices.len() > 1, "{} notice(s)", notices.len());
        let mut seen = 0;
        for n in &notices {
            assert!(n.len() <= PAYLOAD_MAX, "{} bytes", n.len());
            seen += serde_json::from_str::<Bus>(n).expect("decodes").ui.len();
        }
        assert_eq!(seen, 2_000, "no event lost between notices");
    }

    #[test]
    fn many_sessions_at_once_are_named_across_notices_under_the_limit() {
        let batch: Vec<Out> = (0..2_000)
            .map(|i| {
                Out::Shared(SharedWrite::Present {
                    node_id: format!("0b9c1d3e-5f70-4a8b-9c2d-{i:012}"),
                    conn: i,
                    at: 1,
                })
            })
            .collect();
        let (writes, notices) = plan("r1", batch);
        assert_eq!(writes.len(), 2_000);
        let mut named = 0;
        for n in &notices {
            assert!(n.len() <= PAYLOAD_MAX, "{} bytes", n.len());
            named += serde_json::from_str::<Bus>(n)
                .expect("decodes")
                .presence
                .len();
        }
        assert_eq!(named, 2_000);
    }

    #[test]
    fn nothing_to_say_sends_nothing() {
        assert!(plan("r1", vec![]).1.is_empty());
    }
}

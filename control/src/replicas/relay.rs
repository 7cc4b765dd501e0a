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
    /// Sessions came, went or turned silent: refresh the presence mirror.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub presence: bool,
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
    let mut presence = false;
    let mut observed: Vec<String> = Vec::new();
    let mut ui: Vec<UiEvent> = Vec::new();
    for out in batch {
        match out {
            Out::Shared(w) => {
                match &w {
                    SharedWrite::Present { .. }
                    | SharedWrite::Gone { .. }
                    | SharedWrite::Silent { .. } => presence = true,
                    SharedWrite::Swarm { node_id, .. } | SharedWrite::Vips { node_id, .. } => {
                        if !observed.contains(node_id) {
                            observed.push(node_id.clone());
                        }
                    }
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
fn payloads(from: &str, presence: bool, observed: Vec<String>, ui: Vec<UiEvent>) -> Vec<String> {
    let empty = |presence| Bus {
        from: from.to_owned(),
        presence,
        ..Bus::default()
    };
    let mut out = Vec::new();
    let mut cur = empty(presence);
    let mut size = encode(&cur).len();
    let items = observed
        .into_iter()
        .map(Item::Observed)
        .chain(ui.into_iter().map(Item::Ui));
    for item in items {
        let len = item.size() + 1;
        if size + len > PAYLOAD_MAX && (!cur.observed.is_empty() || !cur.ui.is_empty()) {
            out.push(encode(&std::mem::replace(&mut cur, empty(false))));
            size = encode(&cur).len();
        }
        size += len;
        match item {
            Item::Observed(id) => cur.observed.push(id),
            Item::Ui(e) => cur.ui.push(e),
        }
    }
    if cur.presence || !cur.observed.is_empty() || !cur.ui.is_empty() {
        out.push(encode(&cur));
    }
    out
}

enum Item {
    Observed(String),
    Ui(UiEvent),
}

impl Item {
    fn size(&self) -> usize {
        match self {
            Item::Observed(id) => id.len() + 2,
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
                presence: true,
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
    fn nothing_to_say_sends_nothing() {
        assert!(plan("r1", vec![]).1.is_empty());
    }
}

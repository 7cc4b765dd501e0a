//! What the panel pushes to open browsers (over `GET /events`, server-sent events) so that pages
//! refresh the data that changed without a reload.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "topic", rename_all = "snake_case")]
pub enum UiEvent {
    /// A node enrolled, connected, disconnected, went silent or sent new facts.
    Node { id: String },
    /// Enrolment keys changed.
    Keys,
    /// Users or roles changed.
    Users,
    /// A cluster changed (workflow progress, swarm or VIP observations); `id` may be empty when
    /// the change is not tied to one cluster.
    Cluster { id: String },
    /// Apps, models or their versions changed.
    Library,
    /// Firmware artifacts changed.
    Firmware,
}

impl UiEvent {
    pub const SSE_PATH: &'static str = "/events";
}

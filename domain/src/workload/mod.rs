//! Workloads: apps and AI models deployed onto clusters as Swarm services. This module holds what
//! both the browser and the server need: the compose parser, placement constraints and the units
//! a compose file writes.
pub mod compose;
pub mod library;
pub mod placement;
pub mod units;
pub mod yaml;

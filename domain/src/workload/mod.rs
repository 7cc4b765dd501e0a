//! Workloads: apps and AI models deployed onto clusters as Swarm services. This module holds what
//! both the browser and the server need: the compose parser, placement constraints, the units a
//! compose file writes, the service specs sent to agents and the services they report back.
pub mod compose;
pub mod install;
pub mod library;
pub mod observe;
pub mod placement;
pub mod registry;
pub mod spec;
pub mod units;
pub mod yaml;

//! Flotilla's wasm-safe core.
//!
//! Everything here compiles for the browser and the server alike: validated newtypes, the DTOs the
//! UI shows, the versioned agent wire protocol, the one error type that crosses the wire
//! ([`AppError`]), and pure helpers. No I/O lives here, so validation written once runs inline in
//! the browser and again on the server.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cluster;
pub mod config;
pub mod enrolment;
pub mod error;
pub mod event;
pub mod firmware;
pub mod health;
pub mod list;
pub mod net;
pub mod network;
pub mod node;
pub mod protocol;
pub mod role;
pub mod standby;
pub mod storage;
pub mod swarm;
pub mod time;
pub mod user;
pub mod workflow;
pub mod workload;

pub use error::{AppError, ValidationError};
pub use role::{Permission, Role};

/// Data together with the server's clock when it was read, so relative times ("5 s ago") render
/// the same on the server and, until the browser's clock takes over, after hydration.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot<T> {
    pub now_ms: i64,
    pub data: T,
}

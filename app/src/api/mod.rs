//! Server functions, grouped by area. Each one is thin: authorize (session, then role — before
//! any input is looked at, so a Viewer gets 403, never 422), parse the input into domain types
//! (validation lives in `domain`), call one control-plane use case, map the error. Use cases
//! check the role again. Endpoints are fixed (`/api/<name>`) so tests and scripts can call them.
mod audit;
mod auth;
mod clusters;
mod config;
mod firmware;
mod nodes;
mod workloads;

pub use audit::*;
pub use auth::*;
pub use clusters::*;
pub use config::*;
pub use firmware::*;
pub use nodes::*;
pub use workloads::*;

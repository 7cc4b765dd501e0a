//! A cluster's own configuration, kept in sync on every member node: the Global Config (one JSON
//! document that every workload of the cluster reads at `/appconfig/global.json`) and the Global
//! Secrets (named values, sealed at rest, for the cluster's workloads).
pub mod global;
pub mod objects;
pub mod secrets;

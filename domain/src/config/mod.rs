//! A cluster's own configuration, kept in sync on every member node: the Global Config (one JSON
//! document that every workload of the cluster reads at `/appconfig/global.json`).
pub mod global;

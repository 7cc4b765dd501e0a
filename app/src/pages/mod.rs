//! One folder per capability: the pages and components of nodes, clusters… live together.
pub mod account;
pub mod activity;
pub mod audit;
pub mod clusters;
pub mod config;
pub mod firmware;
pub mod keys;
pub mod login;
pub mod nodes;
pub mod users;
pub mod workloads;

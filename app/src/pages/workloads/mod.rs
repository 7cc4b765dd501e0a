//! Workloads: the library of apps and models (and, next, installing them on clusters).
pub mod library;

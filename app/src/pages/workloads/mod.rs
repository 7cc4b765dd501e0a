//! Workloads: the library of apps and models, the install wizard, and the apps installed on a
//! cluster and its registry credentials (both shown on its page).
pub mod credentials;
pub mod install;
pub mod installed;
pub mod library;

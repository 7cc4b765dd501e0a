//! Workloads: the library of apps and models, the install wizard, and the apps installed on a
//! cluster (shown on its page).
pub mod install;
pub mod installed;
pub mod library;

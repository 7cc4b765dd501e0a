//! A cluster's own configuration as its page shows it: the Global Config and Global Secrets
//! cards, the text files they read and offer for download, and the swarm's secrets and configs.
mod files;
pub mod global;
pub mod objects;
pub mod secrets;

//! A cluster's own configuration as its page shows it: the Global Config and Global Secrets
//! cards, and the text files they read and offer for download.
mod files;
pub mod global;
pub mod secrets;

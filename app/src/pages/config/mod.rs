//! A cluster's own configuration as its page shows it: the Global Config card.
pub mod global;

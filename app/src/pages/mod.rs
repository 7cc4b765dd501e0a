pub mod account;
pub mod keys;
pub mod login;
pub mod node;
pub mod nodes;
pub mod users;

//! One module per command.

pub mod config;
pub mod image;
pub mod pull;
pub mod push;

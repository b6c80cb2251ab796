//! One module per command.

pub mod build;
pub mod config;
pub mod image;

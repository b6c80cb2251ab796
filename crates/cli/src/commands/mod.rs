//! One module per command.

pub mod build;
pub mod config;
pub mod cp;
pub mod down;
pub mod image;
pub mod kill;
pub mod logs;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rm;
pub mod start;
pub mod stop;
pub mod up;

//! One module per command.

pub mod build;
pub mod config;
pub mod down;
pub mod image;
pub mod kill;
pub mod logs;
pub mod port;
pub mod ps;
pub mod rm;
pub mod start;
pub mod stop;
pub mod up;

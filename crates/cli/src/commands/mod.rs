//! One module per command.

pub mod build;
pub mod config;
pub mod cp;
pub mod down;
pub mod exec;
pub mod image;
pub mod images;
pub mod kill;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod reload;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod top;
pub mod up;
pub mod version;
pub mod wait;

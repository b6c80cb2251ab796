//! Projects: the state store, the planner (desired vs actual), the executor, the per-project
//! supervisor, logs and events. Knows nothing of the command line.

pub mod image_config;
pub mod naming;
pub mod signal;
pub mod spec;
pub mod store;
pub mod image;
pub mod logs;
pub mod runner;
pub mod volumes;

//! Projects: the state store, the planner (desired vs actual), the executor, the per-project
//! supervisor, logs and events. Knows nothing of the command line.

mod container;
mod engine;
pub mod error;
pub mod image;
pub mod image_config;
pub mod logs;
pub mod naming;
pub mod ops;
pub mod plan;
pub mod runner;
pub mod signal;
pub mod spec;
pub mod store;
pub mod volumes;

pub use engine::{Engine, Kind, Progress, Project};
pub use error::{Error, Result};

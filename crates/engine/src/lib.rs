//! Projects: the state store, the planner (desired vs actual), the executor, logs. Knows
//! nothing of the command line.
//!
//! - [`spec`]: a service and its image's config → a runtime spec and mount requests (pure).
//! - [`image`], [`image_config`]: the service's image from the local store.
//! - [`store`]: projects, containers, volumes (and tables for networks and IPs) in the data
//!   root's SQLite db; the per-project lock.
//! - [`plan`]: desired vs recorded → actions per service (pure).
//! - [`ops`]: the verbs (`up`, `down`, `start`, `stop`, `restart`, `kill`, `rm`, `ps`, `logs`,
//!   `pause`, `exec`, `run`, `wait`, `top`, `ls`) on an [`Engine`], one file each; `up` runs
//!   along the dependency graph, levels in parallel.
//! - [`volumes`]: named and anonymous volume dirs, filled from the image when empty.
//! - [`runner`]: the only caller of the container runtime; every container under a shim.
//! - [`logs`]: the shims' CRI logs, read, filtered by time and followed.
//! - [`network`]: the project's networks, addresses, endpoints, ports and firewall.
//! - [`supervisor`]: the per-project process serving DNS on the networks' gateways.
//! - [`naming`], [`signal`]: Docker Compose's names and labels; signal names.

pub mod build;
mod container;
pub mod cp;
mod engine;
pub mod error;
pub mod events;
pub mod health;
pub mod image;
pub mod image_config;
pub mod interrupt;
pub mod logs;
pub mod naming;
pub mod network;
pub mod ops;
pub mod plan;
pub mod pull;
pub mod reload;
pub mod restart;
pub mod runner;
pub use compose_runtime::signal;
pub mod spec;
pub mod stats;
pub mod store;
pub mod supervisor;
pub mod volumes;
pub mod watch;

pub use engine::{Engine, Kind, Progress, Project};
pub use error::{Error, Result};

//! The embedded DNS server of a project (hickory): per-network views of service names,
//! aliases and replicas, and forwarding of other names. Knows nothing of the rest.

pub mod error;
pub mod names;
pub mod zone;

pub use error::{Error, Result};
pub use zone::{ContainerRecord, Link, NetworkSettings, QueryKind, Resolution, Zone};

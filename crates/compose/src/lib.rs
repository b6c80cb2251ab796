//! The Compose file format, typed: discovery of files, `.env`, interpolation, merging,
//! `extends`, `include`, profiles, normalization, validation with file:line errors, and the
//! service dependency graph. Pure: no processes, no kernel, no async.

pub mod de;
pub mod diff;
pub mod dotenv;
pub mod error;
pub mod extends;
pub mod graph;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod par;
pub mod paths;
pub mod support;
pub mod validate;
pub mod yaml;

pub use error::{Error, Result};

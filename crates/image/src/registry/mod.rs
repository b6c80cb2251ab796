//! The OCI distribution registry client: `GET /v2/` probe, Bearer token and Basic auth
//! (credentials given, or from `~/.docker/config.json` and its credential helpers), HTTPS
//! with rustls (per-registry CAs and client certificates from `certs.d`; plain HTTP for
//! loopback and insecure registries without one), manifests and multi-platform indexes, parallel
//! verified pulls into the store and pushes from it (HEAD, cross-repository mount,
//! monolithic or chunked uploads, manifest PUT).
//!
//! Blocking I/O on a few scoped threads: the store and the unpacker read `std::io::Read`,
//! so an async runtime would buy nothing here.

mod challenge;
mod client;
pub mod credentials;
mod error;
mod helper;
mod manifest;
mod progress;
mod pull;
mod push;
mod tee;
pub mod tls;
mod transfer;

pub use challenge::Challenge;
pub use client::{Client, ClientOptions};
pub use credentials::Credentials;
pub use error::{RegistryError, Result};
pub use manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, FetchedManifest, OCI_INDEX, OCI_MANIFEST, host_platform,
    platform_string,
};
pub use progress::{Event, NoProgress, Outcome, Progress, short_digest};
pub use pull::{Pulled, pull};
pub use push::{Pushed, push};

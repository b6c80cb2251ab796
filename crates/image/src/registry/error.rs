//! The one error type of the registry client.

use std::path::PathBuf;

use crate::reference::ReferenceError;
use crate::store::StoreError;

/// Why a pull, push or registry request failed; each variant names the registry and the
/// manifest, blob or URL at fault.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry has no such repository, tag, manifest or blob.
    #[error("{what} not found (registry {registry})")]
    NotFound { registry: String, what: String },
    /// The registry (or its token service) refused the credentials, or there were none.
    #[error("{registry}: unauthorized for {what}: {detail}")]
    Unauthorized {
        registry: String,
        what: String,
        detail: String,
    },
    /// Any other HTTP status the operation does not expect.
    #[error("{registry}: {method} {url}: HTTP {status}: {detail}")]
    Status {
        registry: String,
        method: String,
        url: String,
        status: u16,
        detail: String,
    },
    /// The registry could not be reached, or the connection broke, every time we tried.
    #[error("{registry}: {what} failed after {attempts} attempt(s)")]
    Connection {
        registry: String,
        what: String,
        attempts: u32,
        #[source]
        source: ureq::Error,
    },
    /// A blob's download broke off every time we tried.
    #[error("{registry}: download of {what} broke off after {attempts} attempt(s)")]
    Interrupted {
        registry: String,
        what: String,
        attempts: u32,
        #[source]
        source: std::io::Error,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A manifest or layer of a type this client does not handle.
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },
    /// A multi-platform index without an entry for the wanted platform.
    #[error("{reference}: no manifest for platform {platform} (the index has: {available})")]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    /// A manifest, index, config or token response is malformed.
    #[error("{what}: {reason}")]
    BadResponse { what: String, reason: String },
    /// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`) could not be read.
    #[error("docker config {path}: {reason}")]
    DockerConfig { path: PathBuf, reason: String },
    /// A registry's certificate directory (`certs.d/<host:port>/`) could not be used.
    #[error("registry certificates {path}: {reason}")]
    Tls { path: PathBuf, reason: String },
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The local store failed (or held a bad image to push).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of the registry client.
pub type Result<T> = std::result::Result<T, RegistryError>;

impl RegistryError {
    /// The store's digest and size mismatches are the registry's: its content was bad.
    pub(crate) fn from_store(err: StoreError) -> RegistryError {
        match err {
            StoreError::DigestMismatch {
                what,
                expected,
                actual,
            } => RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            },
            other => RegistryError::Store(other),
        }
    }
}

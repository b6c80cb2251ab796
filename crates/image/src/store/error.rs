//! The one error type of the image store and of archives in and out.

use std::io;
use std::path::{Path, PathBuf};

use crate::reference::ReferenceError;
use crate::unpack::UnpackError;

/// Why a store, load or save operation failed: each variant names the path, digest, member
/// or reference at fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation on the store or an archive failed.
    #[error("{path}: {op} failed")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Content did not hash to the digest it was stored or referenced under.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// Content is not of the size its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A digest is not `sha256:` and 64 lowercase hex digits.
    #[error("invalid digest {digest:?}: expected sha256:<64 hex digits>")]
    InvalidDigest { digest: String },
    /// A blob the operation needs is not in the store.
    #[error("blob {digest} is not in the content store")]
    BlobNotFound { digest: String },
    /// No image record has this reference.
    #[error("image {reference} not found")]
    ImageNotFound { reference: String },
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The state database failed.
    #[error("state database {path}: {op} failed")]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer version of this program.
    #[error("state database {path} has schema version {found}; this program knows up to {known}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// Unpacking a layer into its snapshot failed.
    #[error("layer {digest}: unpacking failed")]
    Unpack {
        digest: String,
        #[source]
        source: UnpackError,
    },
    /// A JSON document (manifest, index, config, manifest.json) is malformed.
    #[error("{what}: invalid JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An archive or layout is not of a format this program reads, or breaks its rules.
    #[error("{archive}: {reason}")]
    BadArchive { archive: PathBuf, reason: String },
    /// An archive member whose name is absolute or has `..`: refused, never written anywhere.
    #[error("{archive}: member {member:?} has an unsafe name (absolute or with ..)")]
    UnsafeMember { archive: PathBuf, member: String },
    /// An archive or layout names a file it does not contain.
    #[error("{archive}: {what} {member:?} is missing")]
    MissingMember {
        archive: PathBuf,
        what: String,
        member: String,
    },
    /// A media type this store does not handle where it was met.
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },
    /// The image config's layers do not match the manifest's.
    #[error("image {manifest}: {reason}")]
    BadImage { manifest: String, reason: String },
}

/// Result of the store and archive modules.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Builds a [`StoreError::Io`] for `path`.
pub(crate) fn io_err(
    path: impl Into<PathBuf>,
    op: &'static str,
) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, op, source }
}

/// Checks a `sha256:<hex>` digest, returning the hex part.
pub(crate) fn digest_hex(digest: &str) -> Result<&str> {
    crate::unpack::sha256_hex(digest).map_err(|_| StoreError::InvalidDigest {
        digest: digest.to_owned(),
    })
}

/// Builds a [`StoreError::Db`] for the database at `path`.
pub(crate) fn db_err(path: &Path, op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Db { path, op, source }
}

//! The one error type of layer unpacking.

use std::io;
use std::path::PathBuf;

/// Why unpacking a layer or a snapshot failed. Entry errors name the entry as written in the
/// tar (lossy UTF-8) and, for filesystem failures, the syscall that failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The entry's path or link target would leave the root, or is not a usable name.
    #[error("layer entry {entry:?}: refused: {reason}")]
    Unsafe { entry: String, reason: String },
    /// A character or block device other than an overlay whiteout (0:0), while devices are
    /// not allowed by the options.
    #[error(
        "layer entry {entry:?}: refused: {kind} device {major}:{minor} (devices are not allowed)"
    )]
    DeviceRefused {
        entry: String,
        kind: &'static str,
        major: u32,
        minor: u32,
    },
    /// A tar entry type this unpacker does not handle.
    #[error("layer entry {entry:?}: unsupported tar entry type {kind:?}")]
    UnsupportedType { entry: String, kind: char },
    /// The header of an entry has a value out of range or unreadable.
    #[error("layer entry {entry:?}: bad header: {reason}")]
    BadHeader { entry: String, reason: String },
    /// A syscall on the entry failed.
    #[error("layer entry {entry:?}: {op} failed")]
    Fs {
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Reading the layer (decompression or the tar format) failed.
    #[error("reading the layer failed after entry {after:?}")]
    Read {
        after: String,
        #[source]
        source: io::Error,
    },
    /// The sha256 of the uncompressed tar is not the expected DiffID.
    #[error("layer DiffID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: String, actual: String },
    /// A digest is not `sha256:` followed by 64 lowercase hex digits.
    #[error("invalid digest {digest:?}: expected sha256:<64 hex digits>")]
    InvalidDigest { digest: String },
    /// The media type names no layer format this unpacker reads.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    /// Opening the destination or committing a snapshot failed.
    #[error("{path}: {op} failed")]
    Dest {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, UnpackError>;

/// Lossy display form of a raw tar path for error messages.
pub(crate) fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Builds [`UnpackError::Fs`] from a rustix errno.
pub(crate) fn fs_err(entry: &[u8], op: &'static str, errno: rustix::io::Errno) -> UnpackError {
    UnpackError::Fs {
        entry: show(entry),
        op,
        source: errno.into(),
    }
}

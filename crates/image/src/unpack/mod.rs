//! Layer unpacking: an OCI/Docker layer tar (plain, gzip or zstd) made into a directory,
//! never writing outside it, its DiffID verified; and, on top, the store's snapshots: each
//! layer unpacked once into `snapshots/<chain-id>` to be shared read-only as an overlay
//! lowerdir.
//!
//! Safety rests on one rule: every path of the layer is resolved with openat2
//! `RESOLVE_IN_ROOT` on a directory fd of the root (so `..` and symlinks, absolute ones
//! included, cannot lead out), and every entry is made relative to its parent's fd with the
//! `*at` syscalls, never following a last component (`O_EXCL|O_NOFOLLOW`). `..` components
//! are refused outright; absolute paths are taken under the root; devices are refused
//! unless allowed. The `tar` crate is used for the format only.

mod entry;
mod error;
mod guard;
mod meta;
mod path;
mod pipe;
mod root;
mod snapshot;
mod stream;
mod whiteout;

use std::io::{BufReader, Read};
use std::path::Path;

pub use error::{Result, UnpackError};
pub use snapshot::{
    Snapshot, TEMP_PREFIX, chain_id, chain_ids, remove_stale_temps, snapshot_path, unpack_snapshot,
};
pub use stream::{Compression, diff_id_of, sha256_hex};

use entry::Unpacker;
use error::show;
use root::Root;

/// Choices for unpacking a layer. The default is what image layers need and is safe.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The DiffID the uncompressed tar must hash to (`sha256:<hex>`); a mismatch fails the
    /// unpack after the fact and the caller discards the directory.
    pub expected_diff_id: Option<String>,
    /// Make char and block device nodes (other than whiteouts, char 0:0). Off: a layer with
    /// a device is refused. FIFOs are always made.
    pub allow_devices: bool,
    /// chown entries to the uid/gid of the layer (needs root). On by default.
    pub preserve_ownership: bool,
    /// Apply `trusted.*` xattrs of the layer other than overlay's own, which are never
    /// applied. Off by default.
    pub allow_trusted_xattrs: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            expected_diff_id: None,
            allow_devices: false,
            preserve_ownership: true,
            allow_trusted_xattrs: false,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar, `sha256:<hex>`.
    pub diff_id: String,
    /// Length of the uncompressed tar.
    pub tar_bytes: u64,
    /// Tar entries read (PAX and long-name headers not counted).
    pub entries: u64,
    pub files: u64,
    /// Bytes of regular file content written.
    pub file_bytes: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// FIFOs, devices, and char 0:0 entries found as such in the tar.
    pub specials: u64,
    /// `.wh.NAME` entries.
    pub whiteouts: u64,
    /// Directories made opaque.
    pub opaque_dirs: u64,
    /// xattrs of the layer not applied (see [`UnpackOptions::allow_trusted_xattrs`]).
    pub xattrs_skipped: u64,
}

/// Unpacks one layer into `dest_root`, an existing directory (normally empty: whiteouts are
/// converted to overlay's format, not applied to what is there).
///
/// `compression` is the declared one ([`Compression::from_media_type`]); the magic bytes of
/// the stream decide in the end. On error the directory holds a partial layer: discard it.
pub fn unpack_layer(
    reader: impl Read + Send,
    compression: Compression,
    dest_root: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let root = Root::open(dest_root).map_err(|e| UnpackError::Dest {
        path: dest_root.to_owned(),
        op: "open",
        source: e.into(),
    })?;
    let read_err = |after: &str, source| UnpackError::Read {
        after: after.to_owned(),
        source,
    };
    let mut unpacker = Unpacker::new(root, opts);
    let (entries, digest) = pipe::pipelined(reader, compression, |tar_stream| {
        unpack_entries(&mut unpacker, tar_stream)
    });
    // An entry's error says more than the producer's "stopped".
    entries?;
    unpacker.finish_whiteouts()?;
    unpacker.set_dir_times()?;
    let (diff_id, tar_bytes) = digest.map_err(|e| read_err("(end of archive)", e))?;
    if let Some(expected) = opts.expected_diff_id.as_ref().filter(|e| **e != diff_id) {
        return Err(UnpackError::DiffIdMismatch {
            expected: expected.clone(),
            actual: diff_id,
        });
    }
    let mut stats = unpacker.stats;
    stats.diff_id = diff_id;
    stats.tar_bytes = tar_bytes;
    Ok(stats)
}

/// Makes every entry of the tar stream.
fn unpack_entries(unpacker: &mut Unpacker<'_>, tar_stream: &mut dyn Read) -> Result<()> {
    let read_err = |after: &str, source| UnpackError::Read {
        after: after.to_owned(),
        source,
    };
    // tar reads 512-byte headers; content reads of the copy buffer's size bypass this buffer.
    let mut archive = tar::Archive::new(BufReader::with_capacity(
        1 << 16,
        guard::TarGuard::new(tar_stream),
    ));
    let entries = archive.entries().map_err(|e| read_err("", e))?;
    let mut last = String::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_err(&last, e))?;
        last = show(&entry.path_bytes());
        unpacker.entry(entry)?;
    }
    Ok(())
}

//! The content store: blobs by digest at `blobs/sha256/<hex>`.
//!
//! A write goes to a temp file under `blobs/.ingest/` (same filesystem), is hashed while
//! written, verified, fsynced and then linked into place with `RENAME_NOREPLACE`, and the
//! directory is fsynced: a blob's final name only ever holds complete, verified content.
//! Two writers of one blob both verify; the first rename wins and the other drops its temp.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use super::error::{Result, StoreError, digest_hex, io_err};

/// Size of the copy buffer of a blob write.
const COPY_BUF: usize = 256 << 10;

/// Temp files of writes in progress (or left by a crash).
const INGEST_DIR: &str = ".ingest";

/// The blobs of a store.
#[derive(Debug, Clone)]
pub struct Blobs {
    /// `<root>/blobs`.
    dir: PathBuf,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `sha256:<hex>` of the content.
    pub digest: String,
    pub size: u64,
    /// False when the blob was there already (or another writer stored it first).
    pub created: bool,
}

impl Blobs {
    /// The blobs under `<root>/blobs`, made if absent.
    pub fn open(root: &Path) -> Result<Blobs> {
        let dir = root.join("blobs");
        for d in [dir.join("sha256"), dir.join(INGEST_DIR)] {
            std::fs::create_dir_all(&d).map_err(io_err(&d, "create dir"))?;
        }
        Ok(Blobs { dir })
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("sha256").join(digest_hex(digest)?))
    }

    /// Whether the blob is stored.
    pub fn has(&self, digest: &str) -> Result<bool> {
        Ok(self.path(digest)?.is_file())
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let path = self.path(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound {
                digest: digest.to_owned(),
            },
            _ => StoreError::Io {
                path,
                op: "open",
                source: e,
            },
        })
    }

    /// Reads a whole stored blob, refusing ones larger than `limit` (JSON documents).
    pub fn read_small(&self, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.path(digest)?;
        let mut buf = Vec::new();
        self.open_blob(digest)?
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(io_err(&path, "read"))?;
        if buf.len() as u64 > limit {
            return Err(StoreError::SizeMismatch {
                what: format!("blob {digest} (a JSON document)"),
                expected: limit,
                actual: buf.len() as u64,
            });
        }
        Ok(buf)
    }

    /// The size of a stored blob.
    pub fn size(&self, digest: &str) -> Result<u64> {
        let path = self.path(digest)?;
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::BlobNotFound {
                digest: digest.to_owned(),
            }),
            Err(e) => Err(io_err(path, "stat")(e)),
        }
    }

    /// Removes a blob; false when it was not there.
    pub fn remove(&self, digest: &str) -> Result<bool> {
        let path = self.path(digest)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(path, "remove")(e)),
        }
    }

    /// The digests of every stored blob.
    pub fn list(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("sha256");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir, "read_dir"))? {
            let entry = entry.map_err(io_err(&dir, "read_dir"))?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if digest_hex(&digest).is_ok() {
                out.push(digest);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stores the content of `reader`. With `expected`, the content must hash to it (else
    /// nothing is stored) and a blob already present is not read at all; with
    /// `expected_size`, content of another size is refused, and no more than that size plus
    /// one byte is read. `what` names the content in errors.
    pub fn write(
        &self,
        reader: impl Read,
        expected: Option<&str>,
        expected_size: Option<u64>,
        what: &str,
    ) -> Result<Written> {
        if let Some(d) = expected {
            let path = self.path(d)?;
            if let Ok(meta) = std::fs::metadata(&path) {
                // Present under its digest: verified when it was written.
                return Ok(Written {
                    digest: d.to_owned(),
                    size: meta.len(),
                    created: false,
                });
            }
        }
        let temp = TempFile::create(&self.dir.join(INGEST_DIR))?;
        let (digest, size) = copy_hashed(reader, &temp, expected_size)?;
        if let Some(want) = expected_size.filter(|w| *w != size) {
            return Err(StoreError::SizeMismatch {
                what: what.to_owned(),
                expected: want,
                actual: size,
            });
        }
        if let Some(want) = expected.filter(|w| **w != digest) {
            return Err(StoreError::DigestMismatch {
                what: what.to_owned(),
                expected: want.to_owned(),
                actual: digest,
            });
        }
        temp.file.sync_all().map_err(io_err(&temp.path, "fsync"))?;
        let dest = self.path(&digest)?;
        let created = temp.link_into(&dest)?;
        if created {
            fsync_dir(&self.dir.join("sha256"))?;
        }
        Ok(Written {
            digest,
            size,
            created,
        })
    }

    /// Stores `bytes` (a JSON document made here).
    pub fn write_bytes(&self, bytes: &[u8], what: &str) -> Result<Written> {
        self.write(bytes, None, Some(bytes.len() as u64), what)
    }

    /// Where writes in progress keep their temp files (`<pid>-<n>`).
    pub(crate) fn ingest_dir(&self) -> PathBuf {
        self.dir.join(INGEST_DIR)
    }
}

/// Copies `reader` into the temp file while hashing; reads at most `limit + 1` bytes so an
/// oversized stream is caught without being read whole.
fn copy_hashed(reader: impl Read, temp: &TempFile, limit: Option<u64>) -> Result<(String, u64)> {
    let mut reader = reader.take(limit.map_or(u64::MAX, |l| l.saturating_add(1)));
    let mut hasher = Sha256::new();
    // Reads of 256 KiB: fewer socket reads and writes per blob (and fewer chunks through a
    // pull's tee) than 64 KiB, still small next to the CPU caches' reach for hashing.
    let mut out = io::BufWriter::with_capacity(COPY_BUF, &temp.file);
    let mut buf = vec![0u8; COPY_BUF];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&temp.path, "read source into")(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(io_err(&temp.path, "write"))?;
        size += n as u64;
    }
    out.flush().map_err(io_err(&temp.path, "write"))?;
    Ok((format!("sha256:{}", hex::encode(hasher.finalize())), size))
}

/// Fsyncs a directory so a rename in it is durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir, "fsync dir"))
}

/// A temp file, removed on drop unless linked into place.
struct TempFile {
    path: PathBuf,
    file: File,
    linked: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path, "create temp file"))?;
        Ok(TempFile {
            path,
            file,
            linked: false,
        })
    }

    /// Renames into `dest` unless something is there: true when ours went in. An existing
    /// file is the same content (its name is its digest, verified by its writer).
    fn link_into(mut self, dest: &Path) -> Result<bool> {
        match renameat_with(CWD, &self.path, CWD, dest, RenameFlags::NOREPLACE) {
            Ok(()) => {
                self.linked = true;
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(io_err(dest, "renameat2 (RENAME_NOREPLACE)")(e.into())),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.linked
            && let Err(err) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(?err, path = %self.path.display(), "could not remove temp blob");
        }
    }
}

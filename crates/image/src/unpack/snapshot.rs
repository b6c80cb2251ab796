//! Snapshots: each layer unpacked once into `snapshots/<chain-id>`, shared read-only.
//!
//! A layer is unpacked into a temp dir beside its final place, then renamed into place with
//! `RENAME_NOREPLACE`: a crash mid-unpack leaves only a `.tmp-*` dir (never a name that
//! looks complete), and of two concurrent unpacks of one chain-id the first rename wins and
//! the other discards its temp dir.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{CWD, Mode, OFlags, RenameFlags, renameat_with};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use super::error::{Result, UnpackError};
use super::stream::sha256_hex;
use super::{Compression, UnpackOptions, UnpackStats, unpack_layer};

/// Prefix of unpacks in progress (or left by a crash) in the snapshots dir.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A snapshot in the store.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `sha256:<hex>` ChainID of the layer and its parents.
    pub chain_id: String,
    /// `snapshots/<hex>`.
    pub path: PathBuf,
    /// The stats when this call made the snapshot; `None` when it was there already (or
    /// another unpack made it first).
    pub unpacked: Option<UnpackStats>,
}

/// The ChainID of a layer (OCI image spec): its DiffID for the first layer, else
/// `sha256(parent ChainID + " " + DiffID)`.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> Result<String> {
    sha256_hex(diff_id)?;
    let Some(parent) = parent else {
        return Ok(diff_id.to_owned());
    };
    sha256_hex(parent)?;
    let sum = Sha256::digest(format!("{parent} {diff_id}").as_bytes());
    Ok(format!("sha256:{}", hex::encode(sum)))
}

/// The ChainIDs of an image's layers, bottom first.
pub fn chain_ids<S: AsRef<str>>(diff_ids: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let id = chain_id(out.last().map(String::as_str), d.as_ref())?;
        out.push(id);
    }
    Ok(out)
}

/// Where the snapshot of `chain_id` lives: the hex alone, no `sha256:` (a `:` would split an
/// overlay `lowerdir=` list, and short paths keep mount options under a page).
pub fn snapshot_path(snapshots_dir: &Path, chain_id: &str) -> Result<PathBuf> {
    Ok(snapshots_dir.join(sha256_hex(chain_id)?))
}

/// Unpacks the layer `diff_id`, whose parent snapshot is `parent_chain_id`, into its
/// snapshot under `snapshots_dir` unless it is there already. The DiffID is verified
/// (`opts.expected_diff_id` is set from `diff_id`); on any error nothing is left under the
/// snapshot's name. `sync` makes the snapshot durable (syncfs) before it is named.
pub fn unpack_snapshot(
    snapshots_dir: &Path,
    parent_chain_id: Option<&str>,
    diff_id: &str,
    layer: impl Read + Send,
    compression: Compression,
    opts: &UnpackOptions,
    sync: bool,
) -> Result<Snapshot> {
    let chain = chain_id(parent_chain_id, diff_id)?;
    let path = snapshot_path(snapshots_dir, &chain)?;
    let found = |chain: String, path: PathBuf| Snapshot {
        chain_id: chain,
        path,
        unpacked: None,
    };
    if path.is_dir() {
        return Ok(found(chain, path));
    }
    let dest_err = |path: &Path, op, source: std::io::Error| UnpackError::Dest {
        path: path.to_owned(),
        op,
        source,
    };
    std::fs::create_dir_all(snapshots_dir)
        .map_err(|e| dest_err(snapshots_dir, "create snapshots dir", e))?;
    let temp = temp_dir(snapshots_dir, &chain);
    std::fs::create_dir(&temp).map_err(|e| dest_err(&temp, "mkdir", e))?;
    let guard = TempDir(Some(temp.clone()));

    let opts = UnpackOptions {
        expected_diff_id: Some(diff_id.to_owned()),
        ..opts.clone()
    };
    let stats = unpack_layer(layer, compression, &temp, &opts)?;
    if sync {
        let fd = rustix::fs::open(
            &temp,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| dest_err(&temp, "open", e.into()))?;
        rustix::fs::syncfs(&fd).map_err(|e| dest_err(&temp, "syncfs", e.into()))?;
    }
    match renameat_with(CWD, &temp, CWD, &path, RenameFlags::NOREPLACE) {
        Ok(()) => {
            guard.keep();
            if sync {
                fsync_dir(snapshots_dir).map_err(|e| dest_err(snapshots_dir, "fsync", e.into()))?;
            }
            Ok(Snapshot {
                chain_id: chain,
                path,
                unpacked: Some(stats),
            })
        }
        // Another unpack of the same layer named it first: same content, ours goes.
        Err(Errno::EXIST | Errno::NOTEMPTY) => Ok(found(chain, path)),
        Err(e) => Err(dest_err(&path, "renameat2 (RENAME_NOREPLACE)", e.into())),
    }
}

/// Removes the temp dirs of unpacks whose process is gone (a crash, a kill), for the store
/// to call when it opens. Returns how many it removed. Temp dirs of live processes, this
/// one's included, are left alone.
pub fn remove_stale_temps(snapshots_dir: &Path) -> Result<usize> {
    let err = |op, source| UnpackError::Dest {
        path: snapshots_dir.to_owned(),
        op,
        source,
    };
    let entries = match std::fs::read_dir(snapshots_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(err("read_dir", e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| err("read_dir", e))?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_dir_pid) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        std::fs::remove_dir_all(entry.path()).map_err(|e| err("remove stale temp dir", e))?;
        removed += 1;
    }
    Ok(removed)
}

/// The pid in a temp dir name made by [`temp_dir`].
fn temp_dir_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix(TEMP_PREFIX)?.split('-');
    let (_chain, pid, _n) = (parts.next()?, parts.next()?, parts.next()?);
    pid.parse().ok()
}

fn fsync_dir(dir: &Path) -> rustix::io::Result<()> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::fsync(&fd)
}

/// A unique temp dir name beside the snapshot: pid and a counter tell concurrent unpacks in
/// this and other processes apart.
fn temp_dir(snapshots_dir: &Path, chain_id: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let hex = chain_id.strip_prefix("sha256:").unwrap_or(chain_id);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    snapshots_dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{n}",
        &hex[..hex.len().min(16)],
        std::process::id()
    ))
}

/// Removes the temp dir when dropped, unless kept.
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // std's remove_dir_all does not follow symlinks (CVE-2022-21658 fix).
            if let Err(err) = std::fs::remove_dir_all(&p) {
                tracing::warn!(?err, path = %p.display(), "could not remove unpack temp dir");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[&a, &b]).unwrap();
        assert_eq!(ids[0], a);
        let expect = Sha256::digest(format!("{a} {b}").as_bytes());
        assert_eq!(ids[1], format!("sha256:{}", hex::encode(expect)));
        assert_eq!(chain_id(Some(&ids[0]), &b).unwrap(), ids[1]);
        assert!(chain_id(None, "sha256:xyz").is_err());
    }

    #[test]
    fn stale_temps_of_dead_processes_go() {
        let tmp = tempfile::tempdir().unwrap();
        let chain = format!("sha256:{}", "c".repeat(64));
        let mine = temp_dir(tmp.path(), &chain);
        std::fs::create_dir(&mine).unwrap();
        // pid_max is at most 2^22: this pid cannot be alive.
        let dead = tmp
            .path()
            .join(format!("{TEMP_PREFIX}cccc-{}-0", 1u32 << 23));
        std::fs::create_dir_all(dead.join("usr/bin")).unwrap();
        let done = tmp.path().join("c".repeat(64));
        std::fs::create_dir(&done).unwrap();
        assert_eq!(remove_stale_temps(tmp.path()).unwrap(), 1);
        assert!(mine.exists() && done.exists() && !dead.exists());
        assert_eq!(temp_dir_pid(".tmp-abc-12-3"), Some(12));
        assert_eq!(temp_dir_pid("abc"), None);
    }

    #[test]
    fn snapshot_paths_have_no_colon() {
        let a = format!("sha256:{}", "a".repeat(64));
        let p = snapshot_path(Path::new("/s"), &a).unwrap();
        assert_eq!(p, Path::new("/s").join("a".repeat(64)));
    }
}

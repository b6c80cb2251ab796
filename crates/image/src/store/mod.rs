//! The image store under a data root: the content store (`blobs/sha256/<hex>`), the
//! snapshots (`snapshots/<chain-id hex>`, see [`crate::unpack`]) and the image records in the
//! state database (`state.db`).
//!
//! Concurrency: writers of content (loads, pulls) hold a shared lock on `gc.lock` while they
//! add blobs and snapshots and write their record; [`Store::prune`] holds it exclusively, so
//! it never removes content that a load in progress is about to record.

mod blobs;
mod ensure;
mod error;
mod images;
mod lock;
pub mod schema;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

pub use blobs::{Blobs, Written};
pub use error::{Result, StoreError};
pub(crate) use error::{digest_hex, io_err};
pub use images::{ImageRecord, LayerRecord, Platform};
pub use lock::GcLock;

use crate::reference::Reference;
use crate::unpack;

/// File name of the state database under the data root.
pub const DB_FILE: &str = "state.db";

/// The image store of one data root.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    blobs: Blobs,
    db_path: PathBuf,
    db: Mutex<Connection>,
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub blobs: Vec<String>,
    pub snapshots: Vec<String>,
    /// Bytes of blobs removed.
    pub bytes: u64,
}

impl Store {
    /// Opens the store under `root`, making its directories and database when absent, and
    /// removing temp files left by dead processes.
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(io_err(root, "create data root"))?;
        let blobs = Blobs::open(root)?;
        let snapshots = root.join("snapshots");
        std::fs::create_dir_all(&snapshots).map_err(io_err(&snapshots, "create dir"))?;
        let db_path = root.join(DB_FILE);
        let conn = schema::open(&db_path)?;
        let store = Store {
            root: root.to_owned(),
            blobs,
            db_path,
            db: Mutex::new(conn),
        };
        // Leftovers only cost space: a store that cannot clear them still works.
        if let Err(err) = store.remove_stale_temps() {
            tracing::warn!(%err, root = %root.display(), "could not remove stale temp files");
        }
        Ok(store)
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// `<root>/snapshots`, for [`unpack::unpack_snapshot`] and overlay lowerdirs.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// Where the snapshot of `chain_id` lives.
    pub fn snapshot_path(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.snapshots_dir().join(digest_hex(chain_id)?))
    }

    /// Records an image under `rec.reference` (normalized first), replacing what that
    /// reference named before. Every blob and snapshot of the record must be in the store.
    pub fn put_image(&self, rec: &ImageRecord) -> Result<()> {
        let _lock = self.lock_shared()?;
        self.put_image_locked(rec)
    }

    /// [`Store::put_image`] for a caller that holds the shared GC lock.
    pub(crate) fn put_image_locked(&self, rec: &ImageRecord) -> Result<()> {
        self.record_locked(rec, true)
    }

    /// Records an image whose snapshots may be missing (a deferred pull): they are made
    /// from its blobs by [`Store::ensure_snapshots`]. The caller holds the shared GC lock.
    pub(crate) fn put_deferred_image_locked(&self, rec: &ImageRecord) -> Result<()> {
        self.record_locked(rec, false)
    }

    fn record_locked(&self, rec: &ImageRecord, need_snapshots: bool) -> Result<()> {
        for d in rec.blobs() {
            if !self.blobs.has(d)? {
                return Err(StoreError::BlobNotFound {
                    digest: d.to_owned(),
                });
            }
        }
        for l in rec.layers.iter().filter(|_| need_snapshots) {
            let p = self.snapshot_path(&l.chain_id)?;
            if !p.is_dir() {
                return Err(StoreError::BadImage {
                    manifest: rec.manifest_digest.clone(),
                    reason: format!("snapshot {} of layer {} is missing", l.chain_id, l.digest),
                });
            }
        }
        let rec = ImageRecord {
            reference: normalize(&rec.reference)?,
            ..rec.clone()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        images::put(&mut self.conn(), &rec, &self.db_path, now)
    }

    /// The image a reference names (`redis` finds `docker.io/library/redis:latest`), or a
    /// manifest digest for an image without a name.
    pub fn get_image(&self, reference: &str) -> Result<Option<ImageRecord>> {
        let key = normalize(reference)?;
        images::get(&self.conn(), &key, &self.db_path)
    }

    /// Every image record, by reference.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let conn = self.conn();
        let mut out = Vec::new();
        for r in images::references(&conn, &self.db_path)? {
            if let Some(rec) = images::get(&conn, &r, &self.db_path)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Untags: removes the reference's record (false when there was none). Content stays
    /// until [`Store::prune`].
    pub fn remove_image(&self, reference: &str) -> Result<bool> {
        let key = normalize(reference)?;
        images::remove(&mut self.conn(), &key, &self.db_path)
    }

    /// Keeps `manifest` (and so its blobs and snapshots) for `holder`, a container that runs
    /// on its snapshots, until [`Store::release`]: untagging or re-tagging the image and then
    /// pruning must not pull a rootfs from under a container. Waits for a running prune, so
    /// the snapshots exist when this returns `Ok`.
    pub fn hold(&self, holder: &str, manifest: &str) -> Result<()> {
        let _lock = self.lock_shared()?;
        if images::hold(&self.conn(), holder, manifest, &self.db_path)? {
            Ok(())
        } else {
            Err(StoreError::ImageNotFound {
                reference: manifest.to_owned(),
            })
        }
    }

    /// The image `holder` holds (see [`Store::hold`]), its `reference` the manifest digest:
    /// what a container was made from, even after its name went to another image.
    pub fn held_image(&self, holder: &str) -> Result<Option<ImageRecord>> {
        images::get_held(&self.conn(), holder, &self.db_path)
    }

    /// Drops `holder`'s hold (false when it had none); what it kept goes at the next prune.
    pub fn release(&self, holder: &str) -> Result<bool> {
        images::release(&self.conn(), holder, &self.db_path)
    }

    /// [`Store::release`] for many holders at once: one commit (the store syncs each
    /// commit), as a `down` of many containers wants.
    pub fn release_all(&self, holders: &[&str]) -> Result<()> {
        if holders.is_empty() {
            return Ok(());
        }
        images::release_all(&mut self.conn(), holders, &self.db_path)
    }

    /// Removes every blob and snapshot that no image record or hold uses, and temp files of dead
    /// processes. Holds the GC lock exclusively: loads wait, and wait for it.
    pub fn prune(&self) -> Result<PruneReport> {
        let _lock = self.lock_exclusive()?;
        let (blobs, chains) = {
            let conn = self.conn();
            images::delete_unused_manifests(&conn, &self.db_path)?;
            images::in_use(&conn, &self.db_path)?
        };
        self.remove_unused(&blobs, &chains, None)
    }

    /// Removes the images `manifests` (digests) that nothing names or holds any more, with the
    /// blobs and snapshots no other image shares; the rest of the store is left alone (what
    /// `watch --prune` does with the images a rebuild replaced).
    pub fn prune_manifests(&self, manifests: &[String]) -> Result<PruneReport> {
        let _lock = self.lock_exclusive()?;
        let (blobs, chains) = {
            let mut conn = self.conn();
            let candidates =
                images::delete_manifests_if_unused(&mut conn, manifests, &self.db_path)?;
            let used = images::in_use(&conn, &self.db_path)?;
            (candidates, used)
        };
        let ((cand_blobs, cand_chains), (used_blobs, used_chains)) = (blobs, chains);
        self.remove_unused(&used_blobs, &used_chains, Some((&cand_blobs, &cand_chains)))
    }

    /// Removes blobs and snapshots absent from `blobs`/`chains`, limited to `only` when
    /// given. The caller holds the GC lock exclusively.
    fn remove_unused(
        &self,
        blobs: &HashSet<String>,
        chains: &HashSet<String>,
        only: Option<(&[String], &[String])>,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let (cand_blobs, cand_snaps) = match only {
            Some((b, s)) => (b.to_vec(), s.to_vec()),
            None => (self.blobs.list()?, self.list_snapshots()?),
        };
        for d in cand_blobs.iter().filter(|d| !blobs.contains(*d)) {
            let size = self.blobs.size(d).unwrap_or(0);
            if self.blobs.remove(d)? {
                report.bytes += size;
                report.blobs.push(d.clone());
            }
        }
        for c in cand_snaps.iter().filter(|c| !chains.contains(*c)) {
            if self.remove_snapshot(c)? {
                report.snapshots.push(c.clone());
            }
        }
        self.remove_stale_temps()?;
        Ok(report)
    }

    /// Removes what a failed load added and no record uses. Called without the shared lock.
    pub(crate) fn roll_back(&self, new_blobs: &[String], new_snapshots: &[String]) -> Result<()> {
        if new_blobs.is_empty() && new_snapshots.is_empty() {
            return Ok(());
        }
        let _lock = self.lock_exclusive()?;
        let (blobs, chains) = images::in_use(&self.conn(), &self.db_path)?;
        self.remove_unused(&blobs, &chains, Some((new_blobs, new_snapshots)))?;
        Ok(())
    }

    /// Chain ids of the snapshots present.
    pub fn list_snapshots(&self) -> Result<Vec<String>> {
        let dir = self.snapshots_dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir, "read_dir"))? {
            let entry = entry.map_err(io_err(&dir, "read_dir"))?;
            let id = format!("sha256:{}", entry.file_name().to_string_lossy());
            if digest_hex(&id).is_ok() {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Renames the snapshot to a temp name, then removes it: a crash midway leaves a temp
    /// that [`unpack::remove_stale_temps`] clears, never a partial tree under the real name.
    fn remove_snapshot(&self, chain_id: &str) -> Result<bool> {
        let path = self.snapshot_path(chain_id)?;
        let hex = digest_hex(chain_id)?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // The temp-name shape of `unpack` (`.tmp-<chain>-<pid>-<n>`), so that its stale-temp
        // sweep clears what a crash here leaves.
        let temp = self.snapshots_dir().join(format!(
            "{}{}-{}-gc{n}",
            unpack::TEMP_PREFIX,
            &hex[..16],
            std::process::id()
        ));
        match std::fs::rename(&path, &temp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&path, "rename for removal")(e)),
        }
        std::fs::remove_dir_all(&temp).map_err(io_err(&temp, "remove snapshot"))?;
        Ok(true)
    }

    fn remove_stale_temps(&self) -> Result<()> {
        let snaps = self.snapshots_dir();
        unpack::remove_stale_temps(&snaps).map_err(|source| StoreError::Unpack {
            digest: "(stale temp dirs)".into(),
            source,
        })?;
        let ingest = self.blobs.ingest_dir();
        for entry in std::fs::read_dir(&ingest).map_err(io_err(&ingest, "read_dir"))? {
            let entry = entry.map_err(io_err(&ingest, "read_dir"))?;
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split('-').next()?.parse::<u32>().ok());
            if let Some(pid) = pid
                && !Path::new("/proc").join(pid.to_string()).exists()
            {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(io_err(&p, "remove stale temp blob"))?;
            }
        }
        Ok(())
    }

    /// Holds off [`Store::prune`] while the caller adds content and then records it (a
    /// registry pull: blobs, snapshots, then [`Store::put_image`] with this lock held is
    /// fine, since the lock is shared). Released on drop.
    pub fn content_lock(&self) -> Result<GcLock> {
        self.lock_shared()
    }

    pub(crate) fn lock_shared(&self) -> Result<GcLock> {
        GcLock::acquire(&self.root.join("gc.lock"), false)
    }

    pub(crate) fn lock_exclusive(&self) -> Result<GcLock> {
        GcLock::acquire(&self.root.join("gc.lock"), true)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection leaves it usable: SQLite rolls back.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The key of an image record: a normalized reference, or a bare manifest digest.
pub fn normalize(reference: &str) -> Result<String> {
    if digest_hex(reference).is_ok() {
        return Ok(reference.to_owned());
    }
    Ok(Reference::parse(reference)?.to_string())
}

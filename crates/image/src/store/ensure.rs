//! Snapshots made on first use: a deferred pull
//! ([`crate::registry::ClientOptions::defer_unpack`])
//! stores verified blobs and the record only; whoever needs the root filesystem (a container
//! create, a build stage) asks for the snapshots here, and the missing ones are unpacked
//! from the stored blobs.
//!
//! Safe under concurrency: the shared content lock keeps a prune from removing the blobs
//! while they are read, and each snapshot is unpacked into a temp dir (DiffID verified,
//! synced when asked) and named with `RENAME_NOREPLACE`, so of two processes making the
//! same snapshot one wins and the other drops its copy; nothing incomplete ever has the name.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::{ImageRecord, LayerRecord, Result, Store, StoreError};
use crate::unpack::{self, Compression, UnpackOptions};

/// Layers unpacked at once on first use: a layer's snapshot does not depend on its
/// parent's content, only on its ChainID, so they can go in parallel like a pull's.
const PARALLEL: usize = 4;

impl Store {
    /// The snapshot dirs of `rec`'s layers, bottom first, after unpacking the ones that are
    /// missing from their stored blobs, in parallel (each DiffID verified; `sync` makes
    /// each durable before it is named). Returns the dirs and how many were unpacked now.
    pub fn ensure_snapshots(
        &self,
        rec: &ImageRecord,
        opts: &UnpackOptions,
        sync: bool,
    ) -> Result<(Vec<PathBuf>, usize)> {
        let _lock = self.content_lock()?;
        let mut dirs = Vec::with_capacity(rec.layers.len());
        let mut missing = Vec::new();
        for (i, l) in rec.layers.iter().enumerate() {
            let path = self.snapshot_path(&l.chain_id)?;
            if !path.is_dir() {
                let parent = i.checked_sub(1).map(|p| rec.layers[p].chain_id.as_str());
                missing.push((l, parent));
            }
            dirs.push(path);
        }
        let next = AtomicUsize::new(0);
        let made = AtomicUsize::new(0);
        let first: Mutex<Option<StoreError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(missing.len()) {
                s.spawn(|| {
                    while first.lock().map_or(true, |f| f.is_none()) {
                        let Some((l, parent)) = missing.get(next.fetch_add(1, Ordering::Relaxed))
                        else {
                            break;
                        };
                        match self.unpack_once(rec, l, *parent, opts, sync) {
                            Ok(true) => {
                                made.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(e) => {
                                let mut f = first.lock().unwrap_or_else(|p| p.into_inner());
                                f.get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = first.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok((dirs, made.into_inner()))
    }

    /// [`Store::unpack_one`], made once in this process: threads that need the same
    /// snapshot at the same time (an `up` creating several containers on one image) wait for
    /// the first instead of each unpacking it.
    fn unpack_once(
        &self,
        rec: &ImageRecord,
        l: &LayerRecord,
        parent: Option<&str>,
        opts: &UnpackOptions,
        sync: bool,
    ) -> Result<bool> {
        static BUSY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        static DONE: Condvar = Condvar::new();
        let path = self.snapshot_path(&l.chain_id)?;
        {
            let mut busy = BUSY.lock().unwrap_or_else(|p| p.into_inner());
            while busy.contains(&path) {
                busy = DONE.wait(busy).unwrap_or_else(|p| p.into_inner());
            }
            if path.is_dir() {
                return Ok(false);
            }
            busy.push(path.clone());
        }
        let made = self.unpack_one(rec, l, parent, opts, sync);
        BUSY.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p| *p != path);
        DONE.notify_all();
        made
    }

    /// Unpacks one layer's snapshot from its blob; true when this call made it.
    fn unpack_one(
        &self,
        rec: &ImageRecord,
        l: &LayerRecord,
        parent: Option<&str>,
        opts: &UnpackOptions,
        sync: bool,
    ) -> Result<bool> {
        let err = |source| StoreError::Unpack {
            digest: l.digest.clone(),
            source,
        };
        let compression = Compression::from_media_type(&l.media_type).map_err(err)?;
        let blob = self.blobs().open_blob(&l.digest)?;
        let snap = unpack::unpack_snapshot(
            &self.snapshots_dir(),
            parent,
            &l.diff_id,
            blob,
            compression,
            opts,
            sync,
        )
        .map_err(err)?;
        // The record's ChainIDs follow from its DiffIDs; a record edited by hand could
        // disagree, and its snapshot would then be the wrong one.
        if snap.chain_id != l.chain_id {
            return Err(StoreError::DigestMismatch {
                what: format!("ChainID of layer {} of {}", l.digest, rec.reference),
                expected: l.chain_id.clone(),
                actual: snap.chain_id,
            });
        }
        Ok(snap.unpacked.is_some())
    }
}

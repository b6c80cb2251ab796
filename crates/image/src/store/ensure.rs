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

use super::{ImageRecord, Result, Store, StoreError};
use crate::unpack::{self, Compression, UnpackOptions};

impl Store {
    /// The snapshot dirs of `rec`'s layers, bottom first, after unpacking the ones that are
    /// missing from their stored blobs (each DiffID verified; `sync` makes each durable
    /// before it is named). Returns the dirs and how many were unpacked now.
    pub fn ensure_snapshots(
        &self,
        rec: &ImageRecord,
        opts: &UnpackOptions,
        sync: bool,
    ) -> Result<(Vec<PathBuf>, usize)> {
        let _lock = self.content_lock()?;
        let mut dirs = Vec::with_capacity(rec.layers.len());
        let mut made = 0;
        let mut parent: Option<&str> = None;
        for l in &rec.layers {
            let path = self.snapshot_path(&l.chain_id)?;
            if !path.is_dir() {
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
                // The record's ChainIDs follow from its DiffIDs; a record edited by hand
                // could disagree, and its snapshot would then be the wrong one.
                if snap.chain_id != l.chain_id {
                    return Err(StoreError::DigestMismatch {
                        what: format!("ChainID of layer {} of {}", l.digest, rec.reference),
                        expected: l.chain_id.clone(),
                        actual: snap.chain_id,
                    });
                }
                made += usize::from(snap.unpacked.is_some());
            }
            dirs.push(path);
            parent = Some(&l.chain_id);
        }
        Ok((dirs, made))
    }
}

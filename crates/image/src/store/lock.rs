//! The store's GC lock: an flock on `<root>/gc.lock`, shared for writers of content,
//! exclusive for garbage collection. Released when the guard (its file) is dropped.

use std::fs::File;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use super::error::{Result, io_err};

/// A held GC lock (see [`super::Store::content_lock`]).
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

impl GcLock {
    pub(crate) fn acquire(path: &Path, exclusive: bool) -> Result<GcLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err(path, "open lock file"))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        flock(&file, op).map_err(|e| io_err(path, "flock")(e.into()))?;
        Ok(GcLock { _file: file })
    }
}

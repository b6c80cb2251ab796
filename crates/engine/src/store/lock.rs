//! The per-project lock: commands on one project take it exclusively (flock), so two `up`s
//! or an `up` and a `down` never interleave; other projects go on in parallel. The kernel
//! drops it when the process dies, so a crash never leaves it held.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::{Result, StoreError};

/// Held while alive.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
    pub path: PathBuf,
}

impl ProjectLock {
    /// Waits for and takes the lock of `project` under `<root>/locks`.
    pub fn acquire(root: &Path, project: &str) -> Result<ProjectLock> {
        let dir = root.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, "create dir", e))?;
        let path = dir.join(format!("{project}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, "open lock", e))?;
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| StoreError::io(&path, "lock", e.into()))?;
        Ok(ProjectLock { _file: file, path })
    }

    /// Takes the lock only if free: `None` when another process holds it.
    pub fn try_acquire(root: &Path, project: &str) -> Result<Option<ProjectLock>> {
        let dir = root.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, "create dir", e))?;
        let path = dir.join(format!("{project}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, "open lock", e))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(ProjectLock { _file: file, path })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(StoreError::io(&path, "lock", e.into())),
        }
    }
}

//! A host-wide lock around "read the host's routes, pick a subnet, create the bridge", so
//! that two projects (or two test processes) never pick the same free subnet at once.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use rustix::fs::{FlockOperation, flock};

use crate::error::{Error, Result};

/// The lock file. Host-wide on purpose: the kernel's routes are shared by every state root.
pub const LOCK_PATH: &str = "/run/compose-network.lock";

/// Held while alive; dropping the file releases the flock.
#[derive(Debug)]
pub struct HostLock(#[allow(dead_code)] File);

impl HostLock {
    pub fn acquire() -> Result<Self> {
        let path = PathBuf::from(LOCK_PATH);
        let err = |source| Error::Lock {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        flock(&file, FlockOperation::LockExclusive).map_err(|e| err(e.into()))?;
        Ok(Self(file))
    }
}

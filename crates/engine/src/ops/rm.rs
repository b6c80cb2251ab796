//! `rm`: remove stopped containers (`-s` stops them first, `-v` takes their anonymous
//! volumes too).

use std::time::Duration;

use super::{check_services, parallel};
use crate::engine::{Engine, Progress, Project};
use crate::error::Result;
use crate::store::ContainerRow;

/// `rm`'s flags.
#[derive(Debug, Clone, Default)]
pub struct RmOptions {
    pub services: Vec<String>,
    /// `-s`: stop running containers first.
    pub stop: bool,
    /// `-v`: remove their anonymous volumes.
    pub volumes: bool,
    pub timeout: Option<Duration>,
}

impl Engine {
    /// The containers `rm` would remove.
    pub fn removable(&self, p: &Project<'_>, opts: &RmOptions) -> Result<Vec<ContainerRow>> {
        check_services(p, &opts.services)?;
        Ok(self
            .containers(p.name)?
            .into_iter()
            .filter(|(r, _)| opts.services.is_empty() || opts.services.contains(&r.service))
            .filter(|(_, l)| opts.stop || !l.is_up())
            .map(|(r, _)| r)
            .collect())
    }

    /// Removes them; returns how many.
    pub fn rm(&self, p: &Project<'_>, opts: &RmOptions, progress: &dyn Progress) -> Result<usize> {
        let _lock = self.lock(p.name)?;
        let rows = self.removable(p, opts)?;
        parallel(&rows, |row| {
            if opts.stop {
                self.stop(row, opts.timeout, progress)?;
            }
            self.remove(row, opts.volumes, progress)
        })?;
        Ok(rows.len())
    }
}

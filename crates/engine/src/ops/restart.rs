//! `restart`: stop the project's containers (dependents first) and start them again
//! (dependencies first), holding the project's lock throughout so that a `logs -f` sees
//! one restart, not an end.

use std::time::Duration;

use super::{check_services, parallel, stop_order};
use crate::engine::{Engine, Progress, Project};
use crate::error::{Error, Result};

impl Engine {
    /// Restarts the containers of `services` (all when empty).
    pub fn restart_services(
        &self,
        p: &Project<'_>,
        services: &[String],
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_services(p, services)?;
        let _lock = self.lock(p.name)?;
        let rows: Vec<_> = self
            .store
            .containers(p.name)?
            .into_iter()
            .filter(|r| !r.oneoff)
            .collect();
        if rows.is_empty() {
            return Err(Error::Other("no containers to restart".into()));
        }
        for level in stop_order(p, &rows, services, false)? {
            parallel(&level, |row| self.stop(row, timeout, progress))?;
        }
        self.start_rows(p, &rows, services, progress)?;
        for row in rows
            .iter()
            .filter(|r| services.is_empty() || services.contains(&r.service))
        {
            self.journal(row, "restart");
        }
        Ok(())
    }
}

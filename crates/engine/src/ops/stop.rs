//! `stop`: stop running containers, dependents first.

use std::time::Duration;

use super::{check_services, parallel, stop_order};
use crate::engine::{Engine, Progress, Project};
use crate::error::{Errors, Result};
use crate::store::ContainerRow;

impl Engine {
    /// Stops the containers of `services` (all when empty).
    pub fn stop_services(
        &self,
        p: &Project<'_>,
        services: &[String],
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_services(p, services)?;
        let _lock = self.lock(p.name)?;
        let rows = self.store.containers(p.name)?;
        let levels = stop_order(p, &rows, services, false)?;
        let r = self.stop_levels(&levels, timeout, progress);
        // Their names stop answering at once; a supervisor that does not answer re-reads
        // the store on its own.
        if let Err(e) = crate::supervisor::poke(&self.root, p.name) {
            tracing::debug!(%e, "supervisor poke");
        }
        r
    }

    /// Stops containers level by level (`levels` in stop order: dependents first) without
    /// telling the supervisor. A container that would be SIGKILLed anyway (zero grace, or
    /// a PID 1 that does not take its stop signal) is killed without waiting for its exit,
    /// so a chain of them dies at once rather than one level after the other; the order
    /// still holds where it can matter: before a container gets a signal it can act on,
    /// every dependent killed before it is gone. Goes on after failures, reports them all.
    pub(crate) fn stop_levels(
        &self,
        levels: &[Vec<ContainerRow>],
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut errors = Errors::default();
        let mut dying: Vec<&ContainerRow> = Vec::new();
        for level in levels {
            let mut graceful = Vec::new();
            for row in level {
                match self.kill_at_once(row, timeout, progress) {
                    Ok(true) => dying.push(row),
                    Ok(false) => graceful.push(row),
                    Err(e) => {
                        // The ordinary stop tries again and reports what still fails.
                        tracing::debug!(container = %row.name, %e, "kill at once failed");
                        graceful.push(row);
                    }
                }
            }
            if graceful.is_empty() {
                continue;
            }
            errors.note(parallel(&dying, |row| self.finish_kill(row, progress)));
            dying.clear();
            errors.note(parallel(&graceful, |row| {
                self.stop_unannounced(row, timeout, progress).map(drop)
            }));
        }
        errors.note(parallel(&dying, |row| self.finish_kill(row, progress)));
        errors.into_result()
    }
}

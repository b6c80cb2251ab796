//! `stop`: stop running containers, dependents first.

use std::time::Duration;

use super::{check_services, parallel, stop_order};
use crate::engine::{Engine, Progress, Project};
use crate::error::{Errors, Result};

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
        let mut errors = Errors::default();
        for level in stop_order(p, &rows, services, false)? {
            errors.note(parallel(&level, |row| self.stop(row, timeout, progress)));
        }
        errors.into_result()
    }
}

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
        no_deps: bool,
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
        // `--no-deps`: only the named services, not those that follow them with
        // `depends_on.restart: true`.
        let services = if no_deps {
            services.to_vec()
        } else {
            with_restart_dependents(p, services)?
        };
        for level in stop_order(p, &rows, &services, false)? {
            parallel(&level, |row| self.stop(row, timeout, progress))?;
        }
        self.start_rows(p, &rows, &services, progress)?;
        crate::supervisor::ensure_running(&self.root, p.name)?;
        for row in rows
            .iter()
            .filter(|r| services.is_empty() || services.contains(&r.service))
        {
            self.journal(row, "restart");
        }
        Ok(())
    }
}

/// The named services and, transitively, those that depend on one of them with
/// `restart: true` (all when none are named).
fn with_restart_dependents(p: &Project<'_>, services: &[String]) -> Result<Vec<String>> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let g = super::graph(p)?;
    let mut out: Vec<String> = services.to_vec();
    let mut i = 0;
    while let Some(s) = out.get(i).cloned() {
        for (dependent, how) in g.dependents(&s) {
            if how.restart && !out.iter().any(|o| o == dependent) {
                out.push(dependent.to_string());
            }
        }
        i += 1;
    }
    Ok(out)
}

//! `down`: stop and remove the project's containers (dependents first), then its volumes
//! with `-v`. Teardown goes on after a failure and reports every failure at the end, so one
//! stuck container never leaves the rest behind.

use std::time::Duration;

use super::stop_order;
use super::up::parallel_bounded;
use crate::engine::{Engine, Kind, Progress, Project, emit, warn};
use crate::error::{Errors, Result};
use crate::store::ContainerRow;
use crate::volumes;

/// `down`'s flags.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: remove named volumes of the project and anonymous ones.
    pub volumes: bool,
    pub remove_orphans: bool,
    /// `-t`: seconds to wait for each container to stop.
    pub timeout: Option<Duration>,
}

impl Engine {
    /// Takes the project down.
    pub fn down(&self, p: &Project<'_>, opts: &DownOptions, progress: &dyn Progress) -> Result<()> {
        let _lock = self.lock(p.name)?;
        let mut errors = Errors::default();
        let rows = self.store.containers(p.name)?;
        let orphans: Vec<&str> = rows
            .iter()
            .filter(|r| !p.model.services.contains_key(&r.service))
            .map(|r| r.name.as_str())
            .collect();
        if !orphans.is_empty() && !opts.remove_orphans {
            warn(
                progress,
                &format!(
                    "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    orphans.join(" ")
                ),
            );
        }
        // Stops keep the reverse dependency order; removals need none, so they all go at
        // once after the last stop (a chain of fifty would otherwise remove one by one).
        // The supervisor hears of the stops once, not per container: it is stopped below
        // when nothing is left, and poked when something is.
        let levels = stop_order(p, &rows, &[], opts.remove_orphans)?;
        errors.note(self.stop_levels(&levels, opts.timeout, progress));
        let all: Vec<&ContainerRow> = levels.iter().flatten().collect();
        // Their veths go with the networks below, all in one request per bridge, rather
        // than one by one here (each deletion waits out the kernel's grace periods).
        let later = std::sync::Mutex::new(crate::network::Batched::default());
        errors.note(parallel_bounded(&all, |row| {
            self.remove_with(row, opts.volumes, progress, Some(&later))
        }));
        let crate::network::Batched {
            released: later,
            holds,
        } = later
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let holds: Vec<&str> = holds.iter().map(String::as_str).collect();
        if let Err(e) = self.images.release_all(&holds) {
            // The snapshots stay until a later prune: never an error that would leave a
            // container half removed.
            tracing::warn!(error = %e, "cannot release the image holds");
        }
        if opts.volumes {
            self.remove_volumes(p, &mut errors, progress)?;
        }
        // Once no container is left: the supervisor (DNS) and the networks. They go
        // side by side: its end waits on its runtime's shutdown, theirs on the kernel's
        // grace periods, and neither needs the other gone (a socket bound to a gateway
        // that vanishes only stops hearing).
        if self.store.containers(p.name)?.is_empty() {
            let torn = std::thread::scope(|s| {
                let supervisor = s.spawn(|| crate::supervisor::stop(&self.root, p.name));
                let torn = self.teardown_networks(p, &later, &mut errors, progress);
                match supervisor.join() {
                    Ok(r) => errors.note(r),
                    Err(_) => errors.note(Err::<(), _>(crate::error::Error::Other(
                        "stopping the supervisor panicked".into(),
                    ))),
                };
                torn
            });
            torn?;
        } else {
            errors.note(self.finish_released(p.name, &later));
            errors.note(crate::supervisor::poke(&self.root, p.name));
        }
        let left = self.store.containers(p.name)?.is_empty()
            && self.store.volumes(p.name)?.is_empty()
            && self.store.networks(p.name)?.is_empty();
        if left {
            errors.note(self.store.remove_project(p.name));
            // The containers' cgroup parent, when no container of any project is under it.
            self.runner.runtime().remove_idle_cgroup_parent();
        }
        errors.into_result()
    }

    fn remove_volumes(
        &self,
        p: &Project<'_>,
        errors: &mut Errors,
        progress: &dyn Progress,
    ) -> Result<()> {
        for v in self.store.volumes(p.name)? {
            if v.external {
                continue;
            }
            // A container of another project may still use it only if it is external.
            let shown = format!("\"{}\"", v.name);
            emit(progress, Kind::Volume, &shown, "Removing");
            if errors.note(volumes::remove(&self.root, &v.name)).is_some()
                && errors.note(self.store.remove_volume(&v.name)).is_some()
            {
                emit(progress, Kind::Volume, &shown, "Removed");
            }
        }
        Ok(())
    }
}

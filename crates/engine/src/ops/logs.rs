//! `logs`: the project's containers' output, from the logs their shims write.

use crate::engine::Engine;
use crate::error::Result;
use crate::logs::{self, Line, Window};
use crate::store::{ContainerRow, ProjectLock};

/// What `logs` shows of each container.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// The last N lines only.
    pub tail: Option<usize>,
    /// Keep reading as the container writes, until it stops for good.
    pub follow: bool,
    pub window: Window,
    /// With `follow`: a stop that a command holding the project's lock follows with a
    /// start (`restart`) does not end it.
    pub across_restarts: bool,
}

impl Engine {
    /// The containers whose logs `logs` shows.
    pub fn log_containers(&self, project: &str, services: &[String]) -> Result<Vec<ContainerRow>> {
        Ok(self
            .store
            .containers(project)?
            .into_iter()
            .filter(|r| !r.oneoff)
            .filter(|r| services.is_empty() || services.contains(&r.service))
            .collect())
    }

    /// Calls `emit` for each line of `row`'s log, then, with `follow`, for each new line
    /// until the container has stopped for good: a stop that a command holding the
    /// project's lock (`restart`, `start`, `up`) follows with a start is waited out, and the
    /// restarted container's lines (appended to the same log) follow.
    pub fn container_logs(
        &self,
        row: &ContainerRow,
        opts: LogOptions,
        mut emit: impl FnMut(Line),
    ) -> Result<()> {
        let path = self.log_path(&row.id);
        let (lines, read) = logs::read(&path, opts.tail, opts.window)?;
        lines.into_iter().for_each(&mut emit);
        if !opts.follow {
            return Ok(());
        }
        let done = || {
            if !self.runner.finished(&row.id) {
                return false;
            }
            // Its restart policy brings it back: its next lines follow.
            if self.restart_expected(row) {
                return false;
            }
            if !opts.across_restarts {
                return true;
            }
            // Whoever holds the lock may be restarting it: wait for them, then look again.
            match ProjectLock::acquire(&self.root, &row.project) {
                Ok(_lock) => self.runner.finished(&row.id),
                Err(_) => true,
            }
        };
        logs::follow(&path, read, opts.window, emit, done)
    }
}

//! `logs`: the project's containers' output, from their log files.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{self, Line};
use crate::runner::Live;
use crate::store::ContainerRow;

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

    /// Calls `emit` for each line of `row`'s log (the last `tail`), then, with `follow`,
    /// for each new line until the container stops.
    pub fn container_logs(
        &self,
        row: &ContainerRow,
        tail: Option<usize>,
        follow: bool,
        mut emit: impl FnMut(Line),
    ) -> Result<()> {
        let path = self.log_path(&row.id);
        let io = |e: std::io::Error| Error::Other(format!("log of {}: {e}", row.name));
        let (lines, offset) = logs::read(&path, tail).map_err(io)?;
        lines.into_iter().for_each(&mut emit);
        if follow {
            let done = || !matches!(self.runner.status(&row.id), Live::Running | Live::Created);
            logs::follow(&path, offset, emit, done).map_err(io)?;
        }
        Ok(())
    }
}

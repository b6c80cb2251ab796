//! Stopping what a reload left running: after reloads, the project's containers may belong
//! to services the first-loaded model never had, so an attached `up`'s Ctrl-C stops by the
//! record, not by that model.

use std::time::Duration;

use crate::ops::parallel;
use crate::{Engine, Progress, Result};

/// Stops every container of `project` that still runs (in parallel: the graph they were
/// started along may be gone from the files).
pub fn stop_project(
    engine: &Engine,
    project: &str,
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    let _lock = engine.lock(project)?;
    let rows: Vec<_> = engine
        .containers(project)?
        .into_iter()
        .filter(|(_, live)| live.is_up())
        .map(|(row, _)| row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    parallel(&rows, |row| engine.stop(row, timeout, progress))
}

//! `pause` and `unpause`: every process of the services' containers frozen or thawed.

use super::{check_services, parallel};
use crate::engine::{Engine, Kind, Progress, Project, emit};
use crate::error::Result;
use crate::runner::Live;

impl Engine {
    /// Freezes (`frozen`) or thaws the running (or paused) containers of `services`.
    pub fn pause_services(
        &self,
        p: &Project<'_>,
        services: &[String],
        frozen: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_services(p, services)?;
        let _lock = self.lock(p.name)?;
        let from = if frozen { Live::Running } else { Live::Paused };
        let (doing, done) = if frozen {
            ("Pausing", "Paused")
        } else {
            ("Unpausing", "Unpaused")
        };
        let rows: Vec<_> = self
            .store
            .containers(p.name)?
            .into_iter()
            .filter(|r| services.is_empty() || services.contains(&r.service))
            .filter(|r| self.live(r) == from)
            .collect();
        parallel(&rows, |row| {
            emit(progress, Kind::Container, &row.name, doing);
            self.runner.pause(&row.id, &row.name, frozen)?;
            self.journal(row, if frozen { "pause" } else { "unpause" });
            emit(progress, Kind::Container, &row.name, done);
            Ok(())
        })
    }
}

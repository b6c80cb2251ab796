//! `kill`: send a signal to running containers.

use super::{check_services, parallel};
use crate::engine::{Engine, Kind, Progress, Project, emit};
use crate::error::Result;

impl Engine {
    /// Sends `signal` to the running containers of `services` (all when empty).
    pub fn kill_services(
        &self,
        p: &Project<'_>,
        services: &[String],
        signal: i32,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_services(p, services)?;
        let _lock = self.lock(p.name)?;
        let rows: Vec<_> = self
            .store
            .containers(p.name)?
            .into_iter()
            .filter(|r| services.is_empty() || services.contains(&r.service))
            .filter(|r| self.live(r).is_up())
            .collect();
        parallel(&rows, |row| {
            emit(progress, Kind::Container, &row.name, "Killing");
            self.mark_user_stopped(&row.id)?;
            self.runner.kill(&row.id, &row.name, signal)?;
            let ev = crate::events::Event::container(row, "kill").with("signal", signal);
            self.journal_event(p.name, &ev);
            emit(progress, Kind::Container, &row.name, "Killed");
            Ok(())
        })
    }
}

impl Engine {
    /// Sends `signal` to every running container of the project without waiting for the
    /// project lock: the second Ctrl-C of an attached `up`, while a graceful stop holds it.
    pub fn kill_now(&self, project: &str, signal: i32) -> Result<()> {
        for row in self.store.containers(project)? {
            if self.live(&row).is_up() {
                self.mark_user_stopped(&row.id)?;
                self.runner.kill(&row.id, &row.name, signal)?;
            }
        }
        Ok(())
    }
}

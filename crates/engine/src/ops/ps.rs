//! `ps`: the project's containers and their status.

use crate::engine::Engine;
use crate::error::Result;
use crate::runner::Live;
use crate::store::ContainerRow;

/// One container as `ps` shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub row: ContainerRow,
    pub live: Live,
    /// The health check's last verdict, for containers that have one and were checked.
    pub health: Option<crate::health::Status>,
    /// Exited, and its restart policy's next run is scheduled by the supervisor: Docker's
    /// `restarting` state.
    pub restarting: bool,
    /// Restarts by its policy since the user last started it (Docker's `RestartCount`).
    pub restarts: u32,
}

impl Entry {
    /// Docker's state word: `created`, `running`, `restarting`, `exited`, `dead` (record
    /// without a runtime container).
    pub fn state(&self) -> &'static str {
        if self.restarting {
            return "restarting";
        }
        match self.live {
            Live::Created => "created",
            Live::Running => "running",
            Live::Paused => "paused",
            Live::Exited(_) => "exited",
            Live::Missing => "dead",
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.live {
            Live::Exited(c) => c,
            _ => None,
        }
    }
}

impl Engine {
    /// The project's containers (`all`: stopped ones too), for `services` (all when empty).
    pub fn ps(&self, project: &str, services: &[String], all: bool) -> Result<Vec<Entry>> {
        Ok(self
            .containers(project)?
            .into_iter()
            .filter(|(r, _)| services.is_empty() || services.contains(&r.service))
            .map(|(row, live)| self.ps_entry(row, live))
            // As Docker's `ps`: a restarting container is listed without `-a`.
            .filter(|e| all || e.live.is_up() || e.restarting)
            .collect())
    }

    /// A container as `ps` and `ls` show it: its health, and whether the supervisor has
    /// a restart of it scheduled.
    pub(crate) fn ps_entry(&self, row: ContainerRow, live: Live) -> Entry {
        let health = row.info.health.as_ref().map(|_| {
            self.health(&row.id)
                .map_or(crate::health::Status::Starting, |h| h.status)
        });
        let record = self.restart_record(&row.id);
        let restarting = matches!(live, Live::Exited(_))
            && record.pending
            && !record.stopped
            && crate::supervisor::is_running(&self.root, &row.project);
        Entry {
            row,
            live,
            health,
            restarting,
            restarts: record.count,
        }
    }
}

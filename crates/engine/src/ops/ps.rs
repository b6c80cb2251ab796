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
}

impl Entry {
    /// Docker's state word: `created`, `running`, `exited`, `dead` (record without a
    /// runtime container).
    pub fn state(&self) -> &'static str {
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
            .map(|(row, live)| Entry { row, live })
            .filter(|e| all || e.live.is_up())
            .collect())
    }
}

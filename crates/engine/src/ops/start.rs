//! `start`: start the project's existing containers, dependencies first.

use super::{check_services, parallel, start_order};
use crate::container::Target;
use crate::engine::{Engine, Progress, Project};
use crate::error::{Error, Result};
use crate::image;
use crate::runner::Live;
use crate::store::ContainerRow;

impl Engine {
    /// Starts the stopped containers of `services` (all when empty). A stopped container
    /// is made again in place (same id, name, volumes, writable layer).
    pub fn start_services(
        &self,
        p: &Project<'_>,
        services: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        check_services(p, services)?;
        let _lock = self.lock(p.name)?;
        let rows = self.store.containers(p.name)?;
        if rows.is_empty() {
            return Err(Error::Other(
                "service(s) not found: no containers to start".into(),
            ));
        }
        self.start_rows(p, &rows, services, progress)?;
        crate::supervisor::ensure_running(&self.root, p.name)?;
        Ok(())
    }

    /// Starts the stopped ones of `rows` (of `services`, all when empty), dependencies
    /// first; the caller holds the project's lock.
    pub(crate) fn start_rows(
        &self,
        p: &Project<'_>,
        rows: &[ContainerRow],
        services: &[String],
        progress: &dyn Progress,
    ) -> Result<()> {
        for level in start_order(p, rows, services)? {
            parallel(&level, |row| {
                let mut handle = match self.live(row) {
                    Live::Running | Live::Paused => return Ok(()),
                    Live::Created => self.runner.load(&row.id, &row.name)?,
                    Live::Exited(_) | Live::Missing => {
                        // Made again in place: same id, name, volumes and writable layer.
                        let svc = p.service(&row.service)?;
                        let img = image::resolve_existing(
                            &self.images,
                            &row.id,
                            &row.service,
                            &crate::build::service_image(p.name, &row.service, svc),
                        )?;
                        self.create(p, &row.service, &img, Target::Again(row), progress)?
                            .1
                    }
                };
                self.start(row, &mut handle, progress)
            })?;
        }
        Ok(())
    }
}

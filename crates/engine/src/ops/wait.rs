//! `wait`: block until the services' containers stop; the first exit code is the answer.

use std::sync::mpsc;

use super::check_services;
use crate::engine::{Engine, Project};
use crate::error::{Error, Result};

impl Engine {
    /// Waits for the first of the containers of `services` (all when empty) to exit: its
    /// name and exit code (stopped ones count at once).
    pub fn wait_first(&self, p: &Project<'_>, services: &[String]) -> Result<(String, i32)> {
        check_services(p, services)?;
        let rows: Vec<_> = self
            .containers(p.name)?
            .into_iter()
            .filter(|(r, _)| services.is_empty() || services.contains(&r.service))
            .map(|(r, _)| r)
            .collect();
        if rows.is_empty() {
            return Err(Error::Other("no containers to wait for".into()));
        }
        let (tx, rx) = mpsc::channel();
        for row in rows {
            let (tx, runner) = (tx.clone(), self.runner.clone());
            // Not scoped: the others stay blocked when the first answers, and the command
            // ends without them.
            std::thread::spawn(move || {
                let r = runner.wait(&row.id, &row.name).map(|c| (row.name, c));
                let _ = tx.send(r);
            });
        }
        drop(tx);
        rx.recv()
            .map_err(|_| Error::Other("no container reported its exit".into()))?
            .map_err(Error::from)
    }
}

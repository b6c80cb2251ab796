//! `up --reload` (or `COMPOSE_RELOAD=1`): the engine's reload loop beside an attached `up`.
//! Its reports go to stderr; the containers each reload leaves running are handed to the
//! attach loop, which follows the new ones.

use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use compose_engine::Engine;
use compose_engine::ops::up::UpOptions;
use compose_engine::reload::{self, Event, ReloadHandle, ReloadOptions};
use compose_engine::store::ContainerRow;

use crate::{Global, Progress};

/// The running loop and what it reports to the attach loop.
pub struct Reload {
    handle: Option<ReloadHandle>,
    rows: mpsc::Receiver<Vec<ContainerRow>>,
}

impl Reload {
    /// Starts the loop on the project `global` names, applying with `up`'s options.
    pub fn start(global: &Global, up: &UpOptions) -> anyhow::Result<Reload> {
        let load = super::config::options(global, &[], false)?;
        let engine = Arc::new(Engine::open(&global.data_root)?);
        let quiet = global.progress == Progress::Quiet;
        let (tx, rows) = mpsc::channel();
        let tx = Mutex::new(tx);
        let out: reload::Sink = Arc::new(move |e: Event| {
            if let Event::Applied { containers } = &e
                && let Ok(tx) = tx.lock()
            {
                let _ = tx.send(containers.clone());
            }
            if !(quiet && matches!(e, Event::Progress { .. })) {
                eprintln!("{e}");
            }
        });
        let handle = reload::spawn(engine, ReloadOptions::new(load, up.clone()), out)
            .context("starting the reload loop")?;
        Ok(Reload {
            handle: Some(handle),
            rows,
        })
    }

    /// The containers of the reloads applied since the last call.
    pub fn applied(&self) -> Vec<ContainerRow> {
        self.rows.try_iter().flatten().collect()
    }

    /// Stops the loop (a reload under way finishes first).
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop();
        }
    }

    /// Whether the loop still runs.
    pub fn active(&self) -> bool {
        self.handle.is_some()
    }
}

//! The reload loop: while a stack runs, a change to any file the project was read from
//! (compose files, overrides, included and `extends` files, `.env`, `env_file`s) re-loads
//! the project and applies only the difference through `up`: services whose config hash
//! changed are recreated, new ones started, removed ones stopped and removed; untouched ones
//! keep running. A project that no longer loads changes nothing; the next good save applies.
//!
//! - [`changes`]: what a reload does to each service and why (pure).
//! - [`watch`]: the files' directories under inotify, bursts debounced into one change.
//! - [`apply`]: one reload: load, compare, `up`, report.
//! - [`event`]: what the loop reports.
//! - [`stop`]: stopping every container a reload left running.

mod apply;
pub mod changes;
pub mod event;
pub mod stop;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use changes::{Change, ServiceChange};
pub use event::Event;
pub use stop::stop_project;

use crate::Engine;
use crate::ops::up::UpOptions;

/// What the loop loads and how it applies.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// How the project is loaded: project dir, `-f` files, `--env-file`, profiles, project
    /// name, the process environment (the same options the first `up` loaded with).
    pub load: compose::load::Options,
    /// How changes are applied (`services`, `timeout`, `build`, `pull`...). Orphans are
    /// always removed: a service dropped from the file is stopped and removed.
    pub up: UpOptions,
    /// Quiet time after the last file event before a reload (an editor's save is several
    /// events).
    pub debounce: Duration,
}

impl ReloadOptions {
    /// Options with the default debounce (100 ms).
    pub fn new(load: compose::load::Options, up: UpOptions) -> ReloadOptions {
        ReloadOptions {
            load,
            up,
            debounce: Duration::from_millis(100),
        }
    }
}

/// Where the loop's reports go; called from the loop's thread.
pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// The reload loop's errors (only at start: later failures are reported as events).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reload: {0}")]
    Load(#[from] compose::Error),
    #[error("reload: project {0} was loaded with --no-interpolate; it cannot be applied")]
    NoModel(String),
    #[error("reload: watching {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("reload: starting the loop's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The running loop. Dropping it without [`ReloadHandle::stop`] leaves the loop running
/// until the process ends.
pub struct ReloadHandle {
    stop: mpsc::Sender<watch::Msg>,
    thread: JoinHandle<()>,
}

impl ReloadHandle {
    /// Stops the loop and waits for it (a reload under way finishes first).
    pub fn stop(self) {
        let _ = self.stop.send(watch::Msg::Stop);
        let _ = self.thread.join();
    }
}

/// Loads the project now (the baseline the first change is compared with), starts watching
/// every file it was read from, and runs the loop on a thread of its own. Fails when the
/// project does not load or the files cannot be watched; then nothing runs.
pub fn spawn(
    engine: Arc<Engine>,
    opts: ReloadOptions,
    out: Sink,
) -> Result<ReloadHandle, ReloadError> {
    let baseline = apply::load(&opts.load)?;
    let (tx, rx) = mpsc::channel();
    let mut watcher = watch::Watcher::new(tx.clone())?;
    watcher.follow(&baseline.inputs)?;
    out(Event::Watching {
        files: baseline.inputs.clone(),
    });
    let mut state = apply::Reloader {
        engine,
        opts,
        out,
        current: baseline,
    };
    let thread = std::thread::Builder::new()
        .name("compose-reload".into())
        .spawn(move || state.run(&mut watcher, &rx))
        .map_err(ReloadError::Thread)?;
    Ok(ReloadHandle { stop: tx, thread })
}

//! `develop.watch`: the loop behind `compose watch` and `up --watch`. It watches each rule's
//! host path (inotify, through notify), gathers the changes into debounced batches and acts
//! on each batch per service (sync, restart, sync+restart, sync+exec, rebuild).
//!
//! - [`rules`]: compiled rules, what a rule covers and where a path lands inside.
//! - [`debounce`]: batching of changes.
//! - [`sync`]: writes and removals inside a container's root that never leave it.
//! - [`actions`]: what a batch does to each service.
//!
//! The loop runs until a shared stop flag is set, so it can run beside another loop (the
//! reload loop) on its own thread, both stopped by one Ctrl-C.

pub mod actions;
pub mod debounce;
pub mod rules;
pub mod sync;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::engine::{Engine, Progress, Project};

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("service {service}: develop.watch[{index}]: {reason}")]
    Rule {
        service: String,
        index: usize,
        reason: String,
    },
    #[error(
        "none of the selected services is configured for watch, consider setting a 'develop' section"
    )]
    NothingToWatch,
    #[error("watching {path}: {source}")]
    Notify {
        path: String,
        #[source]
        source: notify::Error,
    },
    #[error(transparent)]
    Engine(#[from] crate::Error),
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The services whose rules run (every service with `develop.watch` when empty).
    pub services: Vec<String>,
    /// `--prune`: remove dangling images after a rebuild.
    pub prune: bool,
    /// How long files must be quiet before a batch goes.
    pub quiet: Duration,
    /// How long a batch may wait at most.
    pub longest: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            services: Vec::new(),
            prune: false,
            // Long enough to gather an editor's save or a checkout (their events come
            // microseconds apart), short enough to feel immediate.
            quiet: Duration::from_millis(20),
            longest: Duration::from_secs(2),
        }
    }
}

/// Where the loop's messages go; `service` is the one a message is about.
pub trait WatchOutput: Sync {
    fn info(&self, service: Option<&str>, message: &str);
    fn error(&self, service: Option<&str>, message: &str);
}

/// How often the loop looks at the stop flag when nothing happens.
const TICK: Duration = Duration::from_millis(100);

impl Engine {
    /// Runs the rules of `opts.services` until `stop` is set. Returns an error only when
    /// watching cannot start; errors of actions are printed and the loop goes on.
    pub fn watch(
        &self,
        p: &Project<'_>,
        opts: &WatchOptions,
        stop: &AtomicBool,
        out: &dyn WatchOutput,
        progress: &dyn Progress,
    ) -> Result<(), WatchError> {
        let rules = self.watch_rules(p, &opts.services)?;
        let (tx, rx) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })
        .map_err(|source| WatchError::Notify {
            path: p.working_dir.clone(),
            source,
        })?;
        let mut watched: Vec<&Path> = Vec::new();
        for rule in &rules {
            if watched.contains(&rule.path.as_path()) {
                continue;
            }
            watched.push(&rule.path);
            if !rule.path.exists() {
                out.error(
                    Some(&rule.service),
                    &format!(
                        "{}: no such file or directory, not watched",
                        rule.path.display()
                    ),
                );
                continue;
            }
            watcher
                .watch(&rule.path, RecursiveMode::Recursive)
                .map_err(|source| WatchError::Notify {
                    path: rule.path.display().to_string(),
                    source,
                })?;
        }
        // After the watches are set: nothing changed during the initial sync is lost.
        for rule in rules.iter().filter(|r| r.initial_sync && r.syncs()) {
            match self.initial_sync(p, rule) {
                Ok(0) => {}
                Ok(n) => out.info(
                    Some(&rule.service),
                    &format!(
                        "Syncing service {:?} after {n} changes were detected",
                        rule.service
                    ),
                ),
                Err(e) => out.error(Some(&rule.service), &format!("initial sync: {e}")),
            }
        }
        out.info(None, "Watch enabled");
        self.watch_loop(p, &rules, opts, &rx, stop, out, progress);
        out.info(None, "Watch disabled");
        drop(watcher);
        Ok(())
    }

    /// The compiled rules of `services` (all when empty); none is an error.
    pub fn watch_rules(
        &self,
        p: &Project<'_>,
        services: &[String],
    ) -> Result<Vec<rules::Rule>, WatchError> {
        crate::ops::check_services(p, services)?;
        let selected: Vec<(String, &compose::model::service::Service)> = p
            .model
            .services
            .iter()
            .filter(|(n, _)| services.is_empty() || services.contains(n))
            .map(|(n, s)| (n.clone(), s))
            .collect();
        let rules = rules::compile(&selected, Path::new(&p.working_dir))?;
        if rules.is_empty() {
            return Err(WatchError::NothingToWatch);
        }
        Ok(rules)
    }

    #[allow(clippy::too_many_arguments)]
    fn watch_loop(
        &self,
        p: &Project<'_>,
        rules: &[rules::Rule],
        opts: &WatchOptions,
        rx: &mpsc::Receiver<notify::Result<notify::Event>>,
        stop: &AtomicBool,
        out: &dyn WatchOutput,
        progress: &dyn Progress,
    ) {
        let mut batch = debounce::Batcher::new(opts.quiet, opts.longest);
        while !stop.load(Ordering::SeqCst) {
            let wait = batch.wait(Instant::now()).unwrap_or(TICK).min(TICK);
            match rx.recv_timeout(wait) {
                Ok(ev) => note(&mut batch, ev, out),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(ev) = rx.try_recv() {
                note(&mut batch, ev, out);
            }
            if batch.due(Instant::now()) {
                let paths = batch.take();
                self.dispatch(p, rules, &paths, opts, out, progress);
            }
        }
    }
}

/// Adds an event's paths to the batch (reads of files are not changes).
fn note(batch: &mut debounce::Batcher, ev: notify::Result<notify::Event>, out: &dyn WatchOutput) {
    match ev {
        Ok(ev) => {
            if matches!(ev.kind, EventKind::Access(_)) {
                return;
            }
            let now = Instant::now();
            for path in ev.paths {
                batch.add(path, now);
            }
        }
        Err(e) => out.error(None, &format!("watching files: {e}")),
    }
}

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

use std::path::{Path, PathBuf};
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
        for rule in rules.iter().filter(|r| !r.path.exists()) {
            out.error(
                Some(&rule.service),
                &format!(
                    "{}: no such file or directory, not watched",
                    rule.path.display()
                ),
            );
        }
        for (path, mode) in watch_set(rules.iter().map(|r| r.path.as_path())) {
            watcher
                .watch(&path, mode)
                .map_err(|source| WatchError::Notify {
                    path: path.display().to_string(),
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

/// What to watch for rules on `paths`: a directory with all it holds; a file through its
/// directory (editors save by renaming a new file over the old one, which would end a watch
/// on the file itself). Paths inside a watched tree are not watched again.
fn watch_set<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<(PathBuf, RecursiveMode)> {
    let mut trees: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => trees.push(p.to_path_buf()),
            Ok(_) => dirs.extend(p.parent().map(Path::to_path_buf)),
            Err(_) => {}
        }
    }
    trees.sort();
    trees.dedup();
    let outer: Vec<PathBuf> = trees
        .iter()
        .filter(|t| !trees.iter().any(|o| o != *t && t.starts_with(o)))
        .cloned()
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut out: Vec<(PathBuf, RecursiveMode)> = outer
        .iter()
        .map(|t| (t.clone(), RecursiveMode::Recursive))
        .collect();
    for d in dirs {
        if !outer.iter().any(|t| d.starts_with(t)) {
            out.push((d, RecursiveMode::NonRecursive));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_trees_and_files_are_watched_once() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        for d in ["src/sub", "other"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        for f in ["src/sub/x.txt", "package.json", "other/conf.ini"] {
            std::fs::write(p.join(f), "").unwrap();
        }
        let rules = [
            p.join("src"),
            p.join("src/sub"),
            p.join("src/sub/x.txt"),
            p.join("package.json"),
            p.join("other/conf.ini"),
            p.join("missing"),
        ];
        let got = watch_set(rules.iter().map(PathBuf::as_path));
        let want = vec![
            (p.join("src"), RecursiveMode::Recursive),
            (p.join("other"), RecursiveMode::NonRecursive),
            (p.to_path_buf(), RecursiveMode::NonRecursive),
        ];
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want = want;
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want);
    }
}

//! `compose watch`: bring the services up (unless `--no-up`) and run their `develop.watch`
//! rules until Ctrl-C; also the watch loop `up --watch` runs beside its attached output.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use compose_engine::Project;
use compose_engine::ops::up::UpOptions;
use compose_engine::watch::{WatchOptions, WatchOutput};

use super::up::{Printer, Session, refuse_dry_run};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Only these services' rules (all services with `develop.watch` when none).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Do not build & start services before watching.
    #[arg(long)]
    pub no_up: bool,
    /// Prune dangling images on rebuild (`--prune=false` keeps them).
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub prune: bool,
    /// Hide build output.
    #[arg(long)]
    pub quiet: bool,
}

/// Watch messages on stderr, `⦿`-marked as Docker Compose marks them, with the service.
struct Lines;

impl WatchOutput for Lines {
    fn info(&self, service: Option<&str>, message: &str) {
        let mut err = std::io::stderr().lock();
        let _ = match service {
            Some(s) => writeln!(err, "{s}  ⦿ {message}"),
            None => writeln!(err, "⦿ {message}"),
        };
    }

    fn error(&self, service: Option<&str>, message: &str) {
        let mut err = std::io::stderr().lock();
        let _ = match service {
            Some(s) => writeln!(err, "{s}  ⦿ error: {message}"),
            None => writeln!(err, "⦿ error: {message}"),
        };
    }
}

pub fn run(global: &Global, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    refuse_dry_run(global, "watch")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    // Refuse a project without rules before starting anything.
    session.engine.watch_rules(&project, &args.services)?;
    let progress = if args.quiet {
        Printer::quiet()
    } else {
        Printer::new(global)
    };
    let opts = UpOptions {
        services: args.services.clone(),
        ..UpOptions::default()
    };
    if !args.no_up {
        session.engine.up(&project, &opts, &progress)?;
    }
    // Beside the rules: the reload loop, which applies edits of the compose files and `.env`.
    let mut reload = super::reload::Reload::start(global, &opts)?;
    compose_engine::interrupt::catch().context("installing the Ctrl-C handler")?;
    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                if compose_engine::interrupt::count() > 0 {
                    stop.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = loops(
            &session,
            &project,
            &args.services,
            args.prune,
            &stop,
            &progress,
        );
        stop.store(true, Ordering::SeqCst);
        r
    });
    reload.stop();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the watch loops until `stop` is set.
fn loops(
    session: &Session,
    project: &Project<'_>,
    services: &[String],
    prune: bool,
    stop: &AtomicBool,
    progress: &Printer,
) -> anyhow::Result<()> {
    let mut opts = WatchOptions {
        services: services.to_vec(),
        prune,
        ..WatchOptions::default()
    };
    // How long files must be quiet before a batch goes (slow disks, huge checkouts).
    if let Ok(ms) = std::env::var("COMPOSE_WATCH_QUIET_MS") {
        let ms: u64 = ms
            .parse()
            .with_context(|| format!("COMPOSE_WATCH_QUIET_MS={ms:?}: not a number of ms"))?;
        opts.quiet = Duration::from_millis(ms);
    }
    session
        .engine
        .watch(project, &opts, stop, &Lines, progress)
        .map_err(|e| {
            stop.store(true, Ordering::SeqCst);
            e.into()
        })
}

/// `up --watch`: runs `f` (the attached output) with the watch loops beside it; they stop
/// when `f` returns.
pub fn beside<T: Send>(
    global: &Global,
    session: &Session,
    project: &Project<'_>,
    services: &[String],
    f: impl FnOnce() -> T + Send,
) -> anyhow::Result<T> {
    session.engine.watch_rules(project, services)?;
    let progress = Printer::new(global);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| loops(session, project, services, true, &stop, &progress));
        let out = f();
        stop.store(true, Ordering::SeqCst);
        match watcher.join() {
            Ok(r) => r.map(|()| out),
            Err(_) => anyhow::bail!("the watch thread panicked"),
        }
    })
}

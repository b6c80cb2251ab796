//! `compose logs`: the containers' output with `name  | ` prefixes.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use compose_engine::logs::{Line, Window};
use compose_engine::ops::logs::LogOptions;
use compose_engine::store::ContainerRow;

use super::up::Session;
use crate::{Ansi, Global};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Produce monochrome output.
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42
    /// minutes).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for
    /// 42 minutes).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Index of the container if the service has multiple replicas.
    #[arg(long, value_name = "INDEX")]
    pub index: Option<u32>,
}

/// Parses `--since`/`--until`.
fn when(flag: &str, v: &Option<String>) -> anyhow::Result<Option<std::time::SystemTime>> {
    let Some(v) = v else { return Ok(None) };
    match compose_engine::logs::parse_when(v, std::time::SystemTime::now()) {
        Some(t) => Ok(Some(t)),
        None => anyhow::bail!(
            "invalid --{flag} {v:?}: expected a timestamp (2006-01-02T15:04:05Z or Unix seconds) or a duration (42m)"
        ),
    }
}

/// Colors Docker Compose cycles through for prefixes.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// How a container's lines are prefixed: `web-1  | ` (the container name without the
/// project, as Docker Compose v2 shows it).
pub(crate) fn display_name(row: &ContainerRow) -> String {
    row.name
        .strip_prefix(&format!("{}-", row.project))
        .unwrap_or(&row.name)
        .to_string()
}

pub(crate) struct Printer {
    prefix: bool,
    timestamps: bool,
    color: bool,
    width: usize,
    out: Mutex<std::io::Stdout>,
}

/// `NO_COLOR` set and not empty (no-color.org): no colors unless `--ansi always`.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Printer {
    /// Prefixes `names`' lines (unless `no_prefix`), colored when `color` and stdout is a
    /// terminal or `--ansi always`.
    pub(crate) fn new(
        global: &Global,
        names: &[String],
        no_prefix: bool,
        timestamps: bool,
        no_color: bool,
    ) -> Printer {
        let color = !no_color
            && match global.ansi {
                Ansi::Never => false,
                Ansi::Always => true,
                Ansi::Auto => std::io::stdout().is_terminal() && !no_color_env(),
            };
        Printer {
            prefix: !no_prefix,
            timestamps,
            color,
            width: names.iter().map(String::len).max().unwrap_or(0) + 1,
            out: Mutex::new(std::io::stdout()),
        }
    }

    /// Prints a line of our own (`Attaching to ...`, `web-1 exited with code 0`).
    pub(crate) fn say(&self, text: &str) {
        let out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut l = out.lock();
        let _ = writeln!(l, "{text}");
        let _ = l.flush();
    }

    pub(crate) fn print(&self, i: usize, name: &str, line: &Line) {
        let mut s = String::new();
        if self.prefix {
            let p = format!("{name:<w$} | ", w = self.width);
            if self.color {
                s.push_str(&format!("\x1b[{}m{p}\x1b[0m", COLORS[i % COLORS.len()]));
            } else {
                s.push_str(&p);
            }
        }
        if self.timestamps
            && let Some(t) = &line.time
        {
            s.push_str(t);
            s.push(' ');
        }
        s.push_str(&line.text);
        s.push('\n');
        let out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut l = out.lock();
        let _ = l.write_all(s.as_bytes());
        let _ = l.flush();
    }
}

pub fn run(global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let opts = LogOptions {
        tail,
        follow: args.follow,
        window: Window {
            since: when("since", &args.since)?,
            until: when("until", &args.until)?,
        },
        across_restarts: true,
    };
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    for s in &args.services {
        if !project.model.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let mut rows = session
        .engine
        .log_containers(project.name, &args.services)?;
    if let Some(i) = args.index {
        rows.retain(|r| r.number == i && !r.oneoff);
        if rows.is_empty() {
            anyhow::bail!("no container with index {i}");
        }
    }
    let names: Vec<String> = rows.iter().map(display_name).collect();
    let printer = Printer::new(
        global,
        &names,
        args.no_log_prefix,
        args.timestamps,
        args.no_color,
    );
    let engine = &session.engine;
    let errors = Mutex::new(Vec::new());
    let running = AtomicUsize::new(0);
    let mut known: HashSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    let ctx = Follow {
        engine,
        printer: &printer,
        errors: &errors,
        running: &running,
        opts,
    };
    std::thread::scope(|s| -> anyhow::Result<()> {
        for (i, row) in rows.into_iter().enumerate() {
            ctx.spawn(s, i, row);
        }
        if !args.follow {
            return Ok(());
        }
        // Containers made while we follow (a recreate has a new id): followed too, from
        // their first line. Over once every follower ended and, under the project's lock
        // (no command is making one), no new container is there.
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let idle = running.load(Ordering::SeqCst) == 0;
            let _lock = if idle {
                Some(engine.lock(project.name)?)
            } else {
                None
            };
            let fresh: Vec<ContainerRow> = engine
                .log_containers(project.name, &args.services)?
                .into_iter()
                .filter(|r| !known.contains(&r.id))
                .collect();
            if idle && fresh.is_empty() {
                return Ok(());
            }
            for row in fresh {
                known.insert(row.id.clone());
                ctx.spawn(s, known.len() - 1, row);
            }
        }
    })?;
    if let Some(e) = errors.into_inner().unwrap_or_else(|p| p.into_inner()).pop() {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// What each follower thread shares.
struct Follow<'a> {
    engine: &'a compose_engine::Engine,
    printer: &'a Printer,
    errors: &'a Mutex<Vec<compose_engine::Error>>,
    running: &'a AtomicUsize,
    opts: LogOptions,
}

impl<'a> Follow<'a> {
    /// Prints `row`'s log (and follows it with `-f`) on a thread of `s`.
    fn spawn<'s>(&'s self, s: &'s std::thread::Scope<'s, '_>, i: usize, row: ContainerRow)
    where
        'a: 's,
    {
        self.running.fetch_add(1, Ordering::SeqCst);
        s.spawn(move || {
            let name = display_name(&row);
            let r = self
                .engine
                .container_logs(&row, self.opts, |l| self.printer.print(i, &name, &l));
            if let Err(e) = r {
                self.errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(e);
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

//! `compose up`: create and start the project's containers. Also the project loading and
//! progress printing the other lifecycle commands share.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use compose::load::{self, Loaded};
use compose_engine::build::BuildPolicy;
use compose_engine::logs::Window;
use compose_engine::ops::logs::LogOptions;
use compose_engine::ops::up::{Attached, UpOptions};
use compose_engine::pull::PullPolicy;
use compose_engine::reload;
use compose_engine::store::ContainerRow;
use compose_engine::{Engine, Kind, Progress as EngineProgress, Project};

use crate::{Global, Progress};

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Only these services (and what they depend on).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Detached mode: run containers in the background (without it: follow their output,
    /// Ctrl-C stops them).
    #[arg(short, long)]
    pub detach: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` in the file).
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Recreate containers even if their configuration hasn't changed.
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long)]
    pub no_recreate: bool,
    /// Don't start the services after creating them.
    #[arg(long)]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Use this timeout in seconds for container shutdown when containers are replaced.
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Stops all containers if any container was stopped.
    #[arg(long, conflicts_with_all = ["detach", "abort_on_container_failure"])]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure.
    #[arg(long, conflicts_with = "detach")]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container (implies
    /// --abort-on-container-exit).
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services.
    #[arg(long, value_name = "SERVICE", conflicts_with = "no_attach")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services.
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Don't print prefix in logs.
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps.
    #[arg(long)]
    pub timestamps: bool,
    /// Produce monochrome output.
    #[arg(long)]
    pub no_color: bool,
    /// Build images before starting containers.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long)]
    pub no_build: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy.
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Watch source code and rebuild/refresh containers when files are updated (and
    /// re-apply compose file changes).
    #[arg(short, long, conflicts_with_all = ["detach", "wait"])]
    pub watch: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers.
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Recreate dependent containers. Incompatible with --no-recreate.
    #[arg(long, conflicts_with = "no_recreate")]
    pub always_recreate_deps: bool,
    /// Automatically attach to log output of dependent services.
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Re-apply compose file changes while attached (our extension).
    #[arg(long, env = "COMPOSE_RELOAD", value_parser = clap::builder::BoolishValueParser::new())]
    pub reload: bool,
}

/// A loaded project and the engine of the data root.
pub struct Session {
    pub name: String,
    pub model: compose::model::Project,
    hashes: BTreeMap<String, String>,
    working_dir: String,
    config_files: String,
    /// False when no compose file was found and `-p NAME` names the project: the engine
    /// then acts on what its state records (every container is an orphan).
    pub from_file: bool,
    pub engine: Engine,
}

impl Session {
    /// Loads the project (only `services` and their dependencies when given) and opens the
    /// engine. With `-p NAME` and no compose file anywhere, the project is NAME with no
    /// services, as Docker Compose allows for `down`, `ps`, `logs`...
    pub fn open(global: &Global, services: &[String]) -> anyhow::Result<Session> {
        let opts = super::config::options(global, services, false)?;
        let loaded = match load::load(&opts, true) {
            Ok(l) => l,
            Err(e) => return Self::without_file(global, e),
        };
        for w in &loaded.warnings {
            eprintln!("WARN[0000] {w}");
        }
        let engine = Engine::open(&global.data_root)?;
        Self::from_loaded(loaded, engine)
    }

    fn from_loaded(loaded: Loaded, engine: Engine) -> anyhow::Result<Session> {
        let Some(model) = loaded.model.clone() else {
            bail!("project {}: no model", loaded.name);
        };
        let hashes = model
            .services
            .keys()
            .filter_map(|s| Some((s.clone(), loaded.config_hash(s)?)))
            .collect();
        let files: Vec<String> = loaded
            .sources
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        Ok(Session {
            name: loaded.name.clone(),
            model,
            hashes,
            working_dir: loaded.sources.project_dir.display().to_string(),
            config_files: files.join(","),
            from_file: true,
            engine,
        })
    }

    fn without_file(global: &Global, e: compose::Error) -> anyhow::Result<Session> {
        let no_file = e.to_string().starts_with("no configuration file provided");
        let name = match &global.project_name {
            Some(n) if no_file && global.files.is_empty() => load::normalize_project_name(n),
            _ => return Err(e.into()),
        };
        let model = compose::model::Project {
            name: name.clone(),
            ..compose::model::Project::default()
        };
        Ok(Session {
            name,
            model,
            hashes: BTreeMap::new(),
            working_dir: String::new(),
            config_files: String::new(),
            from_file: false,
            engine: Engine::open(&global.data_root)?,
        })
    }

    /// The engine's view of the project.
    pub fn project(&self) -> anyhow::Result<Project<'_>> {
        Ok(Project {
            name: &self.name,
            model: &self.model,
            hashes: self.hashes.clone(),
            working_dir: self.working_dir.clone(),
            config_files: self.config_files.clone(),
        })
    }
}

/// Docker Compose v2's plain progress on stderr: ` Container p-web-1  Started`.
/// With `--progress json`, one JSON object per event instead: `{"id":"Container p-web-1",
/// "text":"Started"}`.
pub struct Printer {
    quiet: bool,
    json: bool,
    build: compose_build::progress::Mode,
    /// `--dry-run`: every event says so, as Docker Compose's do.
    dry_run: bool,
}

impl Printer {
    pub fn new(global: &Global) -> Printer {
        Printer {
            quiet: global.progress == Progress::Quiet,
            json: global.progress == Progress::Json,
            build: super::build::progress_mode(global.progress, false),
            dry_run: global.dry_run,
        }
    }

    /// One that prints no events (warnings still), nor build steps.
    pub fn quiet() -> Printer {
        Printer {
            quiet: true,
            json: false,
            build: compose_build::progress::Mode::Quiet,
            dry_run: false,
        }
    }
}

impl EngineProgress for Printer {
    fn event(&self, kind: Kind, name: &str, status: &str) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let prefix = if self.dry_run { DRY_RUN } else { "" };
        if self.json {
            let id = format!("{prefix}{} {name}", kind.as_str());
            let line = serde_json::json!({ "id": id, "text": status });
            let _ = writeln!(err, "{line}");
        } else {
            let _ = writeln!(err, "{prefix} {} {name}  {status}", kind.as_str());
        }
    }

    fn warn(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "WARN[0000] {message}");
    }

    fn build_mode(&self) -> Option<compose_build::progress::Mode> {
        Some(self.build)
    }
}

/// What Docker Compose puts before each event of a dry run.
pub const DRY_RUN: &str = " DRY-RUN MODE - ";

/// Commands that change the project refuse `--dry-run` rather than quietly do the work.
pub fn refuse_dry_run(global: &Global, command: &str) -> anyhow::Result<()> {
    if global.dry_run {
        bail!("--dry-run is not supported by `{command}` yet");
    }
    Ok(())
}

/// `-t SECONDS` as a duration.
pub fn timeout(t: Option<u64>) -> Option<Duration> {
    t.map(Duration::from_secs)
}

pub(crate) fn scale(args: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for s in args {
        let (name, n) = s
            .split_once('=')
            .with_context(|| format!("invalid --scale {s:?}: expected SERVICE=NUM"))?;
        let n: u32 = n
            .parse()
            .with_context(|| format!("invalid --scale {s:?}: {n:?} is not a number"))?;
        out.insert(name.to_string(), n);
    }
    Ok(out)
}

pub fn run(global: &Global, args: &UpArgs) -> anyhow::Result<ExitCode> {
    if global.dry_run && (args.watch || args.reload) {
        bail!("--dry-run cannot be combined with --watch or --reload");
    }
    // The whole project: orphans are judged against every service, not the selection.
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let opts = UpOptions {
        services: args.services.clone(),
        scale: scale(&args.scale)?,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        no_start: args.no_start,
        timeout: timeout(args.timeout),
        build: if args.build {
            BuildPolicy::Always
        } else if args.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::Missing
        },
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(std::time::Duration::from_secs),
        pull: match args.pull.as_deref() {
            None => PullPolicy::Service,
            Some(p) => PullPolicy::parse(p)
                .ok_or_else(|| anyhow::anyhow!("invalid --pull {p:?}: always, missing or never"))?,
        },
        no_deps: args.no_deps,
        renew_anon_volumes: args.renew_anon_volumes,
        always_recreate_deps: args.always_recreate_deps,
    };
    let named = opts
        .scale
        .keys()
        .chain(&args.exit_code_from)
        .chain(&args.attach)
        .chain(&args.no_attach);
    for name in named {
        if !project.model.services.contains_key(name) {
            bail!("no such service: {name}");
        }
    }
    if global.dry_run {
        let detached = args.detach || args.wait;
        session
            .engine
            .up_dry_run(&project, &opts, detached, &Printer::new(global))?;
        if !detached && !args.no_start {
            println!(
                "end of 'compose up' output, interactive run is not supported in dry-run mode"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Attached output starts with this up: what earlier runs logged is not replayed.
    let began = std::time::SystemTime::now();
    let attached = session.engine.up(&project, &opts, &Printer::new(global))?;
    if args.detach || args.wait || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    // `--watch` follows the compose files too, as the reload loop does for `--reload`.
    let reload = match args.reload || args.watch {
        true => Some(super::reload::Reload::start(global, &opts)?),
        false => None,
    };
    if args.watch {
        let run = || attach(global, &session, &project, args, attached, began, reload);
        return super::watch::beside(global, &session, &project, &args.services, run)?;
    }
    attach(global, &session, &project, args, attached, began, reload)
}

/// Running containers of the services in `rows` that `rows` does not hold yet.
fn replacements(
    engine: &compose_engine::Engine,
    project: &str,
    rows: &[ContainerRow],
) -> Vec<ContainerRow> {
    let Ok(now) = engine.containers(project) else {
        return Vec::new();
    };
    now.into_iter()
        .filter(|(row, live)| {
            matches!(live, compose_engine::runner::Live::Running)
                && rows.iter().any(|r| r.service == row.service)
                && !rows.iter().any(|r| r.id == row.id)
        })
        .map(|(row, _)| row)
        .collect()
}

/// When an attached `up` stops the project on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abort {
    Never,
    OnExit,
    OnFailure,
}

/// Attached `up`: the output of the attached containers with prefixes (read from their
/// logs) until every container has stopped; the first Ctrl-C stops the project
/// gracefully, the second kills it; `--abort-on-container-exit` and friends stop it when a
/// container ends. The shims record every exit, so the codes are known here.
fn attach(
    global: &Global,
    session: &Session,
    project: &Project<'_>,
    args: &UpArgs,
    attached: Attached,
    began: std::time::SystemTime,
    mut reload: Option<super::reload::Reload>,
) -> anyhow::Result<ExitCode> {
    use std::sync::mpsc;
    let mut rows = attached.containers;
    let mut names: Vec<String> = rows.iter().map(super::logs::display_name).collect();
    let shown = |svc: &str| {
        let opted_out = project.model.services.get(svc).and_then(|s| s.attach) == Some(false);
        attached_to(args, svc, opted_out)
    };
    let printer = super::logs::Printer::new(
        global,
        &names,
        args.no_log_prefix,
        args.timestamps,
        args.no_color,
    );
    let attached_names: Vec<&str> = rows
        .iter()
        .zip(&names)
        .filter(|(r, _)| shown(&r.service))
        .map(|(_, n)| n.as_str())
        .collect();
    printer.say(&format!("Attaching to {}", attached_names.join(", ")));
    compose_engine::interrupt::catch().context("installing the Ctrl-C handler")?;
    let abort = if args.abort_on_container_exit || args.exit_code_from.is_some() {
        Abort::OnExit
    } else if args.abort_on_container_failure {
        Abort::OnFailure
    } else {
        Abort::Never
    };
    let engine = &session.engine;
    let progress = Printer::new(global);
    let (tx, rx) = mpsc::channel::<(usize, Option<i32>)>();
    std::thread::scope(|s| -> anyhow::Result<ExitCode> {
        let follow = |i: usize, row: ContainerRow, name: String| {
            let (printer, tx, exits) = (&printer, tx.clone(), &attached.exits);
            let show = shown(&row.service);
            s.spawn(move || {
                let opts = LogOptions {
                    follow: true,
                    window: Window {
                        since: Some(began),
                        until: None,
                    },
                    ..LogOptions::default()
                };
                if show {
                    let _ = engine.container_logs(&row, opts, |l| printer.print(i, &name, &l));
                } else {
                    let _ = engine.runner().wait(&row.id, &row.name);
                }
                let code = engine
                    .runner()
                    .exit(&row.id)
                    .map(|e| e.code)
                    .or_else(|| exits.get(&row.id).copied());
                let _ = tx.send((i, code));
            });
        };
        for (i, (row, name)) in rows.iter().zip(&names).enumerate() {
            follow(i, row.clone(), name.clone());
        }
        let mut codes: Vec<Option<i32>> = vec![None; rows.len()];
        let (mut left, mut acted, mut interrupted) = (rows.len(), 0, false);
        let mut abort_code = None;
        let (engine, progress) = (engine, &progress);
        // The graceful stop runs beside the loop, which keeps printing and counting Ctrl-Cs.
        let stop_all = || {
            s.spawn(move || {
                if let Err(e) = engine.stop_services(project, &[], None, progress) {
                    eprintln!("{e}");
                }
                // Reloads may have started services the first model did not have.
                if args.reload
                    && let Err(e) = reload::stop_project(engine, project.name, None, progress)
                {
                    eprintln!("{e}");
                }
            });
        };
        // With --reload the loop runs until Ctrl-C: an edit may bring containers back.
        let mut scanned = std::time::Instant::now();
        while left > 0 || reload.as_ref().is_some_and(|r| r.active()) {
            let mut new_rows = reload.as_ref().map(|r| r.applied()).unwrap_or_default();
            // `--watch`: a rebuild replaces a service's containers; follow the new ones.
            if args.watch && scanned.elapsed() >= Duration::from_millis(250) {
                scanned = std::time::Instant::now();
                new_rows.extend(replacements(engine, project.name, &rows));
            }
            for row in new_rows {
                if rows.iter().any(|r| r.id == row.id) {
                    continue;
                }
                let name = super::logs::display_name(&row);
                follow(rows.len(), row.clone(), name.clone());
                left += 1;
                codes.push(None);
                rows.push(row);
                names.push(name);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok((i, code)) => {
                    left -= 1;
                    codes[i] = code;
                    let c = code.map_or("?".to_string(), |c| c.to_string());
                    if shown(&rows[i].service) {
                        printer.say(&format!("{} exited with code {c}", names[i]));
                    }
                    let trigger = match abort {
                        Abort::Never => false,
                        Abort::OnExit => true,
                        Abort::OnFailure => code != Some(0),
                    };
                    if trigger && acted == 0 {
                        if let Some(r) = reload.as_mut() {
                            r.stop();
                        }
                        acted = 1;
                        abort_code = code;
                        printer.say("Aborting on container exit...");
                        stop_all();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let n = compose_engine::interrupt::count();
            if n >= 1 && acted == 0 {
                if let Some(r) = reload.as_mut() {
                    r.stop();
                }
                acted = 1;
                interrupted = true;
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                stop_all();
            } else if n >= 2 && acted == 1 {
                acted = 2;
                interrupted = true;
                eprintln!("Killing...");
                engine.kill_now(project.name, libc_sigkill())?;
            }
        }
        if let Some(svc) = &args.exit_code_from {
            let code = rows
                .iter()
                .position(|r| &r.service == svc)
                .and_then(|i| codes[i]);
            return Ok(exit_code(code.unwrap_or(1)));
        }
        if interrupted {
            return Ok(ExitCode::from(130));
        }
        Ok(match abort_code {
            Some(c) => exit_code(c),
            None if acted > 0 => ExitCode::from(1),
            None => ExitCode::SUCCESS,
        })
    })
}

/// Whether an attached `up` shows `svc`'s output, as Docker Compose picks: `--attach`
/// names them, else the services named on the command line (with their dependencies
/// under `--attach-dependencies`), else all; `--no-attach` takes some away.
/// A service with `attach: false` is only shown when `--attach` names it.
fn attached_to(args: &UpArgs, svc: &str, opted_out: bool) -> bool {
    let named = |list: &[String]| list.iter().any(|a| a == svc);
    // The containers followed are those of the named services and their dependencies:
    // any that is not named is a dependency.
    let picked = if !args.attach.is_empty() {
        named(&args.attach)
    } else {
        !opted_out
            && (args.services.is_empty() || args.attach_dependencies || named(&args.services))
    };
    picked && !named(&args.no_attach)
}

/// A container's exit code as the command's.
pub fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1))
}

fn libc_sigkill() -> i32 {
    compose_engine::signal::parse("KILL").unwrap_or(9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        up: UpArgs,
    }

    fn args(a: &[&str]) -> UpArgs {
        Wrap::try_parse_from(std::iter::once("up").chain(a.iter().copied()))
            .map(|w| w.up)
            .unwrap_or_else(|e| panic!("{a:?}: {e}"))
    }

    fn shown(a: &[&str], svc: &str) -> bool {
        attached_to(&args(a), svc, false)
    }

    #[test]
    fn attached_services_are_picked_as_docker_compose_picks_them() {
        assert!(shown(&[], "db"));
        assert!(shown(&["web"], "web"));
        assert!(!shown(&["web"], "db"), "a dependency is not attached");
        assert!(shown(&["--attach-dependencies", "web"], "db"));
        assert!(!shown(&["--no-attach", "db"], "db"));
        assert!(shown(&["--no-attach", "db"], "web"));
        assert!(shown(&["--attach", "db", "web"], "db"));
        assert!(!shown(&["--attach", "db", "web"], "web"));
        assert!(!attached_to(&args(&[]), "quiet", true), "attach: false");
        assert!(attached_to(&args(&["--attach", "quiet"]), "quiet", true));
    }

    #[test]
    fn renew_and_recreate_flags_parse_as_docker_compose_spells_them() {
        assert!(args(&["-V"]).renew_anon_volumes);
        assert!(args(&["--renew-anon-volumes"]).renew_anon_volumes);
        assert!(args(&["--always-recreate-deps"]).always_recreate_deps);
        assert!(Wrap::try_parse_from(["up", "--always-recreate-deps", "--no-recreate"]).is_err());
    }
}

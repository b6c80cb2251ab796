//! `compose up`: create and start the project's containers. Also the project loading and
//! progress printing the other lifecycle commands share.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use compose::load::{self, Loaded};
use compose_engine::build::BuildPolicy;
use compose_engine::ops::up::{Attached, UpOptions};
use compose_engine::pull::PullPolicy;
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
pub struct Printer {
    quiet: bool,
}

impl Printer {
    pub fn new(global: &Global) -> Printer {
        Printer {
            quiet: global.progress == Progress::Quiet,
        }
    }
}

impl EngineProgress for Printer {
    fn event(&self, kind: Kind, name: &str, status: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, " {} {name}  {status}", kind.as_str());
        }
    }

    fn warn(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "WARN[0000] {message}");
    }
}

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

fn scale(args: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
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
    refuse_dry_run(global, "up")?;
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
    };
    for name in opts.scale.keys() {
        if !project.model.services.contains_key(name) {
            bail!("no such service: {name}");
        }
    }
    let attached = session.engine.up(&project, &opts, &Printer::new(global))?;
    if args.detach || args.wait || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    attach(global, &session, &project, attached)
}

/// Attached `up`: every container's output with prefixes until all have stopped; the first
/// Ctrl-C stops the project gracefully, the second kills it. Until the shim lands the
/// containers are this process's children, so their exit codes are known here.
fn attach(
    global: &Global,
    session: &Session,
    project: &Project<'_>,
    mut attached: Attached,
) -> anyhow::Result<ExitCode> {
    let rows = std::mem::take(&mut attached.containers);
    let names: Vec<String> = rows.iter().map(super::logs::display_name).collect();
    let printer = super::logs::Printer::new(global, &names, false, false, false);
    printer.say(&format!("Attaching to {}", names.join(", ")));
    compose_engine::interrupt::catch().context("installing the Ctrl-C handler")?;
    let engine = &session.engine;
    let progress = Printer::new(global);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let handles = std::sync::Mutex::new(std::mem::take(&mut attached.handles));
    std::thread::scope(|s| -> anyhow::Result<ExitCode> {
        for (i, (row, name)) in rows.iter().zip(&names).enumerate() {
            let (printer, done, handles, exits) = (&printer, &done, &handles, &attached.exits);
            s.spawn(move || {
                let _ = engine.container_logs(row, None, true, |l| printer.print(i, name, &l));
                let handle = handles
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&row.id);
                let code = match handle {
                    Some(mut h) => {
                        let code = h.wait(&row.name).ok();
                        let st = compose_engine::store::RecordedState::Exited;
                        let _ = engine.store().set_state(&row.id, st, None, code);
                        code
                    }
                    None => exits.get(&row.id).copied(),
                };
                if let Some(code) = code {
                    printer.say(&format!("{name} exited with code {code}"));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mut acted = 0;
        while done.load(std::sync::atomic::Ordering::SeqCst) < rows.len() {
            let n = compose_engine::interrupt::count();
            if n >= 1 && acted == 0 {
                acted = 1;
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                let (engine, progress) = (engine, &progress);
                s.spawn(move || {
                    if let Err(e) = engine.stop_services(project, &[], None, progress) {
                        eprintln!("{e}");
                    }
                });
            } else if n >= 2 && acted == 1 {
                acted = 2;
                eprintln!("Killing...");
                engine.kill_now(project.name, libc_sigkill())?;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(if acted > 0 {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn libc_sigkill() -> i32 {
    compose_engine::signal::parse("KILL").unwrap_or(9)
}

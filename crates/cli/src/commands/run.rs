//! `compose run`: a one-off container of a service; the command's exit code is ours.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use compose_engine::ops::run::RunOptions;
use compose_engine::ops::up::UpOptions;

use super::exec::env_flags;
use super::up::{Printer, Session, exit_code};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long, conflicts_with = "rm")]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Override the entrypoint of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Bind mount a volume.
    #[arg(short, long = "volume", value_name = "SRC:DST[:OPTS]")]
    pub volumes: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Run as specified username or uid.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Publish a container's port(s) to the host (long form only: `-p` is the project name
    /// everywhere here).
    #[arg(long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub fn run(global: &Global, args: &RunArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "run")?;
    if !args.publish.is_empty() {
        bail!("run -p: published ports are not supported yet (they come with networks)");
    }
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let engine = &session.engine;
    let printer = Printer::new(global);
    project.service(&args.service)?;
    if !args.no_deps {
        let deps = engine.run_dependencies(&project, &args.service)?;
        if !deps.is_empty() {
            let up = UpOptions {
                services: deps,
                ..UpOptions::default()
            };
            engine.up(&project, &up, &printer)?;
        }
    }
    let entrypoint = args
        .entrypoint
        .as_deref()
        .map(compose::model::split_command)
        .transpose()
        .map_err(|e| anyhow::anyhow!("invalid --entrypoint: {e}"))?;
    let foreground = !args.detach;
    let opts = RunOptions {
        service: args.service.clone(),
        command: (!args.command.is_empty()).then(|| args.command.clone()),
        entrypoint,
        env: env_flags(&args.env),
        volumes: args.volumes.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        name: args.name.clone(),
        // Attached, the process has our own stdio (our terminal, if any) already.
        tty: args.detach && !args.no_tty && std::io::stdin().is_terminal(),
        stdin_open: args.detach && args.interactive,
        foreground,
    };
    let (row, mut handle) = engine.run_create(&project, &opts, &printer)?;
    if args.detach {
        engine.run_start(&row, &mut handle, &printer)?;
        println!("{}", row.name);
        return Ok(ExitCode::SUCCESS);
    }
    compose_engine::interrupt::catch().context("installing the Ctrl-C handler")?;
    let started = engine.run_start(&row, &mut handle, &printer);
    let code = match started {
        Ok(()) => {
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                let watcher = s.spawn(|| forward_interrupts(&session, &row, &done));
                let code = engine.run_wait(&row, &mut handle);
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = watcher.join();
                code
            })
        }
        Err(e) => Err(e),
    };
    if args.rm {
        let quiet = Printer::quiet();
        engine.run_remove(&row, &quiet)?;
    }
    Ok(exit_code(code?))
}

/// Ctrl-C while the process runs: the first stops it gracefully, the second kills it.
fn forward_interrupts(
    session: &Session,
    row: &compose_engine::store::ContainerRow,
    done: &std::sync::atomic::AtomicBool,
) {
    let mut acted = 0;
    let quiet = Printer::quiet();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let n = compose_engine::interrupt::count();
        if n > acted {
            acted = n;
            let _ = session.engine.run_stop(row, n >= 2, &quiet);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

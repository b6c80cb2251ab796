//! `compose exec`: run a command in a running service container; its exit code is ours.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::process::ExitCode;

use anyhow::Context;
use compose_engine::ops::exec::ExecOptions;
use compose_runtime::ExecStdio;

use super::up::{Session, exit_code};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables (KEY=VAL; a bare KEY takes our value).
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Give extended privileges to the process.
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Disable pseudo-TTY allocation (by default one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-tty", visible_alias = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open (the default; accepted as Docker Compose does, hidden).
    #[arg(short = 'i', long, hide = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub interactive: Option<bool>,
    /// Allocate a pseudo-TTY (the default when stdin is a terminal; `--tty=false` as `-T`).
    #[arg(short = 't', long, hide = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub tty: Option<bool>,
    /// Index of the container if the service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Path to workdir directory for this command.
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// `-e` values: `KEY=VAL` as given, a bare `KEY` from our environment (dropped if unset).
pub fn env_flags(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

pub fn run(global: &Global, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "exec")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let engine = &session.engine;
    let tty =
        !args.no_tty && args.tty != Some(false) && !args.detach && std::io::stdin().is_terminal();
    let opts = ExecOptions {
        service: args.service.clone(),
        index: args.index,
        command: args.command.clone(),
        env: env_flags(&args.env),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        privileged: args.privileged,
        tty,
    };
    let row = engine.exec_target(&project, &opts.service, opts.index)?;
    let process = engine.exec_process(&project, &row, &opts)?;
    if args.detach {
        let null = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .context("open /dev/null")?;
        let stdio = ExecStdio {
            stdin: Some(null.as_fd()),
            stdout: Some(null.as_fd()),
            stderr: Some(null.as_fd()),
            tty: false,
            console: None,
        };
        engine.spawn_exec(&row, &process, stdio)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !tty {
        // The process writes straight to our stdio.
        let p = engine.spawn_exec(&row, &process, ExecStdio::default())?;
        return Ok(exit_code(p.wait()?.code));
    }
    let pid = engine.runner().load(&row.id, &row.name)?.container().pid();
    let (master, slave) = match crate::tty::open_in_container(pid) {
        Some(pair) => pair,
        None => compose_runtime::pty::open()?,
    };
    // Our terminal's size now and at each SIGWINCH (as `docker exec -it`).
    crate::winch::follow(&master).context("following the terminal's size")?;
    let stdio = ExecStdio {
        stdin: Some(slave.as_fd()),
        stdout: Some(slave.as_fd()),
        stderr: Some(slave.as_fd()),
        tty: true,
        console: None,
    };
    let p = engine.spawn_exec(&row, &process, stdio)?;
    drop(slave);
    let raw = crate::tty::RawMode::enter();
    crate::tty::pump(master);
    drop(raw);
    Ok(exit_code(p.wait()?.code))
}

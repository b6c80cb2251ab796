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
    /// Allocate a pseudo-TTY (hidden, as in Docker Compose; `--tty=false` as `-T`).
    /// Attached, the process has our own terminal: its size and SIGWINCH are ours.
    #[arg(short = 't', long, hide = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub tty: Option<bool>,
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
    /// Publish a container's port(s) to the host. `-p` after `run` means this (as in
    /// Docker Compose); before the command it is the project name.
    #[arg(long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host.
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Use the service's network useAliases in the network(s) the container connects to.
    #[arg(long)]
    pub use_aliases: bool,
    /// Build image before starting container.
    #[arg(long)]
    pub build: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Add or override a label.
    #[arg(short = 'l', long = "label", value_name = "KEY=VAL")]
    pub labels: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Set environment variables from file (repeatable; `-e` wins over them).
    #[arg(long, value_name = "FILE")]
    pub env_from_file: Vec<std::path::PathBuf>,
    /// Don't print anything to STDOUT but the command's output (no progress).
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull without printing progress information.
    #[arg(long)]
    pub quiet_pull: bool,
    /// Suppress progress output from the build process.
    #[arg(long)]
    pub quiet_build: bool,
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
    if args.service_ports && !args.publish.is_empty() {
        bail!("--service-ports and --publish are incompatible");
    }
    let session = open(global, &args.service)?;
    let project = session.project()?;
    let engine = &session.engine;
    let printer = if args.quiet || args.quiet_pull || args.quiet_build {
        Printer::quiet()
    } else {
        Printer::new(global)
    };
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
        env: env_from_files(&args.env_from_file)?
            .into_iter()
            .chain(env_flags(&args.env))
            .collect(),
        volumes: args.volumes.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        name: args.name.clone(),
        // Attached, the process has our own stdio (our terminal, if any) already.
        tty: args.detach
            && !args.no_tty
            && args.tty != Some(false)
            && std::io::stdin().is_terminal(),
        stdin_open: args.detach && args.interactive,
        foreground,
        publish: args.publish.clone(),
        service_ports: args.service_ports,
        use_aliases: args.use_aliases,
        build: args.build,
        pull: match args.pull.as_deref() {
            None => compose_engine::pull::PullPolicy::Service,
            Some(p) => compose_engine::pull::PullPolicy::parse(p)
                .ok_or_else(|| anyhow::anyhow!("invalid --pull {p:?}: always, missing or never"))?,
        },
        labels: args.labels.clone(),
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
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

/// `--env-from-file` files as `KEY=VAL` entries, in order (the `.env` dialect).
fn env_from_files(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("--env-from-file {}", f.display()))?;
        let vars = compose::dotenv::parse(&text, &|k| std::env::var(k).ok())
            .map_err(|e| anyhow::anyhow!("--env-from-file {}: {e}", f.display()))?;
        out.extend(vars.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    Ok(out)
}

/// The project with `service` in it: a service whose profiles are all disabled is enabled
/// for the run (as Docker Compose does), the model then being that service and its
/// dependencies.
fn open(global: &Global, service: &str) -> anyhow::Result<Session> {
    let session = Session::open(global, &[])?;
    if !session.from_file || session.model.services.contains_key(service) {
        return Ok(session);
    }
    Session::open(global, &[service.to_string()])
}

/// `run -p PORT` as `run --publish PORT`: Docker Compose spells publish `-p` after `run`,
/// where our top-level `-p` (project name) would otherwise take it. Only the options
/// between `run` and the service are rewritten.
pub fn publish_shorthand(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // Top-level options that take a value (so their value is not taken for the command).
    const GLOBAL_VALUED: [&str; 9] = [
        "-f",
        "--file",
        "-p",
        "--project-name",
        "--project-directory",
        "--profile",
        "--env-file",
        "--progress",
        "--ansi",
    ];
    // `run`'s options that take a value.
    const RUN_VALUED: [&str; 18] = [
        "-e",
        "--env",
        "--entrypoint",
        "-v",
        "--volume",
        "-w",
        "--workdir",
        "-u",
        "--user",
        "--name",
        "--publish",
        "-p",
        "--pull",
        "-l",
        "--label",
        "--cap-add",
        "--cap-drop",
        "--env-from-file",
    ];
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(exe) = iter.next() {
        out.push(exe);
    }
    let mut in_run = false;
    let mut expect_value = false;
    for a in iter.by_ref() {
        let s = a.to_str().unwrap_or("").to_string();
        let s = s.as_str();
        if expect_value {
            expect_value = false;
            out.push(a);
            continue;
        }
        if !in_run {
            expect_value = GLOBAL_VALUED.contains(&s) || s == "--data-root";
            in_run = s == "run";
            out.push(a);
            if in_run {
                break;
            }
            if !s.starts_with('-') && !expect_value {
                // Another command: nothing to rewrite.
                out.extend(iter);
                return out;
            }
            continue;
        }
    }
    for a in iter.by_ref() {
        let s = a.to_str().unwrap_or("").to_string();
        if expect_value {
            expect_value = false;
            out.push(a);
            continue;
        }
        if s == "-p" {
            out.push("--publish".into());
            expect_value = true;
        } else if let Some(v) = s
            .strip_prefix("-p")
            .filter(|v| !v.is_empty() && !s.starts_with("--"))
        {
            out.push(format!("--publish={}", v.trim_start_matches('=')).into());
        } else if s.starts_with('-') {
            expect_value = RUN_VALUED.contains(&s.as_str());
            out.push(a);
        } else {
            // The service: the rest is its command.
            out.push(a);
            break;
        }
    }
    out.extend(iter);
    out
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

#[cfg(test)]
mod tests {
    use super::publish_shorthand;

    fn rewrite(args: &[&str]) -> Vec<String> {
        publish_shorthand(args.iter().map(|s| (*s).into()).collect())
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn run_p_is_publish_and_nothing_else_changes() {
        assert_eq!(
            rewrite(&[
                "c", "-p", "proj", "run", "-p", "8080:80", "-e", "-p", "web", "-p"
            ]),
            [
                "c",
                "-p",
                "proj",
                "run",
                "--publish",
                "8080:80",
                "-e",
                "-p",
                "web",
                "-p"
            ]
        );
        assert_eq!(
            rewrite(&["c", "--data-root", "/x", "run", "-p8080:80", "web"]),
            ["c", "--data-root", "/x", "run", "--publish=8080:80", "web"]
        );
        assert_eq!(rewrite(&["c", "-p", "run", "ps"]), ["c", "-p", "run", "ps"]);
        assert_eq!(
            rewrite(&["c", "ps", "-p", "x", "run"]),
            ["c", "ps", "-p", "x", "run"]
        );
    }
}

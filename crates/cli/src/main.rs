//! `compose`: Docker Compose's command line, on our own engine.

mod commands;
mod output;
mod tty;
mod winch;
mod yaml_out;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// Loading a project allocates many small strings and maps; mimalloc does that several times
// faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Define and run multi-container applications, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "compose", version, about, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, as Docker Compose v2 spells them.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Compose configuration files (repeatable; `-` reads stdin). Before the command, as
    /// in Docker Compose, so that `logs -f` can mean follow.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the directory of the first file).
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Specify a profile to enable (repeatable).
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Specify an alternate environment file (repeatable).
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Set type of progress output.
    #[arg(long, global = true, value_enum, env = "COMPOSE_PROGRESS", default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Control when to print ANSI control characters.
    #[arg(long, global = true, value_enum, env = "COMPOSE_ANSI", default_value_t = Ansi::Auto)]
    pub ansi: Ansi,
    /// Execute command in dry run mode.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Control max parallelism, -1 for unlimited.
    #[arg(
        long,
        global = true,
        env = "COMPOSE_PARALLEL_LIMIT",
        value_name = "INT",
        default_value_t = -1,
        allow_negative_numbers = true
    )]
    pub parallel: i64,
    /// Print what the engine does (tracing at debug level; `RUST_LOG` picks finer filters).
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Where images, containers and state are kept.
    #[arg(
        long,
        global = true,
        env = "COMPOSE_DATA_ROOT",
        value_name = "DIR",
        default_value = "/var/lib/compose"
    )]
    pub data_root: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ansi {
    Auto,
    Never,
    Always,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build or rebuild services.
    Build(commands::build::BuildArgs),
    /// Parse, resolve and render the compose file in canonical format.
    Config(commands::config::ConfigArgs),
    /// Manage images in the local store.
    Image(commands::image::ImageArgs),
    /// Create and start containers.
    Up(commands::up::UpArgs),
    /// Stop and remove containers and, with -v, volumes.
    Down(commands::down::DownArgs),
    /// List containers.
    Ps(commands::ps::PsArgs),
    /// View output from containers.
    Logs(commands::logs::LogsArgs),
    /// Start services.
    Start(commands::start::StartArgs),
    /// Stop services.
    Stop(commands::stop::StopArgs),
    /// Removes stopped service containers.
    Rm(commands::rm::RmArgs),
    /// Force stop service containers.
    Kill(commands::kill::KillArgs),
    /// Copy files/folders between a service container and the local filesystem.
    Cp(commands::cp::CpArgs),
    /// Execute a command in a running container.
    Exec(commands::exec::ExecArgs),
    /// Run a one-off command on a service.
    Run(commands::run::RunArgs),
    /// Restart service containers.
    Restart(commands::restart::RestartArgs),
    /// Pause services.
    Pause(commands::pause::PauseArgs),
    /// Unpause services.
    Unpause(commands::pause::PauseArgs),
    /// Block until containers of all (or specified) services stop.
    Wait(commands::wait::WaitArgs),
    /// Display the running processes.
    Top(commands::top::TopArgs),
    /// List running compose projects.
    Ls(commands::ls::LsArgs),
    /// Show the Compose version information.
    Version(commands::version::VersionArgs),
    /// List images used by the created containers.
    Images(commands::images::ImagesArgs),
    /// Pull service images.
    Pull(commands::pull::PullArgs),
    /// Push service images.
    Push(commands::push::PushArgs),
    /// Print the public port for a port binding.
    Port(commands::port::PortArgs),
    /// Creates containers for a service.
    Create(commands::create::CreateArgs),
    /// Receive real time events from containers.
    Events(commands::events::EventsArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(commands::stats::StatsArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated.
    Watch(commands::watch::WatchArgs),
}

/// Tracing output on stderr, only when asked (`--verbose` or `RUST_LOG`): otherwise no
/// subscriber is set up, and the macros cost nothing.
fn init_tracing(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => EnvFilter::new(spec),
        Err(_) if verbose => EnvFilter::new("debug"),
        Err(_) => return,
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

fn main() -> ExitCode {
    // A container's shim is this binary re-executed: dispatch it before anything heavy.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(compose_runtime::shim::ARG))
    {
        compose_runtime::shim::main();
    }
    // A project's supervisor (DNS for its networks) is this binary too.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(compose_engine::supervisor::ARG))
    {
        compose_engine::supervisor::main();
    }
    let mut cli = Cli::parse_from(commands::run::publish_shorthand(
        std::env::args_os().collect(),
    ));
    // Shims and supervisors run from `/`: a relative data root would point elsewhere there.
    if let Ok(abs) = std::path::absolute(&cli.global.data_root) {
        cli.global.data_root = abs;
    }
    init_tracing(cli.global.verbose);
    compose_engine::ops::set_parallel_limit(usize::try_from(cli.global.parallel).ok());
    let result = match &cli.command {
        Command::Build(args) => commands::build::run(&cli.global, args),
        Command::Config(args) => commands::config::run(&cli.global, args),
        Command::Image(args) => commands::image::run(&cli.global, args),
        Command::Up(args) => commands::up::run(&cli.global, args),
        Command::Down(args) => commands::down::run(&cli.global, args),
        Command::Ps(args) => commands::ps::run(&cli.global, args),
        Command::Logs(args) => commands::logs::run(&cli.global, args),
        Command::Start(args) => commands::start::run(&cli.global, args),
        Command::Stop(args) => commands::stop::run(&cli.global, args),
        Command::Rm(args) => commands::rm::run(&cli.global, args),
        Command::Kill(args) => commands::kill::run(&cli.global, args),
        Command::Cp(args) => commands::cp::run(&cli.global, args),
        Command::Exec(args) => commands::exec::run(&cli.global, args),
        Command::Run(args) => commands::run::run(&cli.global, args),
        Command::Restart(args) => commands::restart::run(&cli.global, args),
        Command::Pause(args) => commands::pause::run(&cli.global, args, true),
        Command::Unpause(args) => commands::pause::run(&cli.global, args, false),
        Command::Wait(args) => commands::wait::run(&cli.global, args),
        Command::Top(args) => commands::top::run(&cli.global, args),
        Command::Ls(args) => commands::ls::run(&cli.global, args),
        Command::Version(args) => commands::version::run(args),
        Command::Images(args) => commands::images::run(&cli.global, args),
        Command::Pull(args) => commands::pull::run(&cli.global, args),
        Command::Push(args) => commands::push::run(&cli.global, args),
        Command::Port(args) => commands::port::run(&cli.global, args),
        Command::Create(args) => commands::create::run(&cli.global, args),
        Command::Events(args) => commands::events::run(&cli.global, args),
        Command::Stats(args) => commands::stats::run(&cli.global, args),
        Command::Watch(args) => commands::watch::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", output::error_text(&e));
            ExitCode::from(1)
        }
    }
}

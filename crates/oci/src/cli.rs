//! The command line, as runc and crun take it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "compose-oci",
    version,
    about = "An OCI runtime on compose's container runtime"
)]
pub struct Cli {
    /// Where container state lives.
    #[arg(long, global = true, default_value = "/run/compose-oci")]
    pub root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// The format of --log.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Accepted for compatibility, and refused: cgroups are managed through cgroupfs.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted and ignored, as runc does.
    #[arg(long, global = true, hide = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Print a container's state as OCI state JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        id: String,
        signal: Option<String>,
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Remove a stopped container (--force: kill it first).
    Delete {
        id: String,
        #[arg(short, long)]
        force: bool,
    },
    /// Create and start a container; without --detach, wait and exit with its status.
    Run(RunArgs),
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Print ids only.
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The process as an OCI `process` JSON object (instead of the arguments).
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE, repeatable).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// The working directory in the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Don't wait for the process.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Allocate a terminal (not supported yet).
    #[arg(short, long)]
    pub tty: bool,
    /// Where to send a terminal's master (not supported yet).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    pub id: String,
    /// The command and its arguments (without --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    /// The bundle: a directory with config.json.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Where to send a terminal's master fd (needs process.terminal, not supported yet).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility; pivot_root is always used.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for compatibility; a new session keyring is never made.
    #[arg(long)]
    pub no_new_keyring: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the process has started.
    #[arg(short, long)]
    pub detach: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

//! One file per verb.

mod create;
mod delete;
mod exec;
mod kill;
mod list;
mod run;
mod start;
mod state;

use anyhow::bail;
use compose_runtime::Runtime;

use crate::cli::{Cli, Command};

/// The cgroup parent of every container made by compose-oci.
const CGROUP_PARENT: &str = "compose-oci";

/// Runs the command; the process exit code on success.
pub fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup: the systemd cgroup driver is not supported; compose-oci \
             manages cgroups through cgroupfs (drop the flag, or use cgroup_manager = \
             \"cgroupfs\")"
        );
    }
    let rt = Runtime::new(&cli.root, CGROUP_PARENT)?
        .with_seccomp_cache(cli.root.join(compose_runtime::seccomp::cache::DIR));
    match &cli.command {
        Command::Create(a) => create::create(&rt, a).map(|_| 0),
        Command::Start { id } => start::start(&rt, id).map(|()| 0),
        Command::State { id } => state::state(&rt, id).map(|()| 0),
        Command::Kill { id, signal, all } => {
            kill::kill(&rt, id, signal.as_deref(), *all).map(|()| 0)
        }
        Command::Delete { id, force } => delete::delete(&rt, id, *force).map(|()| 0),
        Command::Run(a) => run::run(&rt, a),
        Command::Exec(a) => exec::exec(&rt, a),
        Command::List { format, quiet } => list::list(&rt, *format, *quiet).map(|()| 0),
    }
}

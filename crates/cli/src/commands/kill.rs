//! `compose kill`: send a signal to running containers.

use std::process::ExitCode;

use anyhow::Context;

use super::up::{Printer, Session};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// SIGNAL to send to the container.
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
}

pub fn run(global: &Global, args: &KillArgs) -> anyhow::Result<ExitCode> {
    let signal = compose_engine::signal::parse(&args.signal)
        .with_context(|| format!("invalid signal {:?}", args.signal))?;
    super::up::refuse_dry_run(global, "kill")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session
        .engine
        .kill_services(&project, &args.services, signal, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

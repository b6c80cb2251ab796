//! `compose stop`: stop running containers without removing them.

use std::process::ExitCode;

use super::up::{Printer, Session, timeout};
use crate::Global;

/// The services a stop-like command acts on and how long each may take to stop.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Specify a shutdown timeout in seconds.
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub fn run(global: &Global, args: &StopArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "stop")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session.engine.stop_services(
        &project,
        &args.services,
        timeout(args.timeout),
        &Printer::new(global),
    )?;
    Ok(ExitCode::SUCCESS)
}

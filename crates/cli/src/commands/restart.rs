//! `compose restart`: stop and start the services' containers.

use std::process::ExitCode;

use super::up::{Printer, Session, timeout};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Specify a shutdown timeout in seconds.
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub fn run(global: &Global, args: &RestartArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "restart")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session.engine.restart_services(
        &project,
        &args.services,
        timeout(args.timeout),
        &Printer::new(global),
    )?;
    Ok(ExitCode::SUCCESS)
}

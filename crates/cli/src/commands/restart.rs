//! `compose restart`: stop and start the services' containers.

use std::process::ExitCode;

use super::stop::StopArgs;
use super::up::{Printer, Session, timeout};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub stop: StopArgs,
    /// Don't restart dependent services.
    #[arg(long)]
    pub no_deps: bool,
}

pub fn run(global: &Global, args: &RestartArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "restart")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session.engine.restart_services(
        &project,
        &args.stop.services,
        timeout(args.stop.timeout),
        args.no_deps,
        &Printer::new(global),
    )?;
    Ok(ExitCode::SUCCESS)
}

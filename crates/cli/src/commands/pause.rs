//! `compose pause` and `compose unpause`: freeze and thaw the services' containers.

use std::process::ExitCode;

use super::up::{Printer, Session};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `pause` when `frozen`, else `unpause`.
pub fn run(global: &Global, args: &PauseArgs, frozen: bool) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, if frozen { "pause" } else { "unpause" })?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session
        .engine
        .pause_services(&project, &args.services, frozen, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

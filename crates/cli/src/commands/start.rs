//! `compose start`: start existing containers.

use std::process::ExitCode;

use super::up::{Printer, Session};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub fn run(global: &Global, args: &StartArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "start")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    session
        .engine
        .start_services(&project, &args.services, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

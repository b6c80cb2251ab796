//! `compose wait`: block until the services' containers stop; the first one's exit code
//! is ours.

use std::process::ExitCode;

use super::up::{Session, exit_code};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
    /// Drops the project when the first container stops.
    #[arg(long)]
    pub down_project: bool,
}

pub fn run(global: &Global, args: &WaitArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let (_, code) = session.engine.wait_first(&project, &args.services)?;
    if args.down_project {
        let opts = compose_engine::ops::down::DownOptions::default();
        session
            .engine
            .down(&project, &opts, &super::up::Printer::new(global))?;
    }
    Ok(exit_code(code))
}

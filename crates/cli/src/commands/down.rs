//! `compose down`: stop and remove containers, and volumes with `-v`.

use std::process::ExitCode;

use compose_engine::ops::down::DownOptions;

use super::up::{Printer, Session, timeout};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and
    /// anonymous volumes attached to containers.
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub fn run(global: &Global, args: &DownArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "down")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let opts = DownOptions {
        volumes: args.volumes,
        // Without a compose file every container of the project is an orphan.
        remove_orphans: args.remove_orphans || !session.from_file,
        timeout: timeout(args.timeout),
    };
    session
        .engine
        .down(&project, &opts, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

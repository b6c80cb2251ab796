//! `compose rm`: remove stopped service containers.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use compose_engine::ops::rm::RmOptions;

use super::up::{Printer, Session};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Don't ask to confirm removal.
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short, long)]
    pub volumes: bool,
}

pub fn run(global: &Global, args: &RmArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "rm")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let opts = RmOptions {
        services: args.services.clone(),
        stop: args.stop,
        volumes: args.volumes,
        timeout: None,
    };
    let rows = session.engine.removable(&project, &opts)?;
    if rows.is_empty() {
        eprintln!("No stopped containers");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.force {
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        eprint!(
            "Going to remove {}\n? Are you sure? [y/N] ",
            names.join(", ")
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(ExitCode::SUCCESS);
        }
    }
    session.engine.rm(&project, &opts, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

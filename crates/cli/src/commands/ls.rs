//! `compose ls`: the projects of the data root.

use std::process::ExitCode;

use compose_engine::Engine;

use super::ps::table;
use crate::Global;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LsFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects.
    #[arg(short, long)]
    pub all: bool,
    /// Format the output.
    #[arg(long, value_enum, default_value_t = LsFormat::Table)]
    pub format: LsFormat,
    /// Only display project names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter output based on conditions provided (name=NAME: projects whose name
    /// contains NAME).
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
}

pub fn run(global: &Global, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let engine = Engine::open(&global.data_root)?;
    let mut projects = engine.ls(args.all)?;
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("name", v)) => projects.retain(|p| p.name.contains(v)),
            _ => anyhow::bail!("invalid filter {f:?}: only name=NAME is supported"),
        }
    }
    if args.quiet {
        projects.iter().for_each(|p| println!("{}", p.name));
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        LsFormat::Json => {
            let v: Vec<serde_json::Value> = projects
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "Name": p.name,
                        "Status": p.status,
                        "ConfigFiles": p.config_files,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        LsFormat::Table => {
            let mut rows = vec![
                ["NAME", "STATUS", "CONFIG FILES"]
                    .map(String::from)
                    .to_vec(),
            ];
            for p in projects {
                rows.push(vec![p.name, p.status, p.config_files]);
            }
            print!("{}", table(&rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

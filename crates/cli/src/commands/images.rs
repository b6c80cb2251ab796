//! `compose images`: the images the project's containers use.

use std::process::ExitCode;

use super::image::{human_size, repo_tag, short_id};
use super::ps::table;
use super::up::Session;
use crate::Global;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImagesFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Format the output.
    #[arg(long, value_enum, default_value_t = ImagesFormat::Table)]
    pub format: ImagesFormat,
    /// Only display IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(global: &Global, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    for s in &args.services {
        project.service(s)?;
    }
    let entries = session.engine.ps(project.name, &args.services, true)?;
    let mut rows = vec![
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
            .map(String::from)
            .to_vec(),
    ];
    let mut json = Vec::new();
    let mut ids = Vec::new();
    for e in &entries {
        let Some(rec) = session.engine.image_record(&e.row.image) else {
            continue;
        };
        let (repo, tag) = repo_tag(&rec);
        let id = short_id(&rec.config_digest).to_string();
        json.push(serde_json::json!({
            "ID": rec.config_digest,
            "ContainerName": e.row.name,
            "Repository": repo,
            "Tag": tag,
            "Size": rec.size,
        }));
        if !ids.contains(&id) {
            ids.push(id.clone());
        }
        rows.push(vec![
            e.row.name.clone(),
            repo,
            tag,
            id,
            human_size(rec.size),
        ]);
    }
    if args.quiet {
        ids.iter().for_each(|i| println!("{i}"));
    } else if args.format == ImagesFormat::Json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

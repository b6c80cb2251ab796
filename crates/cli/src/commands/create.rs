//! `compose create`: the project's containers made (networks, volumes, images too), none
//! started; `compose start` starts them later.

use std::process::ExitCode;

use anyhow::bail;
use compose_engine::build::BuildPolicy;
use compose_engine::ops::up::UpOptions;
use compose_engine::pull::PullPolicy;

use super::up::{Printer, Session, scale};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Only these services (and what they depend on).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Build images before starting containers.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long)]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long)]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Pull without printing progress information.
    #[arg(long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Assume "yes" as answer to all prompts and run non-interactively.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

pub fn run(global: &Global, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "create")?;
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let opts = UpOptions {
        services: args.services.clone(),
        scale: scale(&args.scale)?,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        no_start: true,
        build: if args.build {
            BuildPolicy::Always
        } else if args.no_build {
            BuildPolicy::Never
        } else {
            BuildPolicy::Missing
        },
        pull: match args.pull.as_deref() {
            None => PullPolicy::Service,
            Some(p) => PullPolicy::parse(p)
                .ok_or_else(|| anyhow::anyhow!("invalid --pull {p:?}: always, missing or never"))?,
        },
        ..UpOptions::default()
    };
    for name in opts.scale.keys() {
        if !project.model.services.contains_key(name) {
            bail!("no such service: {name}");
        }
    }
    session.engine.up(&project, &opts, &Printer::new(global))?;
    Ok(ExitCode::SUCCESS)
}

//! `compose push`: the images of the project's services that name one, from the store to
//! their registries.

use std::process::ExitCode;

use anyhow::Context as _;

use super::pull::{Printer, Style, service_images};
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Only these services.
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Push what it can and ignores images with push failures.
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Push without printing progress information.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: super::image::RegistryArgs,
}

pub fn run(global: &Global, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let opts = super::config::options(global, &args.services, false)?;
    let loaded = compose::load::load(&opts, true)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let store = compose_image::Store::open(&global.data_root).with_context(|| {
        format!(
            "cannot open the image store at {}",
            global.data_root.display()
        )
    })?;
    let client_opts = super::image::client_options(&args.registry)?;
    let printer = Printer::new(Style::pick(global.progress, args.quiet), true);
    let mut done = std::collections::HashSet::new();
    let mut failed = false;
    for s in service_images(&loaded.json, &args.services)? {
        let reference = compose_image::Reference::parse(&s.image)
            .with_context(|| format!("service {:?}: image {:?}", s.service, s.image))?;
        if !done.insert(reference.to_string()) {
            continue;
        }
        printer.line(&format!("{} Pushing", s.service));
        let local = reference.to_string();
        let pushed =
            super::image::push_one(&store, &local, &reference, client_opts.clone(), &printer);
        printer.finish();
        match pushed {
            Ok(_) => printer.line(&format!("{} Pushed", s.service)),
            Err(e) => {
                failed |= super::pull::report_failure(&s.service, &e, args.ignore_push_failures)
            }
        }
    }
    Ok(super::pull::exit_code(failed))
}

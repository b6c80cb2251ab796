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
    /// Remove images used by services. "local" remove only images that don't have a
    /// custom tag ("local"|"all").
    #[arg(long, value_name = "TYPE", value_parser = ["local", "all"])]
    pub rmi: Option<String>,
}

pub fn run(global: &Global, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    if global.dry_run {
        return dry_run(global, &session, args);
    }
    let project = session.project()?;
    let opts = DownOptions {
        volumes: args.volumes,
        // Without a compose file every container of the project is an orphan.
        remove_orphans: args.remove_orphans || !session.from_file,
        timeout: timeout(args.timeout),
    };
    let printer = Printer::new(global);
    session.engine.down(&project, &opts, &printer)?;
    if let Some(which) = &args.rmi {
        remove_images(global, &session, which == "all", &printer)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--rmi`: the services' images (with `local`, only those built under the project's own
/// name, as Docker Compose names an image without `image:`), unless another project's
/// container still uses one.
fn remove_images(
    global: &Global,
    session: &Session,
    all: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    use compose_engine::{Kind, Progress};
    let store = compose_image::Store::open(&global.data_root)?;
    let in_use = session.engine.images_in_use()?;
    let mut refs: Vec<String> = session
        .model
        .services
        .iter()
        .filter(|(_, svc)| all || svc.image.is_empty())
        .map(|(name, svc)| compose_engine::build::service_image(&session.name, name, svc))
        .collect();
    refs.sort();
    refs.dedup();
    for r in refs {
        let Ok(full) = compose_image::store::normalize(&r) else {
            continue;
        };
        if in_use.contains(&full) {
            printer.warn(&format!("image {r} is in use by a container: kept"));
            continue;
        }
        printer.event(Kind::Image, &r, "Removing");
        if store.remove_image(&full)? {
            printer.event(Kind::Image, &r, "Removed");
        }
    }
    Ok(())
}

/// `--dry-run down`: what `down` would stop and remove, as Docker Compose prints it
/// (` DRY-RUN MODE -  Container p-web-1  Stopped`), nothing touched.
fn dry_run(global: &Global, session: &Session, args: &DownArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let quiet = global.progress == crate::Progress::Quiet;
    let mut err = std::io::stderr().lock();
    let mut say = |kind: &str, name: &str, status: &str| {
        if !quiet {
            let _ = writeln!(err, " DRY-RUN MODE -  {kind} {name}  {status}");
        }
    };
    let store = session.engine.store();
    let orphans_too = args.remove_orphans || !session.from_file;
    for row in store.containers(&session.name)? {
        if !orphans_too && !session.model.services.contains_key(&row.service) {
            continue;
        }
        for status in ["Stopping", "Stopped", "Removing", "Removed"] {
            say("Container", &row.name, status);
        }
    }
    if args.volumes {
        for v in store.volumes(&session.name)?.iter().filter(|v| !v.external) {
            let shown = format!("\"{}\"", v.name);
            say("Volume", &shown, "Removing");
            say("Volume", &shown, "Removed");
        }
    }
    for n in store
        .networks(&session.name)?
        .iter()
        .filter(|n| !n.external)
    {
        say("Network", &n.name, "Removing");
        say("Network", &n.name, "Removed");
    }
    if let Some(which) = &args.rmi {
        let all = which == "all";
        for (name, svc) in &session.model.services {
            if all || svc.image.is_empty() {
                let r = compose_engine::build::service_image(&session.name, name, svc);
                say("Image", &r, "Removing");
                say("Image", &r, "Removed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

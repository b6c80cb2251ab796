//! `compose cp`: copy files between a service container and the local filesystem, as
//! Docker Compose spells it (`SERVICE:SRC DEST` or `SRC SERVICE:DEST`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use super::up::Session;
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// `SERVICE:SRC_PATH` or a local path.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// A local path or `SERVICE:DEST_PATH`.
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Index of the container if the service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
}

/// `SERVICE:PATH` → (service, path); a path with `/` before any `:` is local.
fn remote(arg: &str) -> Option<(&str, &str)> {
    let (svc, path) = arg.split_once(':')?;
    if svc.is_empty() || svc.contains('/') || svc.starts_with('.') {
        return None;
    }
    Some((svc, path))
}

pub fn run(global: &Global, args: &CpArgs) -> anyhow::Result<ExitCode> {
    super::up::refuse_dry_run(global, "cp")?;
    let session = Session::open(global, &[])?;
    let project = &session.name;
    match (remote(&args.src), remote(&args.dest)) {
        (Some((svc, src)), None) => session.engine.copy_from_container(
            project,
            svc,
            args.index,
            src,
            Path::new(&args.dest),
            args.archive,
        )?,
        (None, Some((svc, dest))) => session.engine.copy_to_container(
            project,
            svc,
            args.index,
            Path::new(&args.src),
            dest,
            args.archive,
        )?,
        (Some(_), Some(_)) => bail!("copying between services is not supported"),
        (None, None) => bail!("must specify at least one container source (SERVICE:PATH)"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::remote;

    #[test]
    fn service_paths() {
        assert_eq!(remote("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(remote("./a:b"), None);
        assert_eq!(remote("/tmp/x:y"), None);
        assert_eq!(remote("plain"), None);
    }
}

//! `compose build`: the project's images from their Dockerfiles, on our builder (RUN steps
//! in our runtime), as Docker Compose v2 spells the command.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, bail};
use compose::load;
use compose_build::build::{Builder, NamedContext, StepEvent};
use compose_build::progress::{Mode, Printer};
use compose_build::project::{ServiceBuild, plan};
use compose_build::runner::RuntimeRunner;
use compose_image::Store;
use compose_runtime::Runtime;

use crate::{Global, Progress};

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Services to build (default: every service with a build section).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Set build-time variables for services (`KEY=VALUE`, or `KEY` to take it from the
    /// environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the base images.
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to standard output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also build the dependencies of the selected services.
    #[arg(long)]
    pub with_dependencies: bool,
    /// Print what would be built, as JSON, and don't build.
    #[arg(long)]
    pub print: bool,
}

pub fn run(global: &Global, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let opts = super::config::options(global, &[], false)?;
    let loaded = load::load(&opts, true)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let Some(project) = &loaded.model else {
        bail!("the project could not be typed");
    };
    let services = selected(project, &args.services, args.with_dependencies)?;
    let build_args = parse_build_args(&args.build_args);
    let mut builds =
        plan(project, &services, &build_args, args.no_cache).map_err(anyhow::Error::msg)?;
    for b in &mut builds {
        b.options.pull |= args.pull;
    }
    if args.print {
        print_plan(&builds)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&global.data_root).with_context(|| {
        format!(
            "cannot open the image store at {}",
            global.data_root.display()
        )
    })?;
    let work = global.data_root.join("build");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let runner = RuntimeRunner {
        runtime: Runtime::new(work.join("run"), "compose-build")?,
        shim_exe: std::env::current_exe().context("finding the compose binary")?,
        log_dir: work.join("logs"),
    };
    let builder = Builder {
        store: &store,
        runner: Some(&runner),
        work_dir: work,
    };
    let quiet = args.quiet || global.progress == Progress::Quiet;
    let mode = progress_mode(global.progress, quiet);
    for b in &builds {
        let label = b.services.join(", ");
        let mut printer = Printer::new(mode, std::io::stderr().lock(), &label);
        builder
            .build(&b.options, &mut |e: &StepEvent| printer.event(e))
            .with_context(|| format!("failed to build service {label}"))?;
        if !quiet {
            for s in &b.services {
                println!(" Service {s}  Built");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The services to build: as given (with what they depend on when asked), or all.
fn selected(
    project: &compose::model::Project,
    services: &[String],
    with_dependencies: bool,
) -> anyhow::Result<Vec<String>> {
    if services.is_empty() || !with_dependencies {
        return Ok(services.to_vec());
    }
    let graph = compose::graph::Graph::from_project(project)
        .map_err(|c| anyhow::anyhow!("dependency cycle: {c:?}"))?;
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    Ok(graph
        .with_dependencies(&names)
        .into_iter()
        .filter(|s| {
            project
                .services
                .get(*s)
                .is_some_and(|svc| svc.build.is_some())
        })
        .map(str::to_string)
        .collect())
}

fn parse_build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

/// Per `--progress` (and `-q`): a terminal gets the live view when asked or by default.
pub(crate) fn progress_mode(progress: Progress, quiet: bool) -> Mode {
    match progress {
        _ if quiet => Mode::Quiet,
        Progress::Quiet => Mode::Quiet,
        Progress::Tty => Mode::Tty,
        Progress::Plain | Progress::Json => Mode::Plain,
        Progress::Auto if std::io::stderr().is_terminal() => Mode::Tty,
        Progress::Auto => Mode::Plain,
    }
}

fn print_plan(builds: &[ServiceBuild]) -> anyhow::Result<()> {
    let targets: serde_json::Map<String, serde_json::Value> = builds
        .iter()
        .map(|b| {
            let o = &b.options;
            (
                b.services.join("_"),
                serde_json::json!({
                    "context": o.context,
                    "dockerfile": o.dockerfile,
                    "dockerfile-inline": o.dockerfile_inline,
                    "args": o.build_args,
                    "labels": o.labels,
                    "tags": o.tags,
                    "target": o.target,
                    "network": o.network,
                    "no-cache": o.no_cache,
                    "pull": o.pull,
                    "contexts": o.additional_contexts.iter().map(|(k, v)| (k.clone(), match v {
                        NamedContext::Dir(d) => d.display().to_string(),
                        NamedContext::Image(r) => format!("docker-image://{r}"),
                    })).collect::<BTreeMap<_, _>>(),
                }),
            )
        })
        .collect();
    let doc = serde_json::json!({
        "group": {"default": {"targets": targets.keys().collect::<Vec<_>>()}},
        "target": targets,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

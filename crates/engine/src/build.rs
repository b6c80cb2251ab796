//! Images `up` builds before it creates containers: a service with `build:` whose image is
//! missing, every such service with `--build`, and those with `pull_policy: build`. Services
//! that share a build definition are built once (the image takes all their names).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;

use compose::model::Project as Model;
use compose_build::build::{Builder, StepEvent};
use compose_build::progress::{Mode, Printer};
use compose_build::project::{image_name, plan};
use compose_build::runner::RuntimeRunner;
use compose_runtime::Runtime;

use crate::engine::{Engine, Progress};
use crate::error::{Error, Result};

/// When `up` builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Images that are missing (and `pull_policy: build` ones).
    #[default]
    Missing,
    /// `--build`: every service with a build section.
    Always,
    /// `--no-build`: none; a missing image is an error.
    Never,
}

/// The image a service runs, as written: `image:`, or the name its build gets.
pub fn service_image(
    project: &str,
    service: &str,
    svc: &compose::model::service::Service,
) -> String {
    image_name(project, service, &svc.image)
}

impl Engine {
    /// Builds what `policy` asks for among `selected`; returns the services built.
    pub fn build_for_up(
        &self,
        project: &str,
        model: &Model,
        selected: &BTreeSet<String>,
        policy: BuildPolicy,
        progress: &dyn Progress,
    ) -> Result<Vec<String>> {
        let mut wanted = Vec::new();
        for (name, svc) in &model.services {
            if !selected.contains(name) || svc.build.is_none() {
                continue;
            }
            let image = image_name(project, name, &svc.image);
            let present = self
                .images
                .get_image(&image)
                .map_err(|e| Error::Other(format!("image store: {e}")))?
                .is_some();
            let build = match policy {
                BuildPolicy::Always => true,
                BuildPolicy::Never => false,
                BuildPolicy::Missing => !present || svc.pull_policy == "build",
            };
            if build {
                wanted.push(name.clone());
            } else if !present {
                return Err(Error::Service {
                    service: name.clone(),
                    message: format!("image {image} is not built, and --no-build was given"),
                });
            }
        }
        if wanted.is_empty() {
            return Ok(wanted);
        }
        let builds = plan(model, &wanted, &BTreeMap::new(), false).map_err(Error::Other)?;
        let work = self.root.join("build");
        std::fs::create_dir_all(&work)
            .map_err(|e| Error::Other(format!("{}: {e}", work.display())))?;
        let runner = RuntimeRunner {
            runtime: Runtime::new(work.join("run"), "compose-build")?,
            shim_exe: std::env::current_exe()
                .map_err(|e| Error::Other(format!("finding the compose binary: {e}")))?,
            log_dir: work.join("logs"),
        };
        let builder = Builder {
            store: &self.images,
            runner: Some(&runner),
            work_dir: work.clone(),
        };
        for b in &builds {
            let label = b.services.join(", ");
            let mode = progress
                .build_mode()
                .unwrap_or(if std::io::stderr().is_terminal() {
                    Mode::Tty
                } else {
                    Mode::Plain
                });
            let mut printer = Printer::new(mode, std::io::stderr().lock(), &label);
            builder
                .build(&b.options, &mut |e: &StepEvent| printer.event(e))
                .map_err(|e| Error::Service {
                    service: label.clone(),
                    message: format!("build failed: {e}"),
                })?;
            for s in &b.services {
                progress.event(
                    crate::engine::Kind::Image,
                    &image_name(project, s, &model.services[s].image),
                    "Built",
                );
            }
        }
        Ok(wanted)
    }
}

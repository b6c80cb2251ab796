//! `up --dry-run`: the steps `up` would take (images pulled or built, networks and volumes
//! made, containers created, recreated, restarted, started, removed), told to the progress
//! sink as `up` tells them, with nothing written, made or pulled: the plan is computed from
//! the store and the live state only.

use std::collections::BTreeSet;

use compose::model::volumes::VolumeType;

use super::graph;
use super::up::{
    UpOptions, haves, plan_options, restart_dependents, selected_levels, selection, wants,
};
use crate::build::{BuildPolicy, service_image};
use crate::engine::{Engine, Kind, Progress, Project, emit, warn};
use crate::error::{Error, Result};
use crate::plan::{self, Action};
use crate::pull::PullPolicy;
use crate::store::ContainerRow;

impl Engine {
    /// Tells `progress` what `up` would do with `opts`; `start`: the start phase too (a
    /// detached `up`; an attached dry run stops after creating, as Docker Compose's does).
    pub fn up_dry_run(
        &self,
        p: &Project<'_>,
        opts: &UpOptions,
        start: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        super::check_services(p, &opts.services)?;
        let g = graph(p)?;
        let selected = if opts.no_deps && !opts.services.is_empty() {
            opts.services.iter().cloned().collect()
        } else {
            selection(&g, &opts.services)
        };
        self.dry_images(p, &selected, opts, progress)?;
        let have = self.containers(p.name)?;
        let mut plan = plan::plan(&wants(p, opts)?, &haves(&have), plan_options(opts));
        let rows: Vec<ContainerRow> = have.into_iter().map(|(r, _)| r).collect();
        let name_of = |id: &str| {
            rows.iter()
                .find(|r| r.id == id)
                .map(|r| r.name.clone())
                .ok_or_else(|| Error::Other(format!("container {id} vanished from the state")))
        };
        dry_orphans(&plan.orphans, &rows, opts, progress);
        plan.services.retain(|s, _| selected.contains(s));
        plan::restart_dependents(&mut plan, |s| restart_dependents(&g, s));
        self.dry_networks(p, &selected, progress)?;
        self.dry_volumes(p, &selected, progress)?;
        let levels = selected_levels(&g, &selected);
        let mut to_start = Vec::new();
        for svc in levels.iter().flatten() {
            for a in plan.services.get(*svc).into_iter().flatten() {
                let (name, steps): (String, &[&str]) = match a {
                    Action::Create { number } => (
                        self.container_name(p, svc, *number),
                        &["Creating", "Created"],
                    ),
                    Action::Recreate { id, .. } => (name_of(id)?, &["Recreate", "Recreated"]),
                    Action::Restart { id } => (name_of(id)?, &["Restarting"]),
                    Action::Start { id } => (name_of(id)?, &[]),
                    Action::Keep { id } => (name_of(id)?, &["Running"]),
                    Action::Remove { id } => {
                        let name = name_of(id)?;
                        for s in ["Stopping", "Stopped", "Removing", "Removed"] {
                            emit(progress, Kind::Container, &name, s);
                        }
                        continue;
                    }
                };
                for s in steps {
                    emit(progress, Kind::Container, &name, s);
                }
                if !matches!(a, Action::Keep { .. }) {
                    to_start.push(name);
                }
            }
        }
        if start && !opts.no_start {
            for name in to_start {
                emit(progress, Kind::Container, &name, "Starting");
                emit(progress, Kind::Container, &name, "Started");
            }
        }
        Ok(())
    }

    /// The images `up` would pull (by `--pull` over `pull_policy`) or build.
    fn dry_images(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        opts: &UpOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        let present = |r: &str| {
            self.images
                .get_image(r)
                .map(|i| i.is_some())
                .map_err(|e| Error::Other(format!("image store: {e}")))
        };
        for (name, svc) in &p.model.services {
            if !selected.contains(name) {
                continue;
            }
            let own = PullPolicy::parse(&svc.pull_policy).unwrap_or(PullPolicy::Missing);
            let policy = match opts.pull {
                PullPolicy::Service => own,
                other => other,
            };
            let image = service_image(p.name, name, svc);
            let builds = svc.build.is_some()
                && matches!(svc.pull_policy.as_str(), "" | "build")
                && opts.pull != PullPolicy::Always;
            if builds {
                let build = match opts.build {
                    BuildPolicy::Always => true,
                    BuildPolicy::Never => false,
                    BuildPolicy::Missing => svc.pull_policy == "build" || !present(&image)?,
                };
                if build {
                    emit(progress, Kind::Image, &image, "Building");
                    emit(progress, Kind::Image, &image, "Built");
                }
                continue;
            }
            let pull = match policy {
                PullPolicy::Always => true,
                PullPolicy::Missing => !present(&image)?,
                PullPolicy::Never | PullPolicy::Service => false,
            };
            if pull {
                emit(progress, Kind::Image, &image, "Pulling");
                emit(progress, Kind::Image, &image, "Pulled");
            }
        }
        Ok(())
    }

    /// The project's networks the selection uses that do not exist yet.
    fn dry_networks(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        progress: &dyn Progress,
    ) -> Result<()> {
        for key in self.used_networks(p, selected)? {
            let external = p
                .model
                .networks
                .get(&key)
                .is_some_and(|n| n.external.external);
            let name = crate::network::full_name(p, &key);
            let made = self
                .store
                .network(&name)?
                .and_then(|r| r.info)
                .is_some_and(|info| {
                    compose_network::bridge::bridge_exists(&info.bridge).unwrap_or(false)
                });
            if !external && !made {
                emit(progress, Kind::Network, &name, "Creating");
                emit(progress, Kind::Network, &name, "Created");
            }
        }
        Ok(())
    }

    /// The named volumes the selection uses that do not exist yet.
    fn dry_volumes(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut names = BTreeSet::new();
        for (service, svc) in &p.model.services {
            if !selected.contains(service) {
                continue;
            }
            for v in &svc.volumes {
                if v.kind != VolumeType::Volume || v.source.is_empty() {
                    continue;
                }
                let (name, external) = self.volume_name(p, service, &v.source)?;
                if !external && !crate::volumes::data_dir(&self.root, &name).is_dir() {
                    names.insert(name);
                }
            }
        }
        for name in names {
            let shown = format!("\"{name}\"");
            emit(progress, Kind::Volume, &shown, "Creating");
            emit(progress, Kind::Volume, &shown, "Created");
        }
        Ok(())
    }
}

/// Orphans: removed with `--remove-orphans`, else warned about (as `up` does).
fn dry_orphans(
    orphans: &[plan::Have],
    rows: &[ContainerRow],
    opts: &UpOptions,
    progress: &dyn Progress,
) {
    let names: Vec<&str> = rows
        .iter()
        .filter(|r| orphans.iter().any(|o| o.id == r.id))
        .map(|r| r.name.as_str())
        .collect();
    if names.is_empty() {
        return;
    }
    if !opts.remove_orphans {
        warn(
            progress,
            &format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ),
        );
        return;
    }
    for name in names {
        for s in ["Stopping", "Stopped", "Removing", "Removed"] {
            emit(progress, Kind::Container, name, s);
        }
    }
}

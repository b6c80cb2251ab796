//! `up`: converge the project's containers to the model (create, recreate, start, remove),
//! along the dependency graph, independent services in parallel, honoring `depends_on`
//! conditions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compose::graph::{Condition, Graph};
use compose::model::volumes::VolumeType;

use super::{graph, parallel};
use crate::container::Target;
use crate::engine::{Engine, Kind, Progress, Project, emit, warn};
use crate::error::{Error, Errors, Result};
use crate::image::{self, Resolved};
use crate::plan::{self, Action, Have, Status, Want};
use crate::runner::{Handle, Live};
use crate::store::{ContainerRow, ProjectRow, RecordedState, VolumeRow, now};
use crate::volumes;

/// `up`'s flags.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Only these services and what they depend on (all when empty); orphans are still
    /// judged against the whole project.
    pub services: Vec<String>,
    /// `--scale SERVICE=N`, over `scale:` and `deploy.replicas`.
    pub scale: BTreeMap<String, u32>,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// Create, don't start.
    pub no_start: bool,
    /// Stop timeout for containers being replaced.
    pub timeout: Option<Duration>,
    /// When images of services with `build:` are built (`--build`, `--no-build`).
    pub build: crate::build::BuildPolicy,
    /// `--wait`: return once every started container runs and is healthy (those with a
    /// check), failing if one exits or turns unhealthy; with `--wait-timeout`, in time.
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// `--pull`: over each service's `pull_policy`.
    pub pull: crate::pull::PullPolicy,
    /// `--no-deps`: only the named services, not what they depend on.
    pub no_deps: bool,
    /// `-V`: a recreated container gets new anonymous volumes (the old ones are removed).
    pub renew_anon_volumes: bool,
    /// `--always-recreate-deps`: the named services' dependencies are recreated.
    pub always_recreate_deps: bool,
}

/// What one `up` holds while it runs: containers waiting for start, and the handles of the
/// ones it created (only they can be waited for).
#[derive(Default)]
struct Run {
    /// The outcome of waiting for a container's health, shared by all its dependents.
    health: Mutex<HashMap<String, HealthWait>>,
    pending: Mutex<HashMap<String, Vec<(ContainerRow, Handle)>>>,
    containers: Mutex<HashMap<String, Vec<ContainerRow>>>,
    handles: Mutex<HashMap<String, Arc<Mutex<Handle>>>>,
    exits: Mutex<HashMap<String, i32>>,
}

/// One container's health wait: its outcome once known (the error as text).
type HealthWait = Arc<Mutex<Option<std::result::Result<(), String>>>>;

/// What an attached `up` follows: the selected services' containers in start order, with
/// the handles of those this `up` started (only they can be waited for), and the exit codes
/// of the dependencies it waited for.
#[derive(Debug, Default)]
pub struct Attached {
    pub containers: Vec<ContainerRow>,
    pub handles: HashMap<String, Handle>,
    pub exits: HashMap<String, i32>,
}

impl Run {
    fn attached(self, levels: &[Vec<&str>]) -> Attached {
        let mut containers = lock(&self.containers);
        let rows = levels
            .iter()
            .flatten()
            .flat_map(|s| containers.remove(*s).unwrap_or_default())
            .collect();
        let handles = std::mem::take(&mut *lock(&self.handles))
            .into_iter()
            .filter_map(|(id, h)| {
                let h = Arc::try_unwrap(h).ok()?;
                Some((id, h.into_inner().unwrap_or_else(|p| p.into_inner())))
            })
            .collect();
        let exits = std::mem::take(&mut *lock(&self.exits));
        drop(containers);
        Attached {
            containers: rows,
            handles,
            exits,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A progress sink that drops everything (for steps shown as one event).
struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: Kind, _: &str, _: &str) {}
    fn warn(&self, _: &str) {}
}

impl Engine {
    /// Brings the project up.
    pub fn up(
        &self,
        p: &Project<'_>,
        opts: &UpOptions,
        progress: &dyn Progress,
    ) -> Result<Attached> {
        let _lock = self.lock(p.name)?;
        super::check_services(p, &opts.services)?;
        let g = graph(p)?;
        let selected = if opts.no_deps && !opts.services.is_empty() {
            opts.services.iter().cloned().collect()
        } else {
            selection(&g, &opts.services)
        };
        check_supported(p, &selected, progress)?;
        self.pull_for_up(p.name, p.model, &selected, opts.pull, progress)?;
        self.build_for_up(p.name, p.model, &selected, opts.build, progress)?;
        let images = self.resolve_images(p, &selected)?;
        let replicas: BTreeMap<String, u32> = wants(p, opts)?
            .into_iter()
            .map(|w| (w.service, w.replicas))
            .collect();
        // Published ports are checked before anything is made: a port in use fails here.
        drop(self.reserve_ports(p, &selected, &replicas, false)?);
        self.store.put_project(&ProjectRow {
            name: p.name.to_string(),
            working_dir: p.working_dir.clone(),
            config_files: p.config_files.clone(),
            created_at: now(),
        })?;
        let have = self.containers(p.name)?;
        let mut plan = plan::plan(&wants(p, opts)?, &haves(&have), plan_options(opts));
        self.orphans(&plan.orphans, &have, opts, progress)?;
        plan.services.retain(|s, _| selected.contains(s));
        plan::restart_dependents(&mut plan, |s| restart_dependents(&g, s));
        self.project_volumes(p, &selected, progress)?;
        let networks = self.ensure_networks(p, &selected, progress)?;
        let book = self.reserve_ports(p, &selected, &replicas, true)?;
        let run = Run::default();
        let rows: HashMap<String, ContainerRow> =
            have.into_iter().map(|(r, _)| (r.id.clone(), r)).collect();
        let levels = selected_levels(&g, &selected);
        // The supervisor (DNS) starts while the containers are made, when the project has
        // networks of its own (one on external networks only would find nothing to serve
        // yet and end); it reads them all once they are made, before the first one starts.
        let early = !networks.is_empty() && !self.store.networks(p.name)?.is_empty();
        let converged = std::thread::scope(|s| {
            let supervisor =
                early.then(|| s.spawn(|| crate::supervisor::ensure_running(&self.root, p.name)));
            let made = self.converge_all(p, &plan, &images, &rows, &run, &levels, opts, progress);
            let started = supervisor.map(|h| match h.join() {
                Ok(r) => r.map_err(Error::from),
                Err(_) => Err(panicked("starting the supervisor")),
            });
            made?;
            started.transpose()?;
            // DNS, restart policies and health checks: for every project with containers.
            if !early {
                crate::supervisor::ensure_running(&self.root, p.name)?;
            }
            crate::supervisor::poke(&self.root, p.name)?;
            Ok::<_, Error>(())
        });
        converged?;
        self.publish_ports(p, &selected, &book)?;
        drop(book);
        if opts.no_start {
            return Ok(run.attached(&levels));
        }
        for level in &levels {
            parallel(level, |svc| {
                self.await_dependencies(&g, svc, &run, progress)?;
                let pending = lock(&run.pending).remove(*svc).unwrap_or_default();
                for (row, mut handle) in pending {
                    self.start_announced(&row, &mut handle, progress)?;
                    lock(&run.handles).insert(row.id.clone(), Arc::new(Mutex::new(handle)));
                }
                Ok(())
            })?;
        }
        // The new containers' states (running) for the next reader; their names already
        // answer (and do while `--wait` probes them).
        crate::supervisor::poke(&self.root, p.name)?;
        if opts.wait {
            self.wait_ready(&levels, &run, opts.wait_timeout, progress)?;
        }
        Ok(run.attached(&levels))
    }

    /// Carries out every service's actions up to "created". A service that only gets new
    /// containers and joins no other container's netns needs nothing of the others to be
    /// made: all such go at once; the rest follow level by level, dependencies first.
    #[allow(clippy::too_many_arguments)]
    fn converge_all(
        &self,
        p: &Project<'_>,
        plan: &plan::Plan,
        images: &BTreeMap<String, Resolved>,
        rows: &HashMap<String, ContainerRow>,
        run: &Run,
        levels: &[Vec<&str>],
        opts: &UpOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        let actions = |svc: &str| plan.services.get(svc).cloned().unwrap_or_default();
        let converge = |svc: &&str| {
            let img = images
                .get(*svc)
                .ok_or_else(|| Error::NoSuchService(svc.to_string()))?;
            self.converge(p, svc, &actions(svc), img, rows, run, opts, progress)
        };
        let mut independent = Vec::new();
        let mut rest: Vec<Vec<&str>> = Vec::new();
        for level in levels {
            let mut later = Vec::new();
            for svc in level {
                if only_creates(&actions(svc)) && !joins_other(p, svc)? {
                    independent.push(*svc);
                } else {
                    later.push(*svc);
                }
            }
            rest.push(later);
        }
        parallel_bounded(&independent, converge)?;
        for level in rest.iter().filter(|l| !l.is_empty()) {
            parallel(level, converge)?;
        }
        Ok(())
    }

    /// `--wait`: every container of the selected services running, and healthy when it
    /// has a check; one-shot containers that exited 0 are fine when something depends on
    /// them completing (as Docker Compose allows).
    fn wait_ready(
        &self,
        levels: &[Vec<&str>],
        run: &Run,
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        for level in levels {
            parallel(level, |svc| {
                let rows = lock(&run.containers).get(*svc).cloned().unwrap_or_default();
                for row in rows {
                    emit(progress, Kind::Container, &row.name, "Waiting");
                    match &row.info.health {
                        Some(check) => self.wait_healthy(&row, check, deadline)?,
                        None => match self.live(&row) {
                            crate::runner::Live::Running => {
                                emit(progress, Kind::Container, &row.name, "Running");
                                continue;
                            }
                            crate::runner::Live::Exited(Some(0)) => {
                                emit(progress, Kind::Container, &row.name, "Exited");
                                continue;
                            }
                            other => {
                                return Err(Error::Other(format!(
                                    "container {} is not running ({other:?})",
                                    row.name
                                )));
                            }
                        },
                    }
                    emit(progress, Kind::Container, &row.name, "Healthy");
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn resolve_images(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Resolved>> {
        let mut out = BTreeMap::new();
        for (name, svc) in &p.model.services {
            if !selected.contains(name) {
                continue;
            }
            let reference = crate::build::service_image(p.name, name, svc);
            out.insert(
                name.clone(),
                image::resolve(&self.images, name, &reference)?,
            );
        }
        Ok(out)
    }

    fn orphans(
        &self,
        orphans: &[Have],
        have: &[(ContainerRow, Live)],
        opts: &UpOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        if orphans.is_empty() {
            return Ok(());
        }
        let rows: Vec<&ContainerRow> = have
            .iter()
            .map(|(r, _)| r)
            .filter(|r| orphans.iter().any(|o| o.id == r.id))
            .collect();
        if !opts.remove_orphans {
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            warn(
                progress,
                &format!(
                    "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(" ")
                ),
            );
            return Ok(());
        }
        for r in rows {
            self.stop(r, opts.timeout, progress)?;
            self.remove(r, false, progress)?;
        }
        Ok(())
    }

    /// Makes the project volumes the services use.
    fn project_volumes(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for (name, svc) in &p.model.services {
            if !selected.contains(name) {
                continue;
            }
            for v in &svc.volumes {
                if v.kind == VolumeType::Volume && !v.source.is_empty() {
                    keys.push((name, &v.source));
                }
            }
        }
        keys.sort_by_key(|(_, k)| *k);
        keys.dedup_by_key(|(_, k)| *k);
        for (service, key) in keys {
            let (name, external) = self.volume_name(p, service, key)?;
            if volumes::data_dir(&self.root, &name).is_dir() {
                continue;
            }
            if external {
                volumes::ensure(&self.root, &name, true)?;
            }
            let shown = format!("\"{name}\"");
            emit(progress, Kind::Volume, &shown, "Creating");
            self.store.insert_volume(&VolumeRow {
                name: name.clone(),
                project: p.name.to_string(),
                key: Some(key.to_string()),
                container: None,
                external: false,
                created_at: now(),
            })?;
            volumes::ensure(&self.root, &name, false)?;
            emit(progress, Kind::Volume, &shown, "Created");
        }
        Ok(())
    }

    /// Carries out a service's actions up to "created"; what must start is left in `run`.
    #[allow(clippy::too_many_arguments)]
    fn converge(
        &self,
        p: &Project<'_>,
        svc: &str,
        actions: &[Action],
        img: &Resolved,
        rows: &HashMap<String, ContainerRow>,
        run: &Run,
        opts: &UpOptions,
        progress: &dyn Progress,
    ) -> Result<()> {
        let row_of = |id: &str| {
            rows.get(id)
                .cloned()
                .ok_or_else(|| Error::Other(format!("container {id} vanished from the state")))
        };
        let mut pending = Vec::new();
        let mut all = Vec::new();
        for a in actions {
            match a {
                Action::Create { number } => {
                    let target = Target::New {
                        number: *number,
                        inherit: Vec::new(),
                    };
                    let (row, h) = self.create(p, svc, img, target, progress)?;
                    all.push(row.clone());
                    pending.push((row, h));
                }
                Action::Recreate { id, number } => {
                    let old = row_of(id)?;
                    emit(progress, Kind::Container, &old.name, "Recreate");
                    self.stop(&old, opts.timeout, &Quiet)?;
                    // Docker Compose keeps anonymous volumes' data across a recreate,
                    // unless `-V` asks for new ones (then nothing refers to the old).
                    let renew = opts.renew_anon_volumes;
                    self.remove(&old, renew, &Quiet)?;
                    let inherit = match renew {
                        true => Vec::new(),
                        false => old.info.anonymous.clone(),
                    };
                    let target = Target::New {
                        number: *number,
                        inherit,
                    };
                    let (row, h) = self.create(p, svc, img, target, &Quiet)?;
                    emit(progress, Kind::Container, &row.name, "Recreated");
                    all.push(row.clone());
                    pending.push((row, h));
                }
                Action::Start { id } => {
                    let row = row_of(id)?;
                    let h = match self.live(&row) {
                        Live::Created => self.runner.load(&row.id, &row.name)?,
                        _ => self.create(p, svc, img, Target::Again(&row), progress)?.1,
                    };
                    all.push(row.clone());
                    pending.push((row, h));
                }
                Action::Restart { id } => {
                    let row = row_of(id)?;
                    emit(progress, Kind::Container, &row.name, "Restarting");
                    self.stop(&row, opts.timeout, &Quiet)?;
                    let h = self.create(p, svc, img, Target::Again(&row), &Quiet)?.1;
                    all.push(row.clone());
                    pending.push((row, h));
                }
                Action::Keep { id } => {
                    let row = row_of(id)?;
                    emit(progress, Kind::Container, &row.name, "Running");
                    all.push(row);
                }
                Action::Remove { id } => {
                    let row = row_of(id)?;
                    self.stop(&row, opts.timeout, progress)?;
                    self.remove(&row, false, progress)?;
                }
            }
        }
        lock(&run.pending).insert(svc.to_string(), pending);
        lock(&run.containers).insert(svc.to_string(), all);
        Ok(())
    }

    /// Waits for what `svc`'s `depends_on` conditions require of its dependencies.
    fn await_dependencies(
        &self,
        g: &Graph,
        svc: &str,
        run: &Run,
        progress: &dyn Progress,
    ) -> Result<()> {
        for (dep, how) in g.dependencies(svc) {
            if how.condition == Condition::Healthy {
                self.await_healthy(dep, run, progress)?;
                continue;
            }
            if how.condition != Condition::CompletedSuccessfully {
                continue;
            }
            let rows = lock(&run.containers).get(dep).cloned().unwrap_or_default();
            for row in rows {
                emit(progress, Kind::Container, &row.name, "Waiting");
                let code = self.exit_code(&row, run)?;
                if code != 0 {
                    return Err(Error::NotCompleted {
                        service: dep.to_string(),
                        code,
                    });
                }
                emit(progress, Kind::Container, &row.name, "Exited");
            }
        }
        Ok(())
    }

    /// `service_healthy`: every container of `dep` passes its check.
    fn await_healthy(&self, dep: &str, run: &Run, progress: &dyn Progress) -> Result<()> {
        let rows = lock(&run.containers).get(dep).cloned().unwrap_or_default();
        for row in rows {
            let Some(check) = &row.info.health else {
                return Err(Error::Other(format!(
                    "dependency failed to start: container {} has no healthcheck configured",
                    row.name
                )));
            };
            let cell = lock(&run.health).entry(row.id.clone()).or_default().clone();
            let mut outcome = lock(&cell);
            if outcome.is_none() {
                emit(progress, Kind::Container, &row.name, "Waiting");
                let r = self
                    .wait_healthy(&row, check, None)
                    .map_err(|e| e.to_string());
                if r.is_ok() {
                    emit(progress, Kind::Container, &row.name, "Healthy");
                }
                *outcome = Some(r);
            }
            if let Some(Err(e)) = outcome.as_ref() {
                return Err(Error::Other(format!("dependency failed to start: {e}")));
            }
        }
        Ok(())
    }

    /// The exit code of a dependency: waited for when this `up` created it, else what the
    /// runtime or the store recorded once it stops.
    fn exit_code(&self, row: &ContainerRow, run: &Run) -> Result<i32> {
        if let Some(code) = lock(&run.exits).get(&row.id) {
            return Ok(*code);
        }
        let handle = lock(&run.handles).get(&row.id).cloned();
        if let Some(h) = handle {
            let mut h = lock(&h);
            if let Some(code) = lock(&run.exits).get(&row.id) {
                return Ok(*code);
            }
            let code = h.wait(&row.name)?;
            self.store
                .set_state(&row.id, RecordedState::Exited, None, Some(code))?;
            lock(&run.exits).insert(row.id.clone(), code);
            return Ok(code);
        }
        // Its shim records the exit: any process can wait for it.
        match self.live(row) {
            Live::Exited(Some(code)) => Ok(code),
            Live::Exited(None) | Live::Missing => Err(Error::Service {
                service: row.service.clone(),
                message: format!("the exit status of {} is unknown", row.name),
            }),
            Live::Running | Live::Paused | Live::Created => {
                Ok(self.runner.wait(&row.id, &row.name)?)
            }
        }
    }
}

/// How many containers are made at once: past a few, they only contend for the store,
/// the cores and the network's locks.
const WORKERS: usize = 8;

/// Runs `f` on every item, at most [`WORKERS`] at a time; every failure is reported.
pub(super) fn parallel_bounded<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    if items.len() <= 1 {
        return items.first().map_or(Ok(()), f);
    }
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Errors::default());
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..items.len().min(WORKERS))
            .map(|_| {
                s.spawn(|| {
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let r = f(item);
                        lock(&errors).note(r);
                    }
                })
            })
            .collect();
        for w in workers {
            if w.join().is_err() {
                lock(&errors).0.push(panicked("a worker thread"));
            }
        }
    });
    errors
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_result()
}

fn panicked(what: &str) -> Error {
    Error::Other(format!("{what} panicked"))
}

/// Whether a service's actions only make new containers (nothing to stop or remove first).
fn only_creates(actions: &[Action]) -> bool {
    actions.iter().all(|a| matches!(a, Action::Create { .. }))
}

/// Whether the service's containers join another container's network namespace, which
/// must then exist first.
fn joins_other(p: &Project<'_>, svc: &str) -> Result<bool> {
    use compose_network::mode::NetworkMode;
    Ok(matches!(
        crate::network::mode(p, svc)?,
        NetworkMode::Service(_) | NetworkMode::Container(_)
    ))
}

/// The services `up` acts on: the named ones and their dependencies, or all.
pub(super) fn selection(g: &Graph, services: &[String]) -> BTreeSet<String> {
    if services.is_empty() {
        return g.services().into_iter().map(String::from).collect();
    }
    let names: Vec<&str> = services.iter().map(String::as_str).collect();
    g.with_dependencies(&names)
        .into_iter()
        .map(String::from)
        .collect()
}

/// The start levels restricted to `selected`.
pub(super) fn selected_levels<'g>(g: &'g Graph, selected: &BTreeSet<String>) -> Vec<Vec<&'g str>> {
    g.start_levels()
        .into_iter()
        .map(|l| {
            l.into_iter()
                .filter(|s| selected.contains(*s))
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

pub(super) fn plan_options(o: &UpOptions) -> plan::Options {
    plan::Options {
        force_recreate: o.force_recreate,
        no_recreate: o.no_recreate,
        always_recreate_deps: o.always_recreate_deps,
    }
}

/// The services that depend on `s` with `restart: true`.
pub(super) fn restart_dependents<'g>(g: &'g Graph, s: &str) -> Vec<&'g str> {
    g.dependents(s)
        .into_iter()
        .filter(|(_, how)| how.restart)
        .map(|(d, _)| d)
        .collect()
}

pub(super) fn wants(p: &Project<'_>, opts: &UpOptions) -> Result<Vec<Want>> {
    let mut out = Vec::new();
    for (name, svc) in &p.model.services {
        let replicas = match opts.scale.get(name) {
            Some(n) => *n,
            None => u32::try_from(svc.replicas()).map_err(|_| Error::Service {
                service: name.clone(),
                message: format!("invalid number of replicas {}", svc.replicas()),
            })?,
        };
        if replicas > 1 && !svc.container_name.is_empty() {
            return Err(Error::Service {
                service: name.clone(),
                message: format!(
                    "container_name {:?} cannot be used with {replicas} replicas",
                    svc.container_name
                ),
            });
        }
        out.push(Want {
            service: name.clone(),
            replicas,
            config_hash: p.hash(name),
            dependency: !opts.services.is_empty() && !opts.services.contains(name),
        });
    }
    Ok(out)
}

pub(super) fn haves(have: &[(ContainerRow, Live)]) -> Vec<Have> {
    have.iter()
        .map(|(r, l)| Have {
            id: r.id.clone(),
            service: r.service.clone(),
            number: r.number,
            config_hash: r.config_hash.clone(),
            status: match l {
                Live::Running | Live::Paused => Status::Running,
                Live::Created | Live::Exited(_) => Status::Stopped,
                Live::Missing => Status::Broken,
            },
        })
        .collect()
}

/// Refuses, before anything is made, what the engine cannot do yet; warns about what it
/// ignores.
fn check_supported(
    p: &Project<'_>,
    selected: &BTreeSet<String>,
    progress: &dyn Progress,
) -> Result<()> {
    for (name, svc) in &p.model.services {
        if !selected.contains(name) {
            continue;
        }
        let err = |message: String| Error::Service {
            service: name.clone(),
            message,
        };
        compose_network::mode::NetworkMode::parse(&svc.network_mode)
            .map_err(|e| err(e.to_string()))?;
        if !svc.sysctls.is_empty() {
            warn(
                progress,
                &format!("service {name}: sysctls are not applied by the runtime yet"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_parallel_runs_each_item_once_at_most_workers_at_a_time() {
        let items: Vec<usize> = (0..40).collect();
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let done = Mutex::new(Vec::new());
        let r = parallel_bounded(&items, |i| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            lock(&done).push(*i);
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
        assert!(r.is_ok());
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, items);
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= WORKERS, "{peak} at once");
        assert!(peak > 1, "ran one at a time");
    }

    #[test]
    fn bounded_parallel_reports_every_failure_and_goes_on() {
        let items: Vec<usize> = (0..20).collect();
        let ran = AtomicUsize::new(0);
        let r = parallel_bounded(&items, |i| {
            ran.fetch_add(1, Ordering::SeqCst);
            if i % 5 == 0 {
                return Err(Error::Other(format!("item {i} failed")));
            }
            Ok(())
        });
        assert_eq!(ran.load(Ordering::SeqCst), 20);
        let Err(Error::Many(errors)) = r else {
            panic!("expected every failure: {r:?}")
        };
        let mut text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        text.sort();
        assert_eq!(
            text,
            [
                "item 0 failed",
                "item 10 failed",
                "item 15 failed",
                "item 5 failed"
            ]
        );
        assert!(parallel_bounded(&[] as &[usize], |_| Ok(())).is_ok());
    }

    #[test]
    fn only_new_containers_are_made_ahead_of_their_level() {
        assert!(only_creates(&[]));
        assert!(only_creates(&[
            Action::Create { number: 1 },
            Action::Create { number: 2 }
        ]));
        assert!(!only_creates(&[
            Action::Create { number: 2 },
            Action::Keep { id: "x".into() }
        ]));
        assert!(!only_creates(&[Action::Recreate {
            id: "x".into(),
            number: 1
        }]));
    }
}

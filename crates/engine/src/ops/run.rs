//! `run`: a one-off container of a service (`<project>-<service>-run-<hex>`, labeled
//! `com.docker.compose.oneoff=True`), its command and settings overridden by the flags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use compose::model::volumes::{VolumeType, parse_volume_spec};

use crate::build::BuildPolicy;
use crate::container::Target;
use crate::engine::{Engine, Progress, Project, new_id};
use crate::error::{Error, Result};
use crate::image;
use crate::runner::Handle;
use crate::store::{ContainerRow, ProjectRow, now};

/// `-p` flags as the service's `ports:` of the one-off container.
fn publish_flags(
    service: &str,
    flags: &[String],
) -> Result<Vec<compose::model::ports::ServicePort>> {
    let mut out = Vec::new();
    for f in flags {
        let ports = compose::model::ports::parse_port_spec(f).map_err(|e| Error::Service {
            service: service.to_string(),
            message: format!("invalid --publish {f:?}: {e}"),
        })?;
        out.extend(ports);
    }
    Ok(out)
}

/// `run`'s flags the engine applies.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub service: String,
    /// The command (the service's when `None`).
    pub command: Option<Vec<String>>,
    /// `--entrypoint` (the service's or the image's when `None`; empty: none).
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VAL`.
    pub env: Vec<String>,
    /// `-v SRC:DST[:OPTS]`.
    pub volumes: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    /// The process inherits our stdio and is our child (attached); else under a shim.
    pub foreground: bool,
    /// `-p/--publish`: ports published for this container (`[IP:][HOST:]CONTAINER[/PROTO]`).
    pub publish: Vec<String>,
    /// `--service-ports`: the service's own `ports:` published.
    pub service_ports: bool,
    /// `--use-aliases`: the service's name and network aliases resolve to it too.
    pub use_aliases: bool,
    /// `--build`: the service's image built first (else only when missing).
    pub build: bool,
    /// `--pull`: over the service's `pull_policy`.
    pub pull: crate::pull::PullPolicy,
    /// `-l KEY=VAL`: labels added or overridden.
    pub labels: Vec<String>,
    /// `--cap-add`, `--cap-drop`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

impl Engine {
    /// The services `run` brings up first: what `service` depends on.
    pub fn run_dependencies(&self, p: &Project<'_>, service: &str) -> Result<Vec<String>> {
        Ok(p.service(service)?.depends_on.keys().cloned().collect())
    }

    /// Creates the one-off container (not started).
    pub fn run_create(
        &self,
        p: &Project<'_>,
        opts: &RunOptions,
        progress: &dyn Progress,
    ) -> Result<(ContainerRow, Handle)> {
        let _lock = self.lock(p.name)?;
        let only: BTreeSet<String> = [opts.service.clone()].into();
        let policy = if opts.build {
            BuildPolicy::Always
        } else {
            BuildPolicy::Missing
        };
        self.pull_for_up(p.name, p.model, &only, opts.pull, progress)?;
        self.build_for_up(p.name, p.model, &only, policy, progress)?;
        let mut model = p.model.clone();
        let svc = model
            .services
            .get_mut(&opts.service)
            .ok_or_else(|| Error::NoSuchService(opts.service.clone()))?;
        if let Some(c) = &opts.command {
            svc.command = Some(c.clone());
        }
        if let Some(e) = &opts.entrypoint {
            svc.entrypoint = Some(e.clone());
            if opts.command.is_none() {
                // As Docker: a new entrypoint drops the service's command.
                svc.command = None;
            }
        }
        for kv in &opts.env {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            svc.environment.insert(k.to_string(), Some(v.to_string()));
        }
        for v in &opts.volumes {
            let mut vol = parse_volume_spec(v).map_err(|e| Error::Service {
                service: opts.service.clone(),
                message: format!("invalid -v {v:?}: {e}"),
            })?;
            if vol.kind == VolumeType::Bind && !Path::new(&vol.source).is_absolute() {
                vol.source = Path::new(&p.working_dir)
                    .join(&vol.source)
                    .display()
                    .to_string();
            }
            svc.volumes.retain(|o| o.target != vol.target);
            svc.volumes.push(vol);
        }
        for kv in &opts.labels {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            svc.labels.insert(k.to_string(), v.to_string());
        }
        svc.cap_add.extend(opts.cap_add.iter().cloned());
        svc.cap_drop.extend(opts.cap_drop.iter().cloned());
        if let Some(w) = &opts.workdir {
            svc.working_dir = w.clone();
        }
        if let Some(u) = &opts.user {
            svc.user = u.clone();
        }
        svc.tty = opts.tty;
        svc.stdin_open = opts.stdin_open;
        // A one-off container is never restarted, publishes only what `-p` (or
        // `--service-ports`) asks for, has its own name.
        svc.restart = String::new();
        if !opts.service_ports {
            svc.ports = publish_flags(&opts.service, &opts.publish)?;
        }
        svc.container_name.clear();
        let name = match &opts.name {
            Some(n) => n.clone(),
            None => {
                let hex = new_id()?;
                format!("{}-{}-run-{}", p.name, opts.service, &hex[..12])
            }
        };
        let image_ref = crate::build::service_image(p.name, &opts.service, svc);
        let sub = Project {
            model: &model,
            ..p.clone()
        };
        let img = image::resolve(&self.images, &opts.service, &image_ref)?;
        let target = Target::OneOff {
            name,
            foreground: opts.foreground,
            use_aliases: opts.use_aliases,
        };
        // Its networks exist even when nothing of the project runs yet.
        self.store.put_project(&ProjectRow {
            name: p.name.to_string(),
            working_dir: p.working_dir.clone(),
            config_files: p.config_files.clone(),
            created_at: now(),
        })?;
        let networks = self.ensure_networks(&sub, &only, progress)?;
        let one: BTreeMap<String, u32> = [(opts.service.clone(), 1)].into();
        let book = self.reserve_ports(&sub, &only, &one, true)?;
        let made = self.create(&sub, &opts.service, &img, target, progress)?;
        self.publish_container(&sub, &made.0, &book)?;
        drop(book);
        if !networks.is_empty() {
            crate::supervisor::ensure_running(&self.root, p.name)?;
        }
        Ok(made)
    }

    /// Starts a one-off container `run_create` made.
    pub fn run_start(
        &self,
        row: &ContainerRow,
        handle: &mut Handle,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.start(row, handle, progress)?;
        // Its health check (and the project's DNS) is the supervisor's.
        crate::supervisor::ensure_running(&self.root, &row.project)?;
        Ok(())
    }

    /// Records the exit of a foreground one-off container and returns its code.
    pub fn run_wait(&self, row: &ContainerRow, handle: &mut Handle) -> Result<i32> {
        let code = handle.wait(&row.name)?;
        self.store.set_state(
            &row.id,
            crate::store::RecordedState::Exited,
            None,
            Some(code),
        )?;
        Ok(code)
    }

    /// Stops a one-off container: its stop signal, then SIGKILL when `force` or after its
    /// grace period.
    pub fn run_stop(&self, row: &ContainerRow, force: bool, progress: &dyn Progress) -> Result<()> {
        if force {
            return Ok(self.runner.kill(&row.id, &row.name, libc::SIGKILL)?);
        }
        self.stop(row, None, progress)
    }

    /// Removes a one-off container (`--rm`) and its anonymous volumes.
    pub fn run_remove(&self, row: &ContainerRow, progress: &dyn Progress) -> Result<()> {
        self.stop(row, None, progress)?;
        self.remove(row, true, progress)
    }
}

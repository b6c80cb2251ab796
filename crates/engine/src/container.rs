//! One container of a project: made (record first, then volumes, then the runtime
//! container), started, stopped and removed.

use std::path::PathBuf;
use std::time::Duration;

use oci_spec::runtime::Mount;

use crate::engine::{Engine, Kind, Progress, Project, emit, new_id};
use crate::error::{Error, Result};
use crate::image::Resolved;
use crate::runner::{Create, Handle, Live};
use crate::spec::{self, ContainerSpec, MountRequest};
use crate::store::{ContainerInfo, ContainerRow, RecordedState, VolumeRow, now};
use crate::{naming, volumes};

/// Which container to make: a new one, or an existing record made again in place (same id,
/// name and number; a stopped container restarts this way until the runtime can restart).
pub(crate) enum Target<'a> {
    /// A new container; `inherit`: anonymous volumes of the one it replaces.
    New {
        number: u32,
        inherit: Vec<String>,
    },
    Again(&'a ContainerRow),
    /// A one-off container (`run`) named `name`; `foreground`: its process inherits this
    /// process's stdio and is its child (no shim, no log).
    OneOff {
        name: String,
        foreground: bool,
        /// `run --use-aliases`: the service's names in DNS too.
        use_aliases: bool,
    },
}

impl Engine {
    /// The container's name: `container_name:`, else `<project>-<service>-<n>`.
    pub(crate) fn container_name(&self, p: &Project<'_>, service: &str, number: u32) -> String {
        match p.model.services.get(service) {
            Some(s) if !s.container_name.is_empty() => s.container_name.clone(),
            _ => naming::container_name(p.name, service, number),
        }
    }

    pub(crate) fn build_spec(
        &self,
        p: &Project<'_>,
        service: &str,
        image: &Resolved,
        number: u32,
        id: &str,
        oneoff: bool,
    ) -> Result<ContainerSpec> {
        let svc = p.service(service)?;
        let passwd = image.read_file("/etc/passwd");
        let group = image.read_file("/etc/group");
        let host_caps = compose_runtime::caps::own_status_mask("CapBnd")?;
        let hash = p.hash(service);
        let input = spec::Input {
            project: p.name,
            service_name: service,
            service: svc,
            image: &image.config,
            image_ref: &svc.image,
            number,
            container_id: id,
            config_hash: &hash,
            working_dir: &p.working_dir,
            config_files: &p.config_files,
            oneoff,
            passwd: passwd.as_deref(),
            group: group.as_deref(),
            host_caps,
        };
        Ok(spec::build(&input)?)
    }

    /// Makes the container: records it (state `creating`) before anything exists, makes its
    /// volumes, then the runtime container, waiting to be started.
    pub(crate) fn create(
        &self,
        p: &Project<'_>,
        service: &str,
        image: &Resolved,
        target: Target<'_>,
        progress: &dyn Progress,
    ) -> Result<(ContainerRow, Handle)> {
        let (oneoff, foreground, use_aliases) = match &target {
            Target::OneOff {
                foreground,
                use_aliases,
                ..
            } => (true, *foreground, *use_aliases),
            Target::Again(row) => (row.oneoff, false, row.info.use_aliases),
            Target::New { .. } => (false, false, false),
        };
        let (id, number, name, again, inherit) = match target {
            Target::OneOff { name, .. } => (new_id()?, 1, name, false, Vec::new()),
            Target::New { number, inherit } => (
                new_id()?,
                number,
                self.container_name(p, service, number),
                false,
                inherit,
            ),
            Target::Again(row) => (
                row.id.clone(),
                row.number,
                row.name.clone(),
                true,
                row.info.anonymous.clone(),
            ),
        };
        if !again {
            emit(progress, Kind::Container, &name, "Creating");
        }
        let cs = self.build_spec(p, service, image, number, &id, oneoff)?;
        let health = crate::health::check_for(
            p.service(service)?,
            &image.config,
            cs.spec.process().as_ref(),
        );
        let restart = match oneoff {
            true => None,
            false => Some(
                crate::restart::Policy::of(service, p.service(service)?)
                    .map_err(|e| Error::Other(e.to_string()))?,
            ),
        };
        let log = self.log_path(&id);
        let row = ContainerRow {
            id: id.clone(),
            project: p.name.to_string(),
            service: service.to_string(),
            number,
            oneoff,
            name: name.clone(),
            config_hash: p.hash(service),
            image: crate::build::service_image(p.name, service, p.service(service)?),
            labels: cs.labels.clone(),
            state: RecordedState::Creating,
            info: ContainerInfo {
                command: cs.command.clone(),
                ports: cs.ports.clone(),
                stop_signal: cs.stop_signal,
                stop_grace_ms: cs.stop_grace.as_millis() as u64,
                log: log.clone(),
                volumes: Vec::new(),
                anonymous: inherit,
                health,
                restart,
                use_aliases,
            },
            created_at: now(),
            started_at: None,
            finished_at: None,
            exit_code: None,
        };
        if again {
            self.runner.delete(&id, &name)?;
            self.store
                .set_state(&id, RecordedState::Creating, None, None)?;
        } else {
            self.store.insert_container(&row).map_err(|e| match &e {
                crate::store::StoreError::Db { source, .. }
                    if source.to_string().contains("UNIQUE") =>
                {
                    Error::Other(format!(
                        "container name \"{name}\" is already in use (by another project or container)"
                    ))
                }
                _ => Error::Store(e),
            })?;
        }
        let mut row = row;
        // Held before the overlay is made, released by `remove`: an image untagged or
        // re-tagged and then pruned keeps this container's snapshots.
        self.images.hold(&id, &image.manifest).map_err(|e| {
            Error::Other(format!(
                "service {service}: image {}: {e} (removed while the container was being created?)",
                image.reference
            ))
        })?;
        let (mounts, vols, anon) = self.mounts(p, &row, image, &cs.mounts)?;
        row.info.volumes = vols;
        row.info.anonymous = anon;
        self.store.set_info(&id, &row.info)?;
        let (init, tty, stdin) = (cs.init, cs.tty, cs.stdin_open);
        let mut spec = cs.spec;
        let mut all = spec.mounts().clone().unwrap_or_default();
        all.extend(mounts);
        spec.set_mounts(Some(all));
        let net = self.network_prepare(p, &row)?;
        net.adjust(&mut spec);
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Other(format!("create {}: {e}", dir.display())))?;
        }
        let (log_max_size, log_max_files) = crate::logs::rotation(service, p.service(service)?)?;
        let create = if foreground {
            crate::runner::Runner::create_foreground
        } else {
            crate::runner::Runner::create
        };
        let handle = create(
            &self.runner,
            &Create {
                id: &id,
                name: &name,
                spec: &spec,
                lowers: &image.lowers,
                rw: &self.rw_dir(&id),
                log: &log,
                log_max_size,
                log_max_files,
                netns: net.join.clone(),
                init,
                tty,
                stdin,
            },
        )?;
        self.network_attach(&row, &net)?;
        self.store
            .set_state(&id, RecordedState::Created, None, None)?;
        row.state = RecordedState::Created;
        if !again {
            self.journal(&row, "create");
            emit(progress, Kind::Container, &name, "Created");
        }
        Ok((row, handle))
    }

    /// Makes the volumes and bind sources of a container's mounts: the runtime mounts and
    /// the names of the volumes used.
    fn mounts(
        &self,
        p: &Project<'_>,
        row: &ContainerRow,
        image: &Resolved,
        reqs: &[MountRequest],
    ) -> Result<(Vec<Mount>, Vec<String>, Vec<String>)> {
        let mut out = Vec::new();
        let mut names = Vec::new();
        let mut anonymous = Vec::new();
        let mut inherited = row.info.anonymous.iter().cloned();
        for r in reqs {
            match r {
                MountRequest::Volume {
                    key,
                    target,
                    read_only,
                    nocopy,
                    subpath,
                } => {
                    let (name, external) = match key {
                        Some(k) => self.volume_name(p, &row.service, k)?,
                        None => match inherited.next() {
                            Some(n) => (n, false),
                            None => (new_id()?, false),
                        },
                    };
                    if key.is_none() {
                        anonymous.push(name.clone());
                    }
                    self.store.insert_volume(&VolumeRow {
                        name: name.clone(),
                        project: p.name.to_string(),
                        key: key.clone(),
                        container: key.is_none().then(|| row.id.clone()),
                        external,
                        created_at: now(),
                    })?;
                    if key.is_none() {
                        // An inherited one still names the container it came from.
                        self.store.set_volume_container(&name, &row.id)?;
                    }
                    let made = volumes::ensure(&self.root, &name, external)?;
                    if (made || volumes::is_empty(&self.root, &name)?) && !nocopy {
                        volumes::copy_up(&self.root, &name, &image.lowers, target)?;
                    }
                    let mut src = volumes::data_dir(&self.root, &name);
                    if !subpath.is_empty() {
                        if subpath.split('/').any(|c| c == "..") || subpath.starts_with('/') {
                            return Err(Error::Service {
                                service: row.service.clone(),
                                message: format!(
                                    "volume subpath {subpath:?} must stay inside the volume"
                                ),
                            });
                        }
                        src = src.join(subpath);
                    }
                    out.push(bind_mount(src, target, *read_only, ""));
                    names.push(name);
                }
                MountRequest::Bind {
                    source,
                    target,
                    read_only,
                    create_host_path,
                    propagation,
                } => {
                    if !source.exists() {
                        if *create_host_path {
                            std::fs::create_dir_all(source).map_err(|e| Error::Service {
                                service: row.service.clone(),
                                message: format!("create bind source {}: {e}", source.display()),
                            })?;
                        } else {
                            return Err(Error::Service {
                                service: row.service.clone(),
                                message: format!(
                                    "bind source path does not exist: {}",
                                    source.display()
                                ),
                            });
                        }
                    }
                    out.push(bind_mount(source.clone(), target, *read_only, propagation));
                }
            }
        }
        Ok((out, names, anonymous))
    }

    /// The engine name of a project volume key, and whether it is external.
    pub(crate) fn volume_name(
        &self,
        p: &Project<'_>,
        service: &str,
        key: &str,
    ) -> Result<(String, bool)> {
        let v = p.model.volumes.get(key).ok_or_else(|| Error::Service {
            service: service.to_string(),
            message: format!("refers to undefined volume {key}"),
        })?;
        let name = if v.name.is_empty() {
            naming::volume_name(p.name, key)
        } else {
            v.name.clone()
        };
        if !v.driver.is_empty() && v.driver != "local" {
            return Err(Error::Service {
                service: service.to_string(),
                message: format!("volume {key}: driver {:?} is not supported", v.driver),
            });
        }
        Ok((name, v.external.external))
    }

    /// Starts a created container.
    pub(crate) fn start(
        &self,
        row: &ContainerRow,
        handle: &mut Handle,
        progress: &dyn Progress,
    ) -> Result<()> {
        // Its records (and its address as a DNS source) before its first instruction runs.
        self.dns_changed(row);
        self.start_announced(row, handle, progress)
    }

    /// Starts a created container that the project's supervisor has read since it was
    /// created (a created container's records are served): `up` has it re-read the store
    /// once after creating them all, rather than once per start.
    pub(crate) fn start_announced(
        &self,
        row: &ContainerRow,
        handle: &mut Handle,
        progress: &dyn Progress,
    ) -> Result<()> {
        emit(progress, Kind::Container, &row.name, "Starting");
        self.mark_user_started(&row.id)?;
        if let Err(e) = handle.start(&row.name) {
            let _ = self
                .store
                .set_state(&row.id, RecordedState::Exited, Some(now()), None);
            return Err(e.into());
        }
        self.store
            .set_state(&row.id, RecordedState::Running, Some(now()), None)?;
        self.journal(row, "start");
        emit(progress, Kind::Container, &row.name, "Started");
        Ok(())
    }

    /// Stops a container: its stop signal (or `signal`), up to its grace period (or
    /// `timeout`), then SIGKILL for the whole cgroup.
    pub(crate) fn stop(
        &self,
        row: &ContainerRow,
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<()> {
        if self.stop_unannounced(row, timeout, progress)? {
            self.dns_changed(row);
        }
        Ok(())
    }

    /// [`Engine::stop`] without telling the supervisor (`down` tells it once, or stops
    /// it): whether the container was running.
    pub(crate) fn stop_unannounced(
        &self,
        row: &ContainerRow,
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<bool> {
        // Before the signal: the supervisor seeing the exit must not restart it.
        self.mark_user_stopped(&row.id)?;
        // A created container never ran: nothing to stop (remove kills its waiting init).
        if !self.live(row).is_up() {
            return Ok(false);
        }
        emit(progress, Kind::Container, &row.name, "Stopping");
        let (signal, grace) = stop_how(row, timeout);
        self.journal_event(
            &row.project,
            &crate::events::Event::container(row, "kill").with("signal", signal),
        );
        self.runner.stop(&row.id, &row.name, signal, grace)?;
        self.stopped(row, progress)?;
        Ok(true)
    }

    /// The first half of a stop that comes down to SIGKILL (see
    /// [`crate::runner::Runner::stops_at_once`]): marked stopped, killed, not waited for.
    /// `false`: it does not stop at once (not running, frozen, or its PID 1 takes the
    /// signal), and nothing was done; [`Engine::stop_unannounced`] stops it. The second
    /// half is [`Engine::finish_kill`].
    pub(crate) fn kill_at_once(
        &self,
        row: &ContainerRow,
        timeout: Option<Duration>,
        progress: &dyn Progress,
    ) -> Result<bool> {
        let (signal, grace) = stop_how(row, timeout);
        if !self.runner.stops_at_once(&row.id, signal, grace) {
            return Ok(false);
        }
        // Before the signal: the supervisor seeing the exit must not restart it.
        self.mark_user_stopped(&row.id)?;
        emit(progress, Kind::Container, &row.name, "Stopping");
        self.journal_event(
            &row.project,
            &crate::events::Event::container(row, "kill").with("signal", signal),
        );
        self.runner.kill(&row.id, &row.name, libc::SIGKILL)?;
        Ok(true)
    }

    /// Waits for a container [`Engine::kill_at_once`] killed to be gone (its whole cgroup)
    /// and records the stop.
    pub(crate) fn finish_kill(&self, row: &ContainerRow, progress: &dyn Progress) -> Result<()> {
        self.runner
            .stop(&row.id, &row.name, libc::SIGKILL, Duration::ZERO)?;
        self.stopped(row, progress)
    }

    /// Records a stopped container's exit and tells of it.
    fn stopped(&self, row: &ContainerRow, progress: &dyn Progress) -> Result<()> {
        let code = match self.runner.status(&row.id) {
            Live::Exited(c) => c,
            _ => None,
        };
        self.store
            .set_state(&row.id, RecordedState::Exited, None, code)?;
        // As Docker reports a stop: kill, die (with the exit code), stop.
        self.journal_event(
            &row.project,
            &crate::events::Event::container(row, "die").with("exitCode", code.unwrap_or(0)),
        );
        self.journal(row, "stop");
        emit(progress, Kind::Container, &row.name, "Stopped");
        Ok(())
    }

    /// Removes a container: the runtime container (killing what runs), its log, its record,
    /// and its anonymous volumes with `volumes`.
    pub(crate) fn remove(
        &self,
        row: &ContainerRow,
        volumes: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.remove_with(row, volumes, progress, None)
    }

    /// [`Engine::remove`]; with `later`, its veths are left to the networks' teardown
    /// (see [`Engine::network_release`]) and its image hold to the caller, who drops them
    /// all in one commit.
    pub(crate) fn remove_with(
        &self,
        row: &ContainerRow,
        volumes: bool,
        progress: &dyn Progress,
        later: Option<&std::sync::Mutex<crate::network::Batched>>,
    ) -> Result<()> {
        emit(progress, Kind::Container, &row.name, "Removing");
        self.runner.delete(&row.id, &row.name)?;
        let rw = self.rw_dir(&row.id);
        if let Err(e) = std::fs::remove_dir_all(&rw)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::Other(format!("remove {}: {e}", rw.display())));
        }
        self.network_release(row, later)?;
        let log = self.log_path(&row.id);
        if let Err(e) = std::fs::remove_file(&log)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::Other(format!("remove {}: {e}", log.display())));
        }
        if volumes {
            for v in self.store.volumes(&row.project)? {
                if v.container.as_deref() == Some(&row.id) {
                    volumes::remove(&self.root, &v.name)?;
                    self.store.remove_volume(&v.name)?;
                }
            }
        }
        self.store.remove_container(&row.id)?;
        if let Some(later) = later {
            later
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .holds
                .push(row.id.clone());
        } else if let Err(e) = self.images.release(&row.id) {
            // The snapshots stay until a later prune after a manual cleanup: never an error
            // that would leave the container half removed.
            tracing::warn!(container = %row.name, error = %e, "cannot release the image hold");
        }
        self.forget_health(&row.id);
        self.forget_restarts(&row.id);
        self.journal(row, "destroy");
        emit(progress, Kind::Container, &row.name, "Removed");
        Ok(())
    }
}

/// The signal a container stops with and how long it may take: its `stop_signal`
/// (default SIGTERM) and `timeout`, else its `stop_grace_period`.
fn stop_how(row: &ContainerRow, timeout: Option<Duration>) -> (i32, Duration) {
    let grace = timeout.unwrap_or(Duration::from_millis(row.info.stop_grace_ms));
    let signal = if row.info.stop_signal > 0 {
        row.info.stop_signal
    } else {
        libc::SIGTERM
    };
    (signal, grace)
}

fn bind_mount(source: PathBuf, target: &str, read_only: bool, propagation: &str) -> Mount {
    let mut opts = vec![
        "rbind".to_string(),
        if read_only { "ro" } else { "rw" }.to_string(),
    ];
    if !propagation.is_empty() {
        opts.push(propagation.to_string());
    }
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(target));
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source));
    m.set_options(Some(opts));
    m
}

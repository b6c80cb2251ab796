//! `exec`: another process in a running container of a service, with the service's
//! environment, user and working dir (each overridable), as `docker compose exec`.

use compose_runtime::{ExecProcess, ExecStdio};
use oci_spec::runtime::Process;

use crate::engine::{Engine, Project};
use crate::error::{Error, Result};
use crate::image;
use crate::store::ContainerRow;

/// `exec`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub service: String,
    /// `--index`: which replica (1-based).
    pub index: u32,
    pub command: Vec<String>,
    /// `-e KEY=VAL` (a bare `KEY` was resolved by the caller or dropped).
    pub env: Vec<String>,
    /// `-u`: a user name or uid[:gid], resolved in the image.
    pub user: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    pub privileged: bool,
    /// Give the process a terminal (the caller passes its slave as stdio).
    pub tty: bool,
}

impl Engine {
    /// The running container `exec` targets.
    pub fn exec_target(&self, p: &Project<'_>, service: &str, index: u32) -> Result<ContainerRow> {
        p.service(service)?;
        let index = index.max(1);
        let row = self
            .store
            .containers(p.name)?
            .into_iter()
            .find(|r| r.service == service && r.number == index && !r.oneoff)
            .ok_or_else(|| Error::Service {
                service: service.to_string(),
                message: format!("service \"{service}\" is not running (no container {index})"),
            })?;
        if self.live(&row) == crate::runner::Live::Paused {
            // Its cgroup is frozen: a process joining it would freeze too.
            return Err(Error::Service {
                service: service.to_string(),
                message: format!(
                    "container {} is paused, unpause the container before exec",
                    row.name
                ),
            });
        }
        if !self.live(&row).is_up() {
            return Err(Error::Service {
                service: service.to_string(),
                message: format!("container {} is not running", row.name),
            });
        }
        Ok(row)
    }

    /// The process `exec` runs: the service's as the spec builder makes it (env, user,
    /// capabilities, rlimits), its args the command, the flags applied on top.
    pub fn exec_process(
        &self,
        p: &Project<'_>,
        row: &ContainerRow,
        opts: &ExecOptions,
    ) -> Result<Process> {
        if opts.command.is_empty() {
            return Err(Error::Other("exec: no command given".into()));
        }
        let mut model = p.model.clone();
        let svc = model
            .services
            .get_mut(&row.service)
            .ok_or_else(|| Error::NoSuchService(row.service.clone()))?;
        if let Some(u) = &opts.user {
            svc.user = u.clone();
        }
        if let Some(w) = &opts.workdir {
            svc.working_dir = w.clone();
        }
        svc.privileged |= opts.privileged;
        svc.tty = opts.tty;
        // Only the process matters: the service's command must not be required.
        svc.command = Some(opts.command.clone());
        svc.entrypoint = Some(Vec::new());
        for kv in &opts.env {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            svc.environment.insert(k.to_string(), Some(v.to_string()));
        }
        let sub = Project {
            model: &model,
            ..p.clone()
        };
        let service = p.service(&row.service)?;
        let reference = crate::build::service_image(p.name, &row.service, service);
        let img = image::resolve_existing(&self.images, &row.id, &row.service, &reference)?;
        let cs = self.build_spec(&sub, &row.service, &img, row.number, &row.id, row.oneoff)?;
        let mut process = cs
            .spec
            .process()
            .clone()
            .ok_or_else(|| Error::Other("the spec has no process".into()))?;
        process.set_args(Some(opts.command.clone()));
        process.set_terminal(Some(opts.tty));
        Ok(process)
    }

    /// Starts `process` in the container of `row`.
    pub fn spawn_exec(
        &self,
        row: &ContainerRow,
        process: &Process,
        stdio: ExecStdio<'_>,
    ) -> Result<ExecProcess> {
        let handle = self.runner.load(&row.id, &row.name)?;
        handle
            .container()
            .spawn_exec(process, stdio)
            .map_err(|source| {
                Error::Run(crate::runner::RunError {
                    name: row.name.clone(),
                    source,
                })
            })
    }
}

//! One container, for real: namespaces, cgroups, overlayfs rootfs, mounts, devices,
//! capabilities, seccomp, rlimits, the user; the shim that holds its stdio and logs.
//!
//! [`Runtime::create`] clones the container's init into its namespaces and cgroup, where it
//! sets up the rootfs and waits; [`Container::start`] lets it exec the process. The state
//! dir records the init's pid and start time so a later process can [`Runtime::load`] the
//! container and act on it.
//!
//! With [`CreateOptions::shim`], the init's parent is a [`shim`] instead of the caller: a
//! small detached process that holds the container's stdio, writes its log in CRI format
//! (read it with [`logs`]) and records its exit, so the container outlives the command that
//! made it and every verb works from any process. [`Container::exec`] runs another process
//! in a running container; [`CreateOptions::init`] puts a reaper at its PID 1.

pub mod caps;
pub mod cgroups;
mod container;
pub mod error;
mod init;
pub mod logs;
mod netns;
mod plan;
pub mod pty;
pub mod seccomp;
pub mod shim;
pub mod signal;
mod spare;
pub mod spec;
pub mod state;
mod sys;
pub mod sysctl;
pub mod user;
mod userns;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub use container::{Container, CreateOptions, ExecProcess, ExecStdio, ShimOptions};
pub use error::{Error, Result};
pub use plan::Rootfs;
pub use state::{ExitStatus, ProcRef, State, Status};

/// The runtime: a state root (one dir per container) and the cgroup parent its containers
/// go under.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    cgroup_parent: String,
    hierarchy: cgroups::Hierarchy,
    seccomp_cache: Option<PathBuf>,
}

impl Runtime {
    /// A runtime keeping its state under `root` (made if missing) and its containers'
    /// cgroups under `cgroup_parent` (e.g. `compose`).
    pub fn new(root: impl Into<PathBuf>, cgroup_parent: &str) -> Result<Runtime> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::io("mkdir", &root, e))?;
        Ok(Runtime {
            root,
            cgroup_parent: cgroup_parent.to_string(),
            hierarchy: cgroups::detect()?,
            seccomp_cache: None,
        })
    }

    /// Keeps compiled seccomp filters in `dir` ([`seccomp::cache`]), so that a profile is
    /// compiled once rather than at every create and exec. Without it, each compiles.
    pub fn with_seccomp_cache(mut self, dir: impl Into<PathBuf>) -> Runtime {
        self.seccomp_cache = Some(dir.into());
        self
    }

    /// Removes the cgroup parent when no container is under it any more (a busy one stays).
    /// Containers leave it for the next one; whoever is done with the runtime calls this,
    /// so that nothing of ours is left in the cgroup tree. A create racing with it makes
    /// the parent again.
    pub fn remove_idle_cgroup_parent(&self) {
        cgroups::remove_parent(self.hierarchy, &self.cgroup_parent);
    }

    /// The cgroup hierarchy detected on this host.
    pub fn hierarchy(&self) -> cgroups::Hierarchy {
        self.hierarchy
    }

    /// Creates container `id` from `spec` on `rootfs`: returns once its init is set up and
    /// waits for [`Container::start`]. The spec's `root.path` is not used (the rootfs is
    /// `rootfs`), its `root.readonly` is. Without `process.capabilities`, Docker's 14
    /// defaults apply.
    pub fn create(
        &self,
        id: &str,
        spec: &Spec,
        rootfs: &Rootfs,
        opts: &CreateOptions,
    ) -> Result<Container> {
        if (opts.start_at_once || opts.console_socket.is_some()) && opts.shim.is_some() {
            return Err(Error::Invalid(
                "start_at_once and console_socket are for a container without a shim".into(),
            ));
        }
        let dir = self.dir(id)?;
        // Before the state dir: a socket that cannot be reached leaves nothing behind.
        let console = opts
            .console_socket
            .as_deref()
            .map(container::connect_console)
            .transpose()?;
        spare::make(&dir, id)?;
        if let Some(shim_opts) = &opts.shim {
            let req = shim::Request {
                id: id.to_string(),
                cgroup_parent: self.cgroup_parent.clone(),
                spec: spec.clone(),
                rootfs: rootfs.clone(),
                netns: opts.netns.clone(),
                init: opts.init,
                shim: shim_opts.clone(),
                seccomp_cache: self.seccomp_cache.clone(),
            };
            shim::launch(&dir, &req)?;
            return self.load(id);
        }
        let target = container::Target {
            dir,
            id,
            h: self.hierarchy,
            cgroup_parent: &self.cgroup_parent,
            init: opts.init,
            seccomp_cache: self.seccomp_cache.as_deref(),
            start_at_once: opts.start_at_once,
            console,
        };
        container::create(target, spec, rootfs, opts.netns.as_deref())
    }

    /// Makes a stopped shim container again in place, from the request its shim was
    /// started with (same spec, rootfs, netns, log): the old one's processes, cgroup and
    /// state go, a new init waits for [`Container::start`]. For restart policies.
    pub fn recreate(&self, id: &str) -> Result<Container> {
        let dir = self.dir(id)?;
        let p = dir.join(shim::REQUEST);
        let text = std::fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
        let req: shim::Request = serde_json::from_slice(&text).map_err(|e| Error::State {
            id: id.to_string(),
            message: format!("{}: {e}", p.display()),
        })?;
        let old = self.load(id)?;
        if old.status() != Status::Stopped {
            return Err(Error::Invalid(format!(
                "container {id} is {}, not stopped: it cannot be made again",
                old.status()
            )));
        }
        old.delete(true)?;
        let opts = CreateOptions {
            netns: req.netns,
            shim: Some(req.shim),
            init: req.init,
            start_at_once: false,
            console_socket: None,
        };
        self.create(id, &req.spec, &req.rootfs, &opts)
    }

    /// Finds container `id` from its state dir.
    pub fn load(&self, id: &str) -> Result<Container> {
        let mut c = Container::open(self.dir(id)?, id, self.hierarchy)?;
        c.seccomp_cache = self.seccomp_cache.clone();
        Ok(c)
    }

    fn dir(&self, id: &str) -> Result<PathBuf> {
        valid_id(id)?;
        Ok(self.root.join(id))
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Container ids become file and cgroup names: a safe, short alphabet only.
fn valid_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("web-1").is_ok());
        assert!(valid_id("a.b_c").is_ok());
        for bad in ["", "..", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(valid_id(bad).is_err(), "{bad:?}");
        }
    }
}

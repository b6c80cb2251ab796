//! The one module that calls the container runtime. Everything the engine does to a
//! container's process goes through here, so that the shim (which will hold the stdio, write
//! CRI logs and record exit statuses from outside the CLI) replaces only this file.
//!
//! Until the shim lands: the container's init inherits this process's stdio at create, so
//! around `create` we point fds 0/1/2 at /dev/null and the container's log file (raw, not
//! CRI; [`crate::logs`] reads both). That swap is process-wide: [`stdio_lock`] serializes it
//! with our own printing. The exit status is known only to the process that created the
//! container ([`Handle::wait`]).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use compose_runtime::{Container, CreateOptions, Rootfs, Runtime, Status};
use oci_spec::runtime::Spec;

/// Why a runtime call failed, with the container's name.
#[derive(Debug, thiserror::Error)]
#[error("container {name}: {source}")]
pub struct RunError {
    pub name: String,
    #[source]
    pub source: compose_runtime::Error,
}

type Result<T> = std::result::Result<T, RunError>;

/// The cgroup parent of every container of every project.
pub const CGROUP_PARENT: &str = "compose";

static STDIO: Mutex<()> = Mutex::new(());

/// Held while printing, so that no line of ours lands in a container's log while its
/// create has the process's stdout.
pub fn stdio_lock() -> MutexGuard<'static, ()> {
    STDIO.lock().unwrap_or_else(|p| p.into_inner())
}

/// The live status of a container as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// No runtime container by that id.
    Missing,
    Created,
    Running,
    /// Stopped; the exit status if the runtime recorded one.
    Exited(Option<i32>),
}

/// A container this process created: it can wait for its exit.
#[derive(Debug)]
pub struct Handle(Container);

impl Handle {
    /// Waits for the exit and returns the exit code (128 + signal when killed).
    pub fn wait(&mut self, name: &str) -> Result<i32> {
        self.0.wait().map(|s| s.code).map_err(|source| RunError {
            name: name.to_string(),
            source,
        })
    }

    pub fn start(&mut self, name: &str) -> Result<()> {
        self.0.start().map_err(|source| RunError {
            name: name.to_string(),
            source,
        })
    }
}

/// The runtime of a data root.
#[derive(Debug, Clone)]
pub struct Runner {
    rt: Runtime,
}

impl Runner {
    /// The runtime itself, for what goes beyond the verbs here (health probes).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.rt
    }
}

/// What a container needs to be created besides its spec.
#[derive(Debug, Clone)]
pub struct Create<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub spec: &'a Spec,
    /// Image snapshot dirs, topmost first.
    pub lowers: &'a [PathBuf],
    pub log: &'a Path,
    /// A network namespace to join (the network seam); `None`: a new one with only `lo`.
    pub netns: Option<PathBuf>,
    /// Run a reaper as PID 1 (`init: true`).
    pub init: bool,
}

fn err(name: &str) -> impl Fn(compose_runtime::Error) -> RunError + '_ {
    move |source| RunError {
        name: name.to_string(),
        source,
    }
}

fn io_err(name: &str, what: &str, path: &Path, e: std::io::Error) -> RunError {
    RunError {
        name: name.to_string(),
        source: compose_runtime::Error::Io {
            what: what.to_string(),
            path: path.to_owned(),
            source: e,
        },
    }
}

impl Runner {
    /// Container state lives in `<root>/containers`.
    pub fn new(root: &Path) -> std::result::Result<Runner, compose_runtime::Error> {
        Ok(Runner {
            rt: Runtime::new(root.join("containers"), CGROUP_PARENT)?,
        })
    }

    /// Creates the container with its stdio on the log file; it waits for [`Handle::start`].
    pub fn create(&self, c: &Create<'_>) -> Result<Handle> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(c.log)
            .map_err(|e| io_err(c.name, "open log", c.log, e))?;
        let null = std::fs::File::open("/dev/null")
            .map_err(|e| io_err(c.name, "open", Path::new("/dev/null"), e))?;
        let rootfs = Rootfs::Overlay {
            lowers: c.lowers.to_vec(),
        };
        if c.init {
            // The runtime's reaper lands with the shim; until then say so before anything
            // is made.
            return Err(RunError {
                name: c.name.to_string(),
                source: compose_runtime::Error::Invalid(
                    "init: true is not supported by this runtime yet".into(),
                ),
            });
        }
        // Fields the runtime adds later (shim, init) keep their defaults until set here.
        #[allow(clippy::needless_update)]
        let opts = CreateOptions {
            netns: c.netns.clone(),
            ..CreateOptions::default()
        };
        let _guard = stdio_lock();
        let saved = Redirect::new(&null, &log).map_err(|e| io_err(c.name, "dup2", c.log, e))?;
        let made = self.rt.create(c.id, c.spec, &rootfs, &opts);
        drop(saved);
        made.map(Handle).map_err(err(c.name))
    }

    /// A handle on a container another process created (it can be started, not waited).
    pub fn load(&self, id: &str, name: &str) -> Result<Handle> {
        self.rt.load(id).map(Handle).map_err(err(name))
    }

    /// The container's live status.
    pub fn status(&self, id: &str) -> Live {
        match self.rt.load(id) {
            Ok(c) => match c.status() {
                Status::Created => Live::Created,
                Status::Running | Status::Paused => Live::Running,
                Status::Stopped => Live::Exited(c.record().exit.map(|e| e.code)),
            },
            Err(_) => Live::Missing,
        }
    }

    /// Stops it: `signal`, up to `grace`, then SIGKILL to its whole cgroup. A missing
    /// container is already stopped.
    pub fn stop(&self, id: &str, name: &str, signal: i32, grace: Duration) -> Result<()> {
        match self.rt.load(id) {
            Ok(c) => c.stop(signal, grace).map_err(err(name)),
            Err(compose_runtime::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(err(name)(e)),
        }
    }

    /// Sends `signal` to its init.
    pub fn kill(&self, id: &str, name: &str, signal: i32) -> Result<()> {
        match self.rt.load(id) {
            Ok(c) => c.kill(signal).map_err(err(name)),
            Err(e) => Err(err(name)(e)),
        }
    }

    /// Removes the runtime container (killing what still runs). A missing one is fine.
    pub fn delete(&self, id: &str, name: &str) -> Result<()> {
        match self.rt.load(id) {
            Ok(c) => c.delete(true).map_err(err(name)),
            Err(compose_runtime::Error::NotFound(_)) => {
                // A create that died before writing its record leaves only the dir.
                let dir = self.rt.root().join(id);
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io_err(name, "remove", &dir, e)),
                }
            }
            Err(e) => Err(err(name)(e)),
        }
    }

    /// The runtime's state root.
    pub fn root(&self) -> &Path {
        self.rt.root()
    }
}

/// Points fds 0, 1, 2 at `stdin` and `out` until dropped, then puts the old ones back.
struct Redirect {
    saved: [Option<OwnedFd>; 3],
}

fn dup(fd: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we do not own makes a new fd that we do own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: n is a new fd nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(n) })
}

fn dup2(from: i32, to: i32) -> std::io::Result<()> {
    // SAFETY: dup2 on valid fds; `to` is one of 0..=2, which we restore afterwards.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Redirect {
    fn new(stdin: &std::fs::File, out: &std::fs::File) -> std::io::Result<Redirect> {
        let mut r = Redirect {
            saved: [None, None, None],
        };
        for (fd, to) in [
            (0, stdin.as_raw_fd()),
            (1, out.as_raw_fd()),
            (2, out.as_raw_fd()),
        ] {
            // A closed std fd has nothing to save: leave the slot empty and close it again.
            r.saved[fd as usize] = dup(fd).ok();
            dup2(to, fd)?;
        }
        Ok(r)
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        for fd in 0..3 {
            match &self.saved[fd] {
                Some(s) => {
                    let _ = dup2(s.as_raw_fd(), fd as i32);
                }
                None => {
                    // SAFETY: fd was closed before we redirected it; close it again.
                    unsafe { libc::close(fd as i32) };
                }
            }
        }
    }
}

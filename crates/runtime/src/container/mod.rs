//! One container and its verbs, one file each.

pub(crate) mod create;
pub(crate) use create::{Target, connect_console, create};
mod delete;
mod exec;
mod kill;
mod pause;
mod resize;
mod start;
mod wait;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::cgroups::{self, Cgroup, Hierarchy};
use crate::error::{Error, Result};
use crate::state::{Record, State, Status};
use crate::sys;

pub use create::{CreateOptions, ShimOptions};
pub use exec::{ExecProcess, ExecStdio};

/// A container: made by [`crate::Runtime::create`] (then this process is its parent and can
/// learn its exit status), or found again by [`crate::Runtime::load`].
#[derive(Debug)]
pub struct Container {
    id: String,
    dir: PathBuf,
    pub(crate) record: Record,
    cgroup: Box<dyn Cgroup>,
    /// Where `exec` finds compiled seccomp filters ([`crate::Runtime::with_seccomp_cache`]).
    pub(crate) seccomp_cache: Option<PathBuf>,
    /// Set when this process created the container.
    pub(crate) parent: Option<ParentSide>,
}

/// What only the creating process holds.
#[derive(Debug)]
pub(crate) struct ParentSide {
    pub(crate) pidfd: OwnedFd,
    /// The read end of the init's status pipe: EOF once it has exec'd.
    pub(crate) status: Option<OwnedFd>,
    /// A description of each step of the init, for its error records.
    pub(crate) what: Vec<String>,
    pub(crate) reaped: bool,
    /// Made with [`CreateOptions::start_at_once`] and not yet waited for by `start`.
    pub(crate) at_once: bool,
}

impl Container {
    pub(crate) fn open(dir: PathBuf, id: &str, h: Hierarchy) -> Result<Container> {
        let record = Record::load(&dir, id)?;
        let cgroup = cgroups::for_container(h, &record.cgroup_parent, id)?;
        Ok(Container {
            id: id.to_string(),
            dir,
            record,
            cgroup,
            seccomp_cache: None,
            parent: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The init's pid as the host sees it.
    pub fn pid(&self) -> i32 {
        self.record.pid
    }

    /// The container's state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pids of every process in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.cgroup.pids()
    }

    /// Where the container is in its life, checked against the live process.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if self.dir.join(create::FIFO).exists() {
            Status::Created
        } else if self.cgroup.is_frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// Whether the init still runs. The creating process asks its pidfd (one poll): an
    /// unreaped child's pid cannot be reused, and the pidfd turns readable at its exit.
    /// Any other process checks the recorded boot and start time against `/proc`.
    fn init_alive(&self) -> bool {
        match &self.parent {
            Some(p) if p.reaped => false,
            Some(p) if self.record.exit.is_none() => match sys::poll_in(p.pidfd.as_raw_fd(), 0) {
                Ok(exited) => !exited,
                Err(_) => self.record.is_alive(),
            },
            _ => self.record.is_alive(),
        }
    }

    /// Its state now: status checked against the live process, pid while it lives.
    pub fn state(&self) -> State {
        let status = self.status();
        State {
            id: self.id.clone(),
            status,
            pid: (status != Status::Stopped).then_some(self.record.pid),
            exit: self.exit_status(),
        }
    }

    /// The state record (pid, start time, exit status once known).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// A pidfd for the init: ours if we made it, else opened now and checked to be the
    /// recorded process (not another that reuses its pid). `None` when it is gone.
    fn pidfd(&self) -> Result<Option<OwnedFd>> {
        if let Some(p) = &self.parent {
            if p.reaped {
                return Ok(None);
            }
            let fd = p
                .pidfd
                .try_clone()
                .map_err(|e| Error::io("dup", "pidfd", e))?;
            return Ok(Some(fd));
        }
        let fd = match sys::pidfd_open(self.record.pid) {
            Ok(fd) => fd,
            Err(sys::Errno(libc::ESRCH)) => return Ok(None),
            Err(e) => return Err(Error::sys(format!("pidfd_open {}", self.record.pid), e)),
        };
        // SAFETY: pidfd_open returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Checked after opening: the pidfd now pins this exact process.
        Ok(self.record.is_alive().then_some(fd))
    }

    fn bad_state(&self, status: Status, expected: &'static str) -> Error {
        Error::BadState {
            id: self.id.clone(),
            status: status.to_string(),
            expected,
        }
    }
}

/// Waits up to `timeout_ms` (-1: forever) for the process behind `pidfd` to exit.
fn wait_exit(pidfd: &OwnedFd, timeout_ms: i32) -> Result<bool> {
    sys::poll_in(pidfd.as_raw_fd(), timeout_ms).map_err(|e| Error::sys("poll pidfd", e))
}

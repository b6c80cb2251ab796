//! What a container leaves in its state dir so that a later process can find it, and how a
//! live container is told from a stale record: by boot id and the pid's start time, never by
//! the file's mere presence.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a container's init ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code as a shell reports it: the code, or 128 + the signal.
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Whether the OOM killer killed a process of the container.
    pub oom_killed: bool,
}

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up, waiting for `start`.
    Created,
    Running,
    /// Running, its processes frozen by [`crate::Container::pause`].
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// A container's state as `state` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub status: Status,
    /// The init's host pid, while it runs.
    pub pid: Option<i32>,
    /// How it ended, once known.
    pub exit: Option<ExitStatus>,
}

/// The record in `<state dir>/state.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The init's pid as the host sees it.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
    pub boot_id: String,
    /// The cgroup parent the container's cgroup is under.
    pub cgroup_parent: String,
    pub exit: Option<ExitStatus>,
    /// The shim holding the container's stdio and recording its exit, when it has one.
    #[serde(default)]
    pub shim: Option<ProcRef>,
    /// The container's seccomp profile: processes exec'd into it get the same filter.
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// A process by pid and start time, so that a reused pid is not taken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcRef {
    /// This process.
    pub fn me() -> Option<ProcRef> {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        proc_start(pid).map(|(start_time, _)| ProcRef { pid, start_time })
    }

    /// Whether it still runs (not a zombie, not another process under its pid).
    pub fn is_alive(&self) -> bool {
        proc_start(self.pid).is_some_and(|(s, st)| s == self.start_time && st != 'Z')
    }
}

const FILE: &str = "state.json";

impl Record {
    pub fn load(dir: &Path, id: &str) -> Result<Record> {
        let p = dir.join(FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.to_string()),
            _ => Error::io("read", &p, e),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::State {
            id: id.to_string(),
            message: format!("{}: {e}", p.display()),
        })
    }

    /// Writes the record atomically (a new file renamed over the old).
    pub fn save(&self, dir: &Path) -> Result<()> {
        // Per writer: the shim and a creator may write at once; rename stays atomic.
        let tmp = dir.join(format!(".state.json.{}.tmp", std::process::id()));
        let text = serde_json::to_vec(self).map_err(|e| Error::State {
            id: self.id.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, dir.join(FILE)).map_err(|e| Error::io("rename", &tmp, e))
    }

    /// Whether the recorded init is the process that runs under its pid now.
    pub fn is_alive(&self) -> bool {
        self.exit.is_none()
            && boot_id().is_ok_and(|b| b == self.boot_id)
            && proc_start(self.pid)
                .is_some_and(|(start, state)| start == self.start_time && state != 'Z')
    }
}

/// This boot's id.
pub fn boot_id() -> Result<String> {
    let p = "/proc/sys/kernel/random/boot_id";
    crate::sys::read_small(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io("read", p, e))
}

/// The start time and state letter of a process, from `/proc/PID/stat`.
pub fn proc_start(pid: i32) -> Option<(u64, char)> {
    let stat = crate::sys::read_small(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_read() {
        let me = std::process::id() as i32;
        let (start, state) = proc_start(me).unwrap_or((0, '?'));
        assert!(start > 0);
        assert!(state == 'R' || state == 'S', "{state}");
        assert!(proc_start(-5).is_none());
    }

    #[test]
    fn a_record_of_another_boot_is_stale() -> Result<()> {
        let me = std::process::id() as i32;
        let (start, _) = proc_start(me).unwrap_or_default();
        let mut r = Record {
            id: "x".into(),
            pid: me,
            start_time: start,
            boot_id: boot_id()?,
            cgroup_parent: "compose".into(),
            exit: None,
            shim: None,
            seccomp: None,
        };
        assert!(r.is_alive());
        r.start_time += 1;
        assert!(!r.is_alive(), "a reused pid is not our process");
        r.start_time -= 1;
        r.boot_id = "another-boot".into();
        assert!(!r.is_alive());
        Ok(())
    }
}

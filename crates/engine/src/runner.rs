//! The one module that calls the container runtime. Every container runs under a shim
//! (this binary re-executed, see [`compose_runtime::shim`]): the shim is the init's parent,
//! holds its stdio, writes its CRI log and records its exit status, so that every verb works
//! from any process and a container outlives the command that made it. The shim starts a
//! new session, so a Ctrl-C at the user's terminal never reaches a container directly.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use compose_runtime::{Container, CreateOptions, ExitStatus, Rootfs, Runtime, ShimOptions, Status};
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

/// The live status of a container as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// No runtime container by that id.
    Missing,
    Created,
    Running,
    /// Running, its processes frozen.
    Paused,
    /// Stopped; the exit status if the runtime recorded one.
    Exited(Option<i32>),
}

impl Live {
    /// Running or paused: it has live processes.
    pub fn is_up(self) -> bool {
        matches!(self, Live::Running | Live::Paused)
    }
}

/// A runtime container: it can be started and waited for, from any process.
#[derive(Debug)]
pub struct Handle(Container);

impl Handle {
    /// Waits for the exit and returns the exit code (128 + signal when killed).
    pub fn wait(&mut self, name: &str) -> Result<i32> {
        self.0.wait().map(|s| s.code).map_err(err(name))
    }

    pub fn start(&mut self, name: &str) -> Result<()> {
        self.0.start().map_err(err(name))
    }

    /// The runtime container.
    pub fn container(&self) -> &Container {
        &self.0
    }
}

/// The runtime of a data root.
#[derive(Debug, Clone)]
pub struct Runner {
    rt: Runtime,
    /// The program run as the shim; `None`: this very binary (its main dispatches
    /// [`compose_runtime::shim::ARG`]).
    shim_exe: Option<PathBuf>,
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
    /// Where the writable layer lives (kept when the container is made again in place).
    pub rw: &'a Path,
    pub log: &'a Path,
    /// Rotation of the log (`logging.options.max-size` / `max-file`).
    pub log_max_size: Option<u64>,
    pub log_max_files: u32,
    /// A network namespace to join (the network seam); `None`: a new one with only `lo`.
    pub netns: Option<PathBuf>,
    /// Run a reaper as PID 1 (`init: true`).
    pub init: bool,
    /// `tty: true`: the process gets a terminal the shim holds.
    pub tty: bool,
    /// `stdin_open: true`: its stdin stays open (a pipe the shim holds).
    pub stdin: bool,
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

/// The state file the runtime (the shim, at the exit) writes in a container's dir.
const STATE_FILE: &str = "state.json";

impl Runner {
    /// Container state lives in `<root>/containers`.
    pub fn new(root: &Path) -> std::result::Result<Runner, compose_runtime::Error> {
        Ok(Runner {
            rt: Runtime::new(root.join("containers"), CGROUP_PARENT)?
                .with_seccomp_cache(root.join("seccomp")),
            shim_exe: None,
        })
    }

    /// Runs shims as `exe` (whose main must dispatch the shim's argument) instead of this
    /// binary: for a process that is not `compose`, e.g. a test harness driving the engine.
    pub fn set_shim_exe(&mut self, exe: PathBuf) {
        self.shim_exe = Some(exe);
    }

    /// Creates the container under a shim writing `c.log`; it waits for [`Handle::start`].
    pub fn create(&self, c: &Create<'_>) -> Result<Handle> {
        // The shim: the dedicated small binary beside this one when it is of the same build,
        // else this very binary re-executed (its main dispatches the shim's argument).
        let exe = match &self.shim_exe {
            Some(e) => e.clone(),
            None => default_shim()
                .map_err(|e| io_err(c.name, "find", Path::new("/proc/self/exe"), e))?,
        };
        let rootfs = Rootfs::OverlayIn {
            lowers: c.lowers.to_vec(),
            dir: c.rw.to_path_buf(),
        };
        let opts = CreateOptions {
            netns: c.netns.clone(),
            shim: Some(ShimOptions {
                exe,
                log: c.log.to_path_buf(),
                log_max_size: c.log_max_size,
                log_max_files: c.log_max_files,
                terminal: c.tty,
                stdin: c.stdin,
            }),
            init: c.init,
            start_at_once: false,
            console_socket: None,
        };
        self.rt
            .create(c.id, c.spec, &rootfs, &opts)
            .map(Handle)
            .map_err(err(c.name))
    }

    /// Creates the container with this process as its parent and its stdio this
    /// process's (an attached `run`: the user's terminal is the process's own, as with
    /// `docker run -it`); only this process learns its exit, through [`Handle::wait`],
    /// which also records it.
    pub fn create_foreground(&self, c: &Create<'_>) -> Result<Handle> {
        let rootfs = Rootfs::OverlayIn {
            lowers: c.lowers.to_vec(),
            dir: c.rw.to_path_buf(),
        };
        let opts = CreateOptions {
            netns: c.netns.clone(),
            shim: None,
            init: c.init,
            start_at_once: false,
            console_socket: None,
        };
        self.rt
            .create(c.id, c.spec, &rootfs, &opts)
            .map(Handle)
            .map_err(err(c.name))
    }

    /// A handle on an existing container.
    pub fn load(&self, id: &str, name: &str) -> Result<Handle> {
        self.rt.load(id).map(Handle).map_err(err(name))
    }

    /// The container's live status.
    pub fn status(&self, id: &str) -> Live {
        match self.rt.load(id) {
            Ok(c) => match c.status() {
                Status::Created => Live::Created,
                Status::Running => Live::Running,
                Status::Paused => Live::Paused,
                Status::Stopped => Live::Exited(c.exit_status().map(|e| e.code)),
            },
            Err(_) => Live::Missing,
        }
    }

    /// How the container ended, once recorded.
    pub fn exit(&self, id: &str) -> Option<ExitStatus> {
        self.rt.load(id).ok()?.exit_status()
    }

    /// When the exit was recorded (seconds since the epoch): the shim writes the state
    /// file last when the container exits.
    pub fn finished_at(&self, id: &str) -> Option<i64> {
        self.exit(id)?;
        let m = std::fs::metadata(self.rt.root().join(id).join(STATE_FILE)).ok()?;
        let t = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        i64::try_from(t.as_secs()).ok()
    }

    /// Whether the container is over for good (its exit recorded or nothing left that
    /// could record it); a missing one is.
    pub fn finished(&self, id: &str) -> bool {
        self.rt.load(id).map(|c| c.finished()).unwrap_or(true)
    }

    /// Waits for the container to exit: its exit code.
    pub fn wait(&self, id: &str, name: &str) -> Result<i32> {
        self.load(id, name)?.wait(name)
    }

    /// Stops it: `signal`, up to `grace`, then SIGKILL to its whole cgroup. When its PID 1
    /// has no handler for `signal`, the kernel drops the signal (a namespace's init gets
    /// only the signals it catches), so waiting out the grace period would only waste it:
    /// SIGKILL at once. A missing container is already stopped.
    pub fn stop(&self, id: &str, name: &str, signal: i32, grace: Duration) -> Result<()> {
        match self.rt.load(id) {
            Ok(c) => {
                if c.status() == Status::Paused {
                    // A frozen process cannot act on a signal: thaw it first, as Docker.
                    c.resume().map_err(err(name))?;
                }
                let grace = if catches(c.pid(), signal) {
                    grace
                } else {
                    tracing::debug!(name, signal, "PID 1 does not catch the stop signal");
                    Duration::ZERO
                };
                let signal = if grace.is_zero() {
                    libc::SIGKILL
                } else {
                    signal
                };
                let mut c = c;
                if signal == libc::SIGKILL {
                    // The init dies at once and takes its namespace's processes with it:
                    // waiting for its shim to record that first leaves the cgroup empty, so
                    // the kill below need not freeze it (a v1 freezer spins on a dying task
                    // for milliseconds). A dead shim ends the wait; the kill below covers it.
                    c.kill(libc::SIGKILL).map_err(err(name))?;
                    let _ = c.wait();
                }
                c.stop(signal, grace).map_err(err(name))?;
                // The shim records the exit after the init is gone: let it, so the caller
                // reads the status.
                // Its failure (a shim that died) leaves the status unknown, not the stop failed.
                let _ = c.wait();
                Ok(())
            }
            Err(compose_runtime::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(err(name)(e)),
        }
    }

    /// Whether stopping it with `signal` and `grace` comes down to SIGKILL at once: it runs
    /// (not frozen: a frozen process acts on no signal until thawed), and the grace is zero
    /// or its PID 1 does not take the signal (see [`Runner::stop`]).
    pub fn stops_at_once(&self, id: &str, signal: i32, grace: Duration) -> bool {
        match self.rt.load(id) {
            Ok(c) if c.status() == Status::Running => {
                grace.is_zero() || signal == libc::SIGKILL || !catches(c.pid(), signal)
            }
            _ => false,
        }
    }

    /// Sends `signal` to its init.
    pub fn kill(&self, id: &str, name: &str, signal: i32) -> Result<()> {
        match self.rt.load(id) {
            Ok(c) => c.kill(signal).map_err(err(name)),
            Err(e) => Err(err(name)(e)),
        }
    }

    /// Freezes (`true`) or thaws every process of the container.
    pub fn pause(&self, id: &str, name: &str, frozen: bool) -> Result<()> {
        let c = self.rt.load(id).map_err(err(name))?;
        if frozen { c.pause() } else { c.resume() }.map_err(err(name))
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

/// Whether process `pid` takes `signal`: it has a handler (`SigCgt`), or blocks it to
/// receive it synchronously (`SigBlk`, as signalfd users do), or waits for signals in
/// sigtimedwait (as our reaper and tini do; the kernel unblocks the waited set for the
/// wait, so `SigBlk` reads empty then). A blocked signal stays pending rather than dropped.
/// One it ignores (`SigIgn`) or leaves at the default action is dropped for a namespace's
/// PID 1. Unknown (it is gone, or the file unreadable): assume it takes it, and let the
/// grace period decide.
pub fn catches(pid: i32, signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let taken = match (sig_mask(&status, "SigCgt"), sig_mask(&status, "SigBlk")) {
        (Some(cgt), Some(blk)) => signal_in(cgt | blk, signal),
        _ => return true,
    };
    taken || in_sigtimedwait(pid)
}

/// Whether `pid` is blocked in rt_sigtimedwait (`/proc/PID/syscall`'s first field).
fn in_sigtimedwait(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split_whitespace().next() == Some(&libc::SYS_rt_sigtimedwait.to_string()))
}

/// The hex signal mask `field` of a `/proc/PID/status` text.
fn sig_mask(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// Whether `signal` (1-based) is set in `mask`.
fn signal_in(mask: u64, signal: i32) -> bool {
    (1..=64).contains(&signal) && mask & (1u64 << (signal - 1)) != 0
}

/// Parses a Docker size (`max-size`): bytes, or with a `k`, `m`, `g` suffix (powers of
/// 1024, case-insensitive, an optional trailing `b`).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.as_bytes().last()? {
        b'k' => (&t[..t.len() - 1], 1u64 << 10),
        b'm' => (&t[..t.len() - 1], 1 << 20),
        b'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * mult as f64) as u64)
}

/// The shim program of this process, looked for once.
fn default_shim() -> std::io::Result<PathBuf> {
    static SHIM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(p) = SHIM.get() {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()?;
    Ok(SHIM
        .get_or_init(|| compose_runtime::shim::pick_exe(&exe))
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_masks_are_read_from_proc_status() {
        let status = "Name:\tsh\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000004002\n";
        let cgt = sig_mask(status, "SigCgt");
        assert_eq!(cgt, Some(0x4002));
        let cgt = cgt.unwrap_or_default();
        assert!(signal_in(cgt, libc::SIGTERM));
        assert!(signal_in(cgt, libc::SIGINT));
        assert!(!signal_in(cgt, libc::SIGQUIT));
        assert!(!signal_in(cgt, 0) && !signal_in(cgt, 65));
        assert_eq!(sig_mask(status, "SigBlk"), Some(0));
        assert_eq!(sig_mask(status, "SigPnd"), None);
    }

    #[test]
    fn a_process_without_handlers_catches_nothing() {
        // `sleep` installs no handler and blocks nothing once it runs (this test process
        // itself is a poor subject: its threads' masks come and go).
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let comm = format!("/proc/{pid}/comm");
        for _ in 0..200 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (kill, usr2) = (catches(pid, libc::SIGKILL), catches(pid, libc::SIGUSR2));
        let _ = child.kill();
        let _ = child.wait();
        assert!(!kill, "SIGKILL can never be caught");
        assert!(!usr2, "sleep has no SIGUSR2 handler");
        // A pid that does not exist: unknown, so the grace period decides.
        assert!(catches(i32::MAX, libc::SIGTERM));
    }

    #[test]
    fn sizes_parse_as_docker_writes_them() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("10k"), Some(10 << 10));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("1.5kb"), Some(1536));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1m"), None);
        assert_eq!(parse_size(""), None);
    }
}

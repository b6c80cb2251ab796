//! The per-project supervisor: one detached process per project with containers (the
//! `compose` binary started again with [`ARG`]). It serves the project's DNS on each of its
//! networks' gateways, applies the containers' restart policies and runs their health
//! checks. The CLI starts it on `up`, `start`, `restart` and `run -d`, pokes it after each
//! change and stops it on `down`.
//!
//! Its files, in `<root>/supervisors/<project>/`:
//! - `lock`: held (flock) by the running supervisor for its whole life: the lock, not the
//!   presence of a file, tells whether one runs;
//! - `pid`: its pid, for `down` to kill it when it does not answer;
//! - `sock`: a Unix stream socket; a client writes one line, `reload` (re-read the store,
//!   answered `ok` once the records are current) or `stop` (answered `ok`, then it exits);
//! - `log`: its stderr.
//!
//! It keeps no state of its own: it rebuilds its records from the store at start (so a
//! restarted one re-adopts the running containers), on each `reload` and every few seconds;
//! exits it notices at once (a pidfd on each container's shim).

mod keeper;
mod run;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

pub use run::main;

/// The hidden first argument that makes the `compose` binary a supervisor.
pub const ARG: &str = "__compose-supervisor";

/// Names the file of upstream DNS servers (default `/etc/resolv.conf`); tests point it at
/// a stub on 127.0.0.1.
pub const RESOLV_ENV: &str = "COMPOSE_DNS_RESOLV_CONF";
/// The port upstream servers are asked on (default 53).
pub const UPSTREAM_PORT_ENV: &str = "COMPOSE_DNS_UPSTREAM_PORT";

/// How long a client waits for the supervisor to come up or answer.
const WAIT: Duration = Duration::from_secs(10);

/// Why talking to a supervisor failed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("supervisor of project {project}: {what}: {source}")]
    Io {
        project: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("supervisor of project {project} did not come up within {secs} s (see {log})")]
    NoStart {
        project: String,
        secs: u64,
        log: String,
    },
}

/// The supervisor's files for one project.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(root: &Path, project: &str) -> Paths {
        Paths {
            dir: root.join("supervisors").join(project),
        }
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }
    pub fn sock(&self) -> PathBuf {
        self.dir.join("sock")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
}

fn io(project: &str, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let project = project.to_string();
    let what = what.into();
    move |source| SupervisorError::Io {
        project,
        what,
        source,
    }
}

/// True when a supervisor holds the project's lock.
pub fn is_running(root: &Path, project: &str) -> bool {
    let paths = Paths::new(root, project);
    let Ok(file) = std::fs::File::open(paths.lock()) else {
        return false;
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => false,
        Err(_) => true,
    }
}

/// The running supervisor's pid, if one runs.
pub fn pid(root: &Path, project: &str) -> Option<i32> {
    if !is_running(root, project) {
        return None;
    }
    std::fs::read_to_string(Paths::new(root, project).pid())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Starts the project's supervisor unless one runs, and waits until it answers.
pub fn ensure_running(root: &Path, project: &str) -> Result<(), SupervisorError> {
    if is_running(root, project) && request(root, project, "reload").is_ok() {
        return Ok(());
    }
    let paths = Paths::new(root, project);
    std::fs::create_dir_all(&paths.dir).map_err(io(project, "create state dir"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log())
        .map_err(io(project, "open log"))?;
    let exe = std::env::current_exe().map_err(io(project, "find own executable"))?;
    let abs = std::path::absolute(root).map_err(io(project, "resolve the data root"))?;
    let mut cmd = Command::new(exe);
    cmd.arg(ARG)
        .arg(&abs)
        .arg(project)
        // It outlives this command: it must not hold the project dir (a mount, a temp dir).
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // It lives as long as the project: mimalloc would commit its first arena eagerly
        // (~9 MB more resident) and keep freed pages a while. Other allocators ignore it.
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .env("MIMALLOC_PURGE_DELAY", "0");
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent; it detaches
    // the supervisor from our session so a terminal's hangup or Ctrl-C never reaches it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io(project, "start"))?;
    let deadline = Instant::now() + WAIT;
    loop {
        if request(root, project, "reload").is_ok() {
            return Ok(());
        }
        // A supervisor that died at once (say, a gateway it cannot bind) is reaped here.
        if let Ok(Some(_)) = child.try_wait()
            && !is_running(root, project)
        {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(SupervisorError::NoStart {
        project: project.to_string(),
        secs: WAIT.as_secs(),
        log: paths.log().display().to_string(),
    })
}

/// Sends one request line and waits for the answer line.
pub fn request(root: &Path, project: &str, line: &str) -> Result<String, SupervisorError> {
    let paths = Paths::new(root, project);
    let mut s = UnixStream::connect(paths.sock()).map_err(io(project, "connect"))?;
    s.set_read_timeout(Some(WAIT))
        .map_err(io(project, "set timeout"))?;
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(io(project, "send"))?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .map_err(io(project, "read answer"))?;
    Ok(answer.trim().to_string())
}

/// Tells a running supervisor to re-read the store now; nothing to do if none runs.
pub fn poke(root: &Path, project: &str) -> Result<(), SupervisorError> {
    if !is_running(root, project) {
        return Ok(());
    }
    request(root, project, "reload").map(drop)
}

/// Stops the project's supervisor: asked over its socket, killed when it does not answer
/// or does not go. Returns once its lock is free.
pub fn stop(root: &Path, project: &str) -> Result<(), SupervisorError> {
    if !is_running(root, project) {
        return cleanup(root, project);
    }
    // Opened before asking: it removes its pid file on the way out.
    let pidfd = open_pidfd(root, project);
    let asked = request(root, project, "stop").is_ok();
    if asked && let Some(fd) = &pidfd {
        wait_exit(fd, WAIT);
    }
    if !asked || !wait_gone(root, project, WAIT) {
        if let Some(pid) = pid(root, project) {
            // SAFETY: kill(2) with a pid read from the file of a process that holds the
            // supervisor's lock right now.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        wait_gone(root, project, WAIT);
    }
    cleanup(root, project)
}

/// A pidfd of the running supervisor, checked after opening to still hold the lock, so
/// that it is not a later process that reused the pid.
fn open_pidfd(root: &Path, project: &str) -> Option<std::os::fd::OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid(root, project)?)?;
    let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()?;
    is_running(root, project).then_some(fd)
}

/// Waits up to `within` for the process behind `pidfd` to end (it turns readable then):
/// one wake-up instead of polling its lock.
fn wait_exit(pidfd: &std::os::fd::OwnedFd, within: Duration) {
    let mut p = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(pidfd),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(within.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd on an fd we own, for the length given. Its result does not
    // matter: the lock is checked after.
    unsafe { libc::poll(&mut p, 1, ms) };
}

fn wait_gone(root: &Path, project: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while is_running(root, project) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn cleanup(root: &Path, project: &str) -> Result<(), SupervisorError> {
    let dir = Paths::new(root, project).dir;
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(project, format!("remove {}", dir.display()))(e)),
    }
}

impl From<SupervisorError> for crate::error::Error {
    fn from(e: SupervisorError) -> Self {
        crate::error::Error::Other(e.to_string())
    }
}

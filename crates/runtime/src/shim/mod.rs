//! The shim (as conmon): one small detached process per container, the parent of its init.
//! It holds the container's stdio, writes its log, waits for its exit and records it in the
//! state dir, and so the container outlives whatever created it.
//!
//! [`crate::Runtime::create`] writes the request to `<state dir>/shim.json` and runs
//! `exe __compose-shim <state dir>` with a report pipe on fd 3. The shim forks once and its
//! first half exits (the creator reaps it at once; the second half is re-parented to the
//! nearest subreaper or PID 1), makes a new session, creates the container (so it is the
//! init's parent by construction), reports `created` or the error, and then loops on raw fds
//! with poll(2): no async runtime, no threads.

mod control;
mod io;
mod log;
mod setup;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::container::ShimOptions;
use crate::error::{Error, Result};
use crate::plan::Rootfs;
use crate::pty::WinSize;
use crate::state::ProcRef;
use crate::sys;

/// The hidden first argument that makes a binary the shim: its `main` calls [`main`]
/// when it sees it, before anything else.
pub const ARG: &str = "__compose-shim";

/// What the runtime was built from (see `build.rs`): the dedicated shim binary prints it for
/// `--build-id`, and a `compose` runs that binary only when it matches its own.
pub const BUILD_ID: &str = env!("COMPOSE_RUNTIME_BUILD_ID");

/// The dedicated shim binary's name: small, so each container's shim stays small.
pub const SHIM_BIN: &str = "compose-runtime-shim";

/// The shim to run for containers: `SHIM_BIN` beside `exe` when it is there and of this very
/// build, else `exe` itself (whose main dispatches [`ARG`]).
pub fn pick_exe(exe: &Path) -> PathBuf {
    let Some(beside) = exe.parent().map(|d| d.join(SHIM_BIN)) else {
        return exe.to_path_buf();
    };
    let same_build = beside.is_file()
        && std::process::Command::new(&beside)
            .arg("--build-id")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == BUILD_ID.as_bytes());
    if same_build {
        beside
    } else {
        exe.to_path_buf()
    }
}

pub(crate) const REQUEST: &str = "shim.json";
/// Written by the shim once the process exec'd (empty) or failed to (the error).
const STARTED: &str = "started";
const REPORT_FD: i32 = 3;

/// What the shim is asked to create.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub id: String,
    pub cgroup_parent: String,
    pub spec: Spec,
    pub rootfs: Rootfs,
    pub netns: Option<PathBuf>,
    pub init: bool,
    pub shim: ShimOptions,
    /// [`crate::Runtime::with_seccomp_cache`]'s dir.
    #[serde(default)]
    pub seccomp_cache: Option<PathBuf>,
}

fn shim_err(id: &str, message: impl Into<String>) -> Error {
    Error::Shim {
        id: id.to_string(),
        message: message.into(),
    }
}

/// The creator's side: starts the shim on `dir` (already made) and waits for its report.
/// On failure nothing of the container is left.
pub(crate) fn launch(dir: &Path, req: &Request) -> Result<()> {
    let r = launch_inner(dir, req);
    if r.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    r
}

fn launch_inner(dir: &Path, req: &Request) -> Result<()> {
    let p = dir.join(REQUEST);
    let text = serde_json::to_vec(req).map_err(|e| shim_err(&req.id, e.to_string()))?;
    std::fs::write(&p, text).map_err(|e| Error::io("write", &p, e))?;
    let (rd, wr) = sys::pipe_cloexec().map_err(|e| Error::sys("pipe2", e))?;
    let mut cmd = Command::new(&req.shim.exe);
    cmd.arg(ARG)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A binary on mimalloc (as `compose`) would otherwise commit its first arena
        // eagerly: ~4 MB more resident per shim. Other allocators ignore it.
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0");
    let wr_fd = wr.as_raw_fd();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // syscalls (dup2, fcntl) on fds it was given.
    unsafe {
        cmd.pre_exec(move || {
            let r = if wr_fd == REPORT_FD {
                libc::fcntl(wr_fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(wr_fd, REPORT_FD)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("run the shim", &req.shim.exe, e))?;
    drop(wr);
    // The first half exits as soon as it has forked the shim proper.
    let _ = child.wait();
    let mut report = String::new();
    std::fs::File::from(rd)
        .read_to_string(&mut report)
        .map_err(|e| Error::io("read the shim's report", dir, e))?;
    match report.split_once(' ') {
        Some(("created", _)) => Ok(()),
        Some(("error", msg)) => Err(shim_err(&req.id, msg)),
        _ if report == "created" => Ok(()),
        _ => Err(shim_err(
            &req.id,
            format!(
                "the shim {} exited without reporting (does it dispatch {ARG:?}?)",
                req.shim.exe.display()
            ),
        )),
    }
}

/// After `start` opened the exec fifo: waits for the shim to say whether the process
/// exec'd, so a `start` from any process reports a missing binary as the creator would.
pub(crate) fn await_started(dir: &Path, id: &str, shim: ProcRef) -> Result<()> {
    let p = dir.join(STARTED);
    loop {
        match std::fs::read_to_string(&p) {
            Ok(s) if s.is_empty() => return Ok(()),
            Ok(s) => {
                return Err(Error::Start {
                    id: id.to_string(),
                    message: s,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", &p, e)),
        }
        if !shim.is_alive() && !p.exists() {
            return Err(shim_err(id, "the shim exited before the process started"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Asks the shim of the container in `dir` to set its terminal's window size.
pub(crate) fn resize(dir: &Path, id: &str, size: WinSize) -> Result<()> {
    control::resize(dir, id, size)
}

/// Writes a file atomically (a new file renamed over the old).
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, data).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| Error::io("rename", &tmp, e))
}

/// The shim's entry point: call it first thing in `main` when the first argument is
/// [`ARG`]. Never returns.
pub fn main() -> ! {
    let mut args = std::env::args_os().skip(1);
    let (Some(arg), Some(dir)) = (args.next(), args.next()) else {
        exit(2)
    };
    // SAFETY: fcntl on an integer fd only queries it.
    if arg != ARG || unsafe { libc::fcntl(REPORT_FD, libc::F_GETFD) } < 0 {
        exit(2)
    }
    // SAFETY: fd 3 was set up by `launch` for us and nothing else owns it.
    let report = unsafe { OwnedFd::from_raw_fd(REPORT_FD) };
    // SAFETY: fcntl with integer arguments: no fd of ours leaks into the container.
    unsafe { libc::fcntl(REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    daemonize();
    let dir = PathBuf::from(dir);
    match setup::setup(&dir) {
        Ok(session) => {
            let _ = sys::write_all(report.as_raw_fd(), b"created");
            drop(report);
            trim_heap();
            trim_code();
            let code = match session.run() {
                Ok(()) => 0,
                Err(e) => {
                    let _ = write_atomic(&dir, "shim.err", e.to_string().as_bytes());
                    1
                }
            };
            exit(code)
        }
        Err(e) => {
            let msg = format!("error {e}");
            let _ = sys::write_all(report.as_raw_fd(), msg.as_bytes());
            exit(1)
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process; nothing of ours needs flushing.
    unsafe { libc::_exit(code) }
}

/// Detaches: the first half exits (its parent, the creator, reaps it), the second goes on
/// in a new session, with no terminal, the subreaper of whatever its init leaves.
fn daemonize() {
    // SAFETY: the shim is single-threaded here (first thing in main), so fork is safe.
    match unsafe { libc::fork() } {
        0 => {}
        pid if pid > 0 => exit(0),
        _ => exit(1),
    }
    // SAFETY: setsid, prctl and chdir with valid arguments.
    unsafe {
        libc::setsid();
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::chdir(c"/".as_ptr());
    }
}

/// Unmaps the code pages setup touched (the kernel maps whole folios of a binary at each
/// fault): the loop refaults the few it runs. Only read-only executable file mappings,
/// which hold nothing of ours (the page cache keeps them for every other shim), and the
/// dead part of the stack.
fn trim_code() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let here = 0u8;
    // Well below anything live on the stack (our frame, the red zone).
    let below_sp = (std::ptr::addr_of!(here) as usize).saturating_sub(16 * 1024) & !4095;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms), Some(path)) = (f.next(), f.next(), f.nth(3)) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        let len = if perms == "r-xp" && path.starts_with('/') {
            b - a
        } else if path == "[stack]" && below_sp > a && below_sp < b {
            // The setup's deep frames, below the stack pointer: dead.
            below_sp - a
        } else {
            continue;
        };
        // SAFETY: either a read-only, never-written file mapping (dropping its pages only
        // makes the next access fault them in again from the page cache) or stack below
        // the stack pointer of this single-threaded process (no live data, no signal
        // handler that could be running on it).
        unsafe { libc::madvise(a as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
}

/// Returns the heap the request's parsing grew to the kernel: the shim lives long.
fn trim_heap() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(test)]
mod pick_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{BUILD_ID, SHIM_BIN, pick_exe};

    fn script(path: &std::path::Path, body: &str) {
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_shim_beside_is_taken_only_when_it_is_of_the_same_build() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("compose");
        script(&exe, "exit 0");
        // None beside: the binary itself.
        assert_eq!(pick_exe(&exe), exe);
        let shim = dir.path().join(SHIM_BIN);
        // Another build's shim: not taken.
        script(&shim, "echo 0123456789abcdef");
        assert_eq!(pick_exe(&exe), exe);
        // One that fails: not taken.
        script(&shim, &format!("echo {BUILD_ID}; exit 1"));
        assert_eq!(pick_exe(&exe), exe);
        // This build's: taken.
        script(&shim, &format!("echo {BUILD_ID}"));
        assert_eq!(pick_exe(&exe), shim);
    }
}

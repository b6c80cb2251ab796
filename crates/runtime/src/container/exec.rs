//! `exec`: another process in a running container, a child of the caller.
//!
//! The caller forks a middle process that closes every other fd, turns non-dumpable (so
//! that nothing in the container can open its `/proc/PID/exe`, the caller's binary:
//! CVE-2019-5736), joins the container's cgroup and, through the init's pidfd, all its
//! namespaces. Joining a pid namespace only applies to children, so the middle forks the
//! real process with CLONE_PARENT (the caller is its parent and reaps it), reports its pid
//! and exits. The process then does what the init does before its exec: rlimits, bounding
//! set, user, capabilities, no_new_privs, the cwd checked inside the root, exec. Those
//! steps come from the same [`crate::plan::process`], so whatever is added there (seccomp)
//! applies to `exec` as well.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use oci_spec::runtime::Process;

use super::Container;
use super::create::open_fd;
use crate::error::{Error, Result};
use crate::init::{self, PID_RECORD, RECORD_LEN, Step};
use crate::plan::{self, Plan};
use crate::state::{ExitStatus, Status};
use crate::{caps, sys};

/// Every namespace a container may have; joining one we already share is a no-op.
const NAMESPACES: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// The namespaces to join: the user namespace too when the container has its own.
fn namespaces(pid: i32) -> libc::c_int {
    if crate::userns::differs(pid) {
        NAMESPACES | libc::CLONE_NEWUSER
    } else {
        NAMESPACES
    }
}

/// The stdio of an exec'd process: `None` inherits the caller's.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecStdio<'a> {
    pub stdin: Option<BorrowedFd<'a>>,
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
    /// Stdin is a pty slave (from [`crate::pty::open`]; the caller keeps the master):
    /// make it the process's controlling terminal.
    pub tty: bool,
    /// A connected console socket (runc's `exec --console-socket`): the process gets a
    /// new pty of the container's own `/dev/pts` as stdio and controlling terminal, and
    /// its master goes over the socket.
    pub console: Option<BorrowedFd<'a>>,
}

/// A process started by [`Container::spawn_exec`].
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    pidfd: OwnedFd,
}

impl ExecProcess {
    /// Its pid as the host sees it.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends it a signal; one already gone is not an error.
    pub fn kill(&self, signal: i32) -> Result<()> {
        match sys::pidfd_send_signal(self.pidfd.as_raw_fd(), signal) {
            Ok(()) | Err(sys::Errno(libc::ESRCH)) => Ok(()),
            Err(e) => Err(Error::sys(format!("pidfd_send_signal {signal}"), e)),
        }
    }

    /// Waits for it to exit: its code, or 128 + the signal that killed it.
    pub fn wait(self) -> Result<ExitStatus> {
        let (code, signal) = super::wait::reap(&self.pidfd)?;
        Ok(ExitStatus {
            code,
            signal,
            oom_killed: false,
        })
    }
}

fn pidfd_of(pid: i32) -> Result<OwnedFd> {
    let fd = sys::pidfd_open(pid).map_err(|e| Error::sys(format!("pidfd_open {pid}"), e))?;
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A copy of `fd` at 10 or above, so that dup2 onto 0-2 never clobbers another source.
fn high(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    // SAFETY: fcntl on a valid fd; the new fd is owned below.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if r < 0 {
        return Err(Error::sys("dup stdio", sys::Errno::last()));
    }
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

impl Container {
    /// Runs `process` in the container and waits for it: its exit status.
    pub fn exec(&self, process: &Process, stdio: ExecStdio<'_>) -> Result<ExitStatus> {
        self.spawn_exec(process, stdio)?.wait()
    }

    /// Starts `process` in the running container; returns once it has exec'd (or with
    /// the step that failed, e.g. a cwd outside the root or a missing binary).
    pub fn spawn_exec(&self, process: &Process, stdio: ExecStdio<'_>) -> Result<ExecProcess> {
        let status = self.status();
        if status != Status::Running {
            return Err(self.bad_state(status, "running"));
        }
        let target = self
            .pidfd()?
            .ok_or_else(|| self.bad_state(Status::Stopped, "running"))?;
        let (status_r, status_w) = sys::pipe_cloexec().map_err(|e| Error::sys("pipe2", e))?;
        // The exec child is single-threaded when it joins: on v1 it moves its thread alone,
        // which skips an RCU grace period.
        let cgroup_procs = self
            .cgroup
            .join_files()
            .iter()
            .map(|p| open_fd(p, libc::O_WRONLY))
            .collect::<Result<Vec<_>>>()?;
        let mut dups = Vec::new();
        for (i, fd) in [stdio.stdin, stdio.stdout, stdio.stderr].iter().enumerate() {
            if let Some(fd) = fd {
                dups.push((high(*fd)?, i as RawFd));
            }
        }
        let mut plan = Plan::default();
        let mut keep: Vec<u32> = cgroup_procs
            .iter()
            .chain(dups.iter().map(|(fd, _)| fd))
            .chain([&target, &status_w])
            .map(|fd| fd.as_raw_fd() as u32)
            .chain(stdio.console.map(|fd| fd.as_raw_fd() as u32))
            .collect();
        keep.sort_unstable();
        plan.push("closing the caller's other fds", Step::CloseFds(keep));
        plan.push("prctl(PR_SET_DUMPABLE, 0)", Step::NotDumpable);
        for fd in &cgroup_procs {
            plan.push(
                "joining the container's cgroup",
                Step::JoinCgroup(fd.as_raw_fd()),
            );
        }
        plan.push(
            "joining the container's namespaces (setns on its init's pidfd)",
            Step::SetNs(target.as_raw_fd(), namespaces(self.pid())),
        );
        plan.push(
            "forking into the container's pid namespace",
            Step::ForkSibling,
        );
        for (fd, to) in &dups {
            let step = Step::Dup2 {
                from: fd.as_raw_fd(),
                to: *to,
            };
            plan.push(format!("setting up fd {to}"), step);
        }
        if let Some(socket) = stdio.console {
            // In the container's mount namespace now: its /dev/ptmx.
            plan.push(
                "making the console: a pty in the container's /dev/pts, its master sent to \
                 the console socket",
                Step::Console(socket.as_raw_fd()),
            );
        }
        if stdio.tty || stdio.console.is_some() {
            plan.push(
                "making stdin the controlling terminal (setsid, TIOCSCTTY)",
                Step::Terminal,
            );
        }
        plan::process(
            &mut plan,
            Some(process),
            self.record().seccomp.as_ref(),
            self.seccomp_cache.as_deref(),
            caps::own_status_mask("CapBnd")?,
            caps::last_cap(),
            status_w.as_raw_fd(),
        )?;
        // SAFETY: the child only runs init::run, which walks the prepared steps with raw
        // syscalls (no allocation, no locks) and ends in execve or _exit.
        let (pid, middle) = unsafe { sys::clone3(0) }.map_err(|e| Error::sys("clone3", e))?;
        if pid == 0 {
            let child = init::Child {
                steps: &plan.steps,
                status_fd: status_w.as_raw_fd(),
            };
            init::run(&child);
        }
        // SAFETY: clone3 returned a new pidfd that nothing else owns.
        let middle = unsafe { OwnedFd::from_raw_fd(middle) };
        drop(status_w);
        drop((cgroup_procs, dups, target));
        let r = read_records(&status_r, &plan.what);
        let _ = super::wait::reap(&middle);
        let (sibling, err) = r;
        let proc = sibling.map(pidfd_of).transpose()?.map(|pidfd| ExecProcess {
            pid: sibling.unwrap_or_default(),
            pidfd,
        });
        match (proc, err) {
            (Some(p), None) => Ok(p),
            (p, Some(e)) => {
                if let Some(p) = p {
                    let _ = p.wait();
                }
                Err(e)
            }
            (None, None) => Err(Error::InitDied),
        }
    }
}

/// Reads the status pipe to EOF: the sibling's pid, and the error of a failed step.
fn read_records(fd: &OwnedFd, what: &[String]) -> (Option<i32>, Option<Error>) {
    let mut pid = None;
    loop {
        let mut rec = [0u8; RECORD_LEN];
        let n = match sys::read_full(fd.as_raw_fd(), &mut rec) {
            Ok(n) => n,
            Err(e) => return (pid, Some(Error::sys("read status pipe", e))),
        };
        if n == 0 {
            return (pid, None);
        }
        if n < RECORD_LEN {
            return (pid, Some(Error::InitDied));
        }
        let step = u32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
        let val = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
        if step == PID_RECORD {
            pid = Some(val);
            continue;
        }
        let step = what
            .get(step as usize)
            .cloned()
            .unwrap_or_else(|| format!("step {step}"));
        return (
            pid,
            Some(Error::Exec {
                step,
                errno: sys::Errno(val),
            }),
        );
    }
}

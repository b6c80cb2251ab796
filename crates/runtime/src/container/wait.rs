//! `wait`: the exit status of the init.

use std::os::fd::{AsRawFd, OwnedFd};

use super::{Container, wait_exit};
use crate::error::{Error, Result};
use crate::state::{ExitStatus, ProcRef, Record};
use crate::sys;

const P_PIDFD: libc::idtype_t = 3;

/// Reaps the exited child behind `pidfd`: `(code, signal)`.
pub(super) fn reap(pidfd: &OwnedFd) -> Result<(i32, Option<i32>)> {
    loop {
        // SAFETY: info is written by waitid before it is read.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid siginfo buffer; pidfd is our child's.
        let r = unsafe {
            libc::waitid(
                P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r < 0 {
            let e = sys::Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(Error::sys("waitid", e));
        }
        // SAFETY: waitid filled a SIGCHLD siginfo.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        return Ok(if code == libc::CLD_EXITED {
            (status, None)
        } else {
            (128 + status, Some(status))
        });
    }
}

impl Container {
    /// Waits for the init to exit and returns how it ended (also recorded in the state
    /// dir). Under a shim, any process can: it blocks until the shim has recorded the exit.
    /// Without one, only the creating process can learn the exit status; another gets it
    /// from the record once the creator has written it, else [`Error::NotParent`].
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(exit) = self.record.exit {
            return Ok(exit);
        }
        let Some(p) = &mut self.parent else {
            self.record = Record::load(&self.dir, &self.id)?;
            if let Some(exit) = self.record.exit {
                return Ok(exit);
            }
            if let Some(shim) = self.record.shim {
                // The shim records the exit, then exits: its end is our signal.
                wait_proc(shim)?;
                self.record = Record::load(&self.dir, &self.id)?;
                return self.record.exit.ok_or_else(|| Error::Shim {
                    id: self.id.clone(),
                    message: "the shim exited without recording the exit status".into(),
                });
            }
            if let Some(fd) = self.pidfd()? {
                wait_exit(&fd, -1)?;
            }
            let r = Record::load(&self.dir, &self.id)?;
            return r.exit.ok_or_else(|| Error::NotParent(self.id.clone()));
        };
        let (code, signal) = reap(&p.pidfd)?;
        p.reaped = true;
        let exit = ExitStatus {
            code,
            signal,
            oom_killed: self.cgroup.oom_killed(),
        };
        self.record.exit = Some(exit);
        self.record.save(&self.dir)?;
        Ok(exit)
    }

    /// Waits for the exit, then deletes the container: for a caller that removes it at
    /// once (`run`). The creator skips recording the exit in a state dir about to go (a
    /// file replaced by rename, which ext4 flushes, then unlinked).
    pub fn wait_and_delete(mut self) -> Result<ExitStatus> {
        let exit = match &mut self.parent {
            Some(p) if !p.reaped && self.record.exit.is_none() => {
                let (code, signal) = reap(&p.pidfd)?;
                p.reaped = true;
                let exit = ExitStatus {
                    code,
                    signal,
                    oom_killed: self.cgroup.oom_killed(),
                };
                self.record.exit = Some(exit);
                Ok(exit)
            }
            _ => self.wait(),
        };
        // Removed even when the wait failed: nothing of it is left behind.
        let deleted = self.delete(true);
        let exit = exit?;
        deleted?;
        Ok(exit)
    }
}

/// Waits until `p` (not necessarily our child) has exited.
pub(super) fn wait_proc(p: ProcRef) -> Result<()> {
    let fd = match sys::pidfd_open(p.pid) {
        Ok(fd) => fd,
        Err(sys::Errno(libc::ESRCH)) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("pidfd_open {}", p.pid), e)),
    };
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // Checked after opening: the pidfd pins this exact process.
    if p.is_alive() {
        wait_exit(&fd, -1)?;
    }
    Ok(())
}

impl Container {
    /// How the container ended, once recorded (re-read from the state dir: works from any
    /// process, at any time).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.record
            .exit
            .or_else(|| Record::load(&self.dir, &self.id).ok()?.exit)
    }

    /// Whether the container is over for good: its exit recorded, or nothing left that
    /// could record it (its shim gone, or without a shim, its init). What
    /// [`crate::logs::follow`] wants as its `done`: the shim records the exit only after
    /// its last log line.
    pub fn finished(&self) -> bool {
        if self.exit_status().is_some() {
            return true;
        }
        match self.record.shim {
            Some(shim) => !shim.is_alive(),
            None => !self.record.is_alive(),
        }
    }
}

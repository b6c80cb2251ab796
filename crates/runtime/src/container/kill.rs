//! `kill` and `stop`.

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::{Container, wait_exit};
use crate::error::{Error, Result};
use crate::sys;

impl Container {
    /// Sends `signal` to the init. A container that is already gone is not an error.
    ///
    /// The init is PID 1 of its namespace: it gets only the signals it has a handler for
    /// (SIGKILL always), as in Docker.
    pub fn kill(&self, signal: i32) -> Result<()> {
        let Some(fd) = self.pidfd()? else {
            return Ok(());
        };
        match sys::pidfd_send_signal(fd.as_raw_fd(), signal) {
            Ok(()) | Err(sys::Errno(libc::ESRCH)) => Ok(()),
            Err(e) => Err(Error::sys(format!("pidfd_send_signal {signal}"), e)),
        }
    }

    /// Sends `signal`, waits up to `grace` for the init to exit, then SIGKILLs every process
    /// in the container's cgroup and waits until none is left.
    pub fn stop(&self, signal: i32, grace: Duration) -> Result<()> {
        if let Some(fd) = self.pidfd()? {
            self.kill(signal)?;
            let ms = i32::try_from(grace.as_millis()).unwrap_or(i32::MAX);
            if !wait_exit(&fd, ms)? {
                tracing::debug!(
                    id = self.id,
                    "grace period over, killing the container's cgroup"
                );
                self.kill(libc::SIGKILL)?;
            }
        }
        self.cgroup.kill_all()?;
        if let Some(fd) = self.pidfd()? {
            wait_exit(&fd, -1)?;
        }
        Ok(())
    }
}

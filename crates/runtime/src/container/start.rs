//! `start`: lets the created init go on to exec the process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Container;
use super::create::{FIFO, read_status};
use crate::error::{Error, Result};
use crate::state::Status;
use crate::sys;

impl Container {
    /// Starts the process. From the creating process, or from any process when a shim
    /// runs the container, also waits for the exec and reports its failure (e.g. a missing
    /// binary or a cwd outside the root).
    pub fn start(&mut self) -> Result<()> {
        if let Some(p) = &mut self.parent
            && std::mem::take(&mut p.at_once)
        {
            // It goes on by itself: only its exec (or the failure of a step) is left.
            if let Some(status) = p.status.take() {
                read_status(&status, &p.what)?;
            }
            return Ok(());
        }
        let status = self.status();
        if status != Status::Created {
            return Err(self.bad_state(status, "created"));
        }
        let fifo = self.dir.join(FIFO);
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Invalid("NUL in the state dir".into()))?;
        // Non-blocking: a plain open would hang forever if the init died meanwhile.
        // SAFETY: c is NUL-terminated.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::io("open", &fifo, std::io::Error::last_os_error()));
        }
        // SAFETY: open returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if let Err(e) = self.await_init(&fd) {
            // It may have failed a step after saying it was set up (the old root's
            // detach): that error says more than its death.
            if let Some(p) = &mut self.parent
                && let Some(status) = p.status.take()
            {
                read_status(&status, &p.what)?;
            }
            return Err(e);
        }
        let _ = std::fs::remove_file(&fifo);
        if let Some(p) = &mut self.parent
            && let Some(status) = p.status.take()
        {
            read_status(&status, &p.what)?;
        } else if let Some(shim) = self.record.shim {
            crate::shim::await_started(&self.dir, &self.id, shim)?;
        }
        Ok(())
    }

    /// Waits for the init's byte on the exec fifo, giving up if it dies.
    fn await_init(&self, fifo: &OwnedFd) -> Result<()> {
        loop {
            if sys::poll_in(fifo.as_raw_fd(), 50).map_err(|e| Error::sys("poll exec fifo", e))? {
                let mut b = [0u8; 1];
                // SAFETY: b is valid for 1 byte.
                if unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) } == 1 {
                    return Ok(());
                }
            }
            if !self.record.is_alive() {
                return Err(Error::InitDied);
            }
        }
    }
}

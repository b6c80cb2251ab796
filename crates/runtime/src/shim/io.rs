//! The shim's loop: the container's output into the log, line by line, until its init
//! exits and its stdio is drained; then the exit recorded.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::control::Control;
use super::log::LogWriter;
use super::{STARTED, write_atomic};
use crate::container::Container;
use crate::container::create::read_status;
use crate::error::{Error, Result};
use crate::logs;
use crate::sys::Errno;

/// The longest line kept whole; a longer one is logged in `P` pieces of this size.
const LINE_MAX: usize = 16 * 1024;
/// After the init exited, how long output may stay silent before we stop waiting for EOF
/// (a process outside the container may hold a copy of its stdio).
const DRAIN_IDLE_MS: i32 = 2000;

/// One output of the container.
pub(super) struct Stream {
    fd: OwnedFd,
    kind: logs::Stream,
    pending: Vec<u8>,
    open: bool,
}

impl Stream {
    pub(super) fn new(fd: OwnedFd, kind: logs::Stream) -> Stream {
        Stream {
            fd,
            kind,
            pending: Vec::new(),
            open: true,
        }
    }

    /// Reads what is there and logs its complete lines; at EOF, the rest as a partial.
    fn pump(&mut self, log: &mut LogWriter) {
        let mut chunk = [0u8; 8192];
        // SAFETY: chunk is valid for its length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 && Errno::last().0 == libc::EINTR {
            return;
        }
        // EIO: a pty whose every slave is closed.
        if n <= 0 {
            if !self.pending.is_empty() {
                let _ = log.write(self.kind, true, &self.pending);
                self.pending.clear();
            }
            self.open = false;
            return;
        }
        self.pending.extend_from_slice(&chunk[..n as usize]);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            match rest.iter().position(|&b| b == b'\n') {
                // A whole line, short enough.
                Some(i) if i <= LINE_MAX => {
                    let _ = log.write(self.kind, false, &rest[..i]);
                    start += i + 1;
                }
                // Too long, whether its end is here yet or not: a piece of it.
                _ if rest.len() > LINE_MAX => {
                    let _ = log.write(self.kind, true, &rest[..LINE_MAX]);
                    start += LINE_MAX;
                }
                _ => break,
            }
        }
        self.pending.drain(..start);
    }
}

/// A created container and what the shim holds of it.
pub(super) struct Session {
    pub(super) c: Container,
    pub(super) dir: PathBuf,
    pub(super) streams: Vec<Stream>,
    /// The write end of the process's stdin, held so that it stays open.
    pub(super) _stdin: Option<OwnedFd>,
    /// With a terminal: the fifo clients send resize requests on.
    pub(super) control: Option<Control>,
    pub(super) log: LogWriter,
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

impl Session {
    pub(super) fn run(mut self) -> Result<()> {
        let (pidfd, mut status, what) = match &mut self.c.parent {
            Some(p) => (p.pidfd.as_raw_fd(), p.status.take(), p.what.clone()),
            None => return Err(Error::InitDied),
        };
        let mut exited = false;
        loop {
            let mut fds: Vec<libc::pollfd> = self
                .streams
                .iter()
                .filter(|s| s.open)
                .map(|s| pollfd(s.fd.as_raw_fd()))
                .collect();
            let n_streams = fds.len();
            if let Some(s) = &status {
                fds.push(pollfd(s.as_raw_fd()));
            }
            if !exited {
                fds.push(pollfd(pidfd));
                if let Some(c) = &self.control {
                    fds.push(pollfd(c.fd()));
                }
            }
            if exited && n_streams == 0 {
                break;
            }
            let timeout = if exited { DRAIN_IDLE_MS } else { -1 };
            // SAFETY: fds is a valid array of its length.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if r < 0 {
                if Errno::last().0 == libc::EINTR {
                    continue;
                }
                return Err(Error::sys("poll", Errno::last()));
            }
            if r == 0 {
                break;
            }
            for pfd in fds.iter().filter(|p| p.revents != 0) {
                if pfd.fd == pidfd {
                    exited = true;
                } else if self.control.as_ref().is_some_and(|c| c.fd() == pfd.fd) {
                    self.resize_requests();
                } else if status.as_ref().is_some_and(|s| s.as_raw_fd() == pfd.fd) {
                    if let Some(s) = status.take() {
                        self.started(&s, &what);
                    }
                } else if let Some(s) = self
                    .streams
                    .iter_mut()
                    .find(|s| s.open && s.fd.as_raw_fd() == pfd.fd)
                {
                    s.pump(&mut self.log);
                }
            }
        }
        if let Some(s) = status.take() {
            self.started(&s, &what);
        }
        self.c.wait()?;
        reap_orphans();
        Ok(())
    }

    /// Applies the control fifo's requests to the pty master (the one stream there is
    /// with a terminal).
    fn resize_requests(&mut self) {
        let (Some(c), Some(master)) = (&mut self.control, self.streams.first()) else {
            return;
        };
        c.serve(master.fd.as_fd());
    }

    /// The init's status pipe spoke: EOF once it exec'd (or died waiting for `start`,
    /// which `start` sees by itself), or the step that failed.
    fn started(&self, status: &OwnedFd, what: &[String]) {
        let msg = match read_status(status, what) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        let _ = write_atomic(&self.dir, STARTED, msg.as_bytes());
    }
}

/// As a subreaper we inherit whatever our children leave behind: reap it.
fn reap_orphans() {
    // SAFETY: waitpid with a null status pointer and WNOHANG.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

//! The shim's control fifo (`<state dir>/control`, made only for a container with a
//! terminal): clients write one request per line, the shim applies it. Today the one
//! request is `resize ROWS COLS`, sent by `run -it`/`exec -it`-style clients on SIGWINCH:
//! the shim holds the pty master, so only it can set the window size.
//!
//! A fifo rather than a socket: no listener to accept, and each request is one write of
//! less than `PIPE_BUF` bytes, which the kernel keeps whole.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::pty::{self, WinSize};
use crate::sys::Errno;

pub(crate) const CONTROL: &str = "control";
/// A request line longer than this is junk: dropped.
const LINE_MAX: usize = 256;

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("NUL in {}", p.display())))
}

/// The shim's end: open read-write, so it never reads EOF when a client goes away.
pub(super) struct Control {
    fd: OwnedFd,
    pending: Vec<u8>,
}

impl Control {
    pub(super) fn create(dir: &Path) -> Result<Control> {
        let p = dir.join(CONTROL);
        let c = cpath(&p)?;
        // SAFETY: c is NUL-terminated.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } < 0 {
            return Err(Error::io("mkfifo", &p, std::io::Error::last_os_error()));
        }
        let flags = libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: c is NUL-terminated.
        let fd = unsafe { libc::open(c.as_ptr(), flags) };
        if fd < 0 {
            return Err(Error::io("open", &p, std::io::Error::last_os_error()));
        }
        Ok(Control {
            // SAFETY: open returned a new fd that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            pending: Vec::new(),
        })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads what clients wrote and applies each whole request to the pty `master`.
    pub(super) fn serve(&mut self, master: BorrowedFd<'_>) {
        let mut chunk = [0u8; 1024];
        loop {
            // SAFETY: chunk is valid for its length.
            let n = unsafe { libc::read(self.fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n < 0 && Errno::last().0 == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            self.pending.extend_from_slice(&chunk[..n as usize]);
        }
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            if let Some(size) = parse_resize(&line[..i]) {
                let _ = pty::set_size(master, size);
            }
        }
        if self.pending.len() > LINE_MAX {
            self.pending.clear();
        }
    }
}

/// `resize ROWS COLS`.
fn parse_resize(line: &[u8]) -> Option<WinSize> {
    let s = std::str::from_utf8(line).ok()?;
    let mut w = s.split_ascii_whitespace();
    if w.next()? != "resize" {
        return None;
    }
    let rows = w.next()?.parse().ok()?;
    let cols = w.next()?.parse().ok()?;
    w.next().is_none().then_some(WinSize { rows, cols })
}

/// The client's side: asks the shim of the container in `dir` to resize its terminal.
pub(crate) fn resize(dir: &Path, id: &str, size: WinSize) -> Result<()> {
    let p = dir.join(CONTROL);
    let c = cpath(&p)?;
    // Non-blocking: with no shim reading, open fails (ENXIO) rather than hanging.
    // SAFETY: c is NUL-terminated.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let why = match Errno::last().0 {
            libc::ENOENT => "it has no terminal",
            libc::ENXIO => "its shim is gone",
            _ => return Err(Error::io("open", &p, std::io::Error::last_os_error())),
        };
        return Err(Error::Shim {
            id: id.to_string(),
            message: format!("cannot resize the terminal: {why}"),
        });
    }
    // SAFETY: open returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let line = format!("resize {} {}\n", size.rows, size.cols);
    crate::sys::write_all(fd.as_raw_fd(), line.as_bytes())
        .map_err(|e| Error::sys("write the shim's control fifo", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_requests_parse() {
        let ws = |rows, cols| Some(WinSize { rows, cols });
        assert_eq!(parse_resize(b"resize 24 80"), ws(24, 80));
        assert_eq!(parse_resize(b"resize  50 200 "), ws(50, 200));
        for bad in [
            &b"resize 24"[..],
            b"resize 24 80 1",
            b"resize -1 80",
            b"size 1 2",
            b"",
        ] {
            assert_eq!(parse_resize(bad), None, "{bad:?}");
        }
    }
}

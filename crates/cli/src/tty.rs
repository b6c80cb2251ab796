//! The user's terminal attached to a container process's pty: raw mode while attached, the
//! window size copied, bytes copied both ways until the process closes its side.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// Puts stdin in raw mode until dropped (a no-op when stdin is no terminal).
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        if !std::io::stdin().is_terminal() {
            return RawMode { saved: None };
        }
        // SAFETY: termios is plain data, filled by tcgetattr before use.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal; t is a valid termios.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return RawMode { saved: None };
        }
        let saved = t;
        // SAFETY: t is a valid termios.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: fd 0 is a terminal; t is a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restoring the termios read from the same terminal.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// Gives the pty `master` the window size of our stdout's terminal, when there is one.
pub fn copy_window_size(master: &OwnedFd) {
    // SAFETY: winsize is plain data, filled by the ioctl before use.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize; fd 1 may be no terminal (then it fails).
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Copies our stdin to `master` (on a detached thread: a read of stdin cannot be cut short)
/// and `master` to our stdout until the process side closes.
pub fn pump(master: OwnedFd) {
    if let Ok(w) = master.try_clone() {
        std::thread::spawn(move || {
            let mut w = std::fs::File::from(w);
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    let mut r = std::fs::File::from(master);
    let mut out = std::io::stdout();
    let mut buf = [0u8; 4096];
    // EIO once the last slave fd (the process's) is closed.
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 || out.write_all(&buf[..n]).is_err() {
            break;
        }
        let _ = out.flush();
    }
}

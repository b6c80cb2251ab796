//! Pseudo-terminals for a container's process: the caller (or the shim) keeps the master,
//! the process gets the slave as its stdio and controlling terminal.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::sys::Errno;

/// A new pty: `(master, slave)`, both close-on-exec (the slave is dup'd onto stdio).
pub fn open() -> Result<(OwnedFd, OwnedFd)> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt with flags; the new fd is owned below.
    let m = unsafe { libc::posix_openpt(flags) };
    if m < 0 {
        return Err(Error::sys("posix_openpt", Errno::last()));
    }
    // SAFETY: m is a new fd nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: master is a pty master; name is valid for its length.
    let ok = unsafe {
        libc::grantpt(m) == 0
            && libc::unlockpt(m) == 0
            && libc::ptsname_r(m, name.as_mut_ptr(), name.len()) == 0
    };
    if !ok {
        return Err(Error::sys("unlocking the pty", Errno::last()));
    }
    // SAFETY: ptsname_r wrote a NUL-terminated path into name.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: path is NUL-terminated.
    let s = unsafe { libc::open(path.as_ptr(), flags) };
    if s < 0 {
        return Err(Error::sys(
            format!("open {}", path.to_string_lossy()),
            Errno::last(),
        ));
    }
    // SAFETY: s is a new fd nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    let _ = master.as_raw_fd();
    Ok((master, slave))
}

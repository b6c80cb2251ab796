//! Pseudo-terminals for a container's process: the caller (or the shim) keeps the master,
//! the process gets the slave as its stdio and controlling terminal.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// A connected pair of Unix stream sockets (close-on-exec): one end for the init to send
/// its terminal's master on ([`crate::CreateOptions::console_socket`]'s protocol), the other
/// for [`recv_fd`].
pub fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a valid 2-int buffer.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } < 0 {
        return Err(Error::sys("socketpair", Errno::last()));
    }
    // SAFETY: socketpair returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives one fd sent with `SCM_RIGHTS` on `socket` (the master a container's init made).
pub fn recv_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut name = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: name.as_mut_ptr().cast(),
        iov_len: name.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: zeroed is a valid msghdr; its buffers are set below and outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg's buffers are valid for their lengths.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(Error::sys("recvmsg (the terminal's master)", Errno::last()));
    }
    // SAFETY: the kernel filled msg's control buffer up to msg_controllen; the first
    // header, if any, is read within it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(Error::Invalid("no terminal master was sent".into()));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A terminal's window size: rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// The window size of the terminal `fd` refers to (e.g. the client's own stdin, to pass
/// on to a container after a SIGWINCH).
pub fn size(fd: BorrowedFd<'_>) -> Result<WinSize> {
    // SAFETY: ws is written by the ioctl before it is read.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into a valid buffer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(Error::sys("ioctl TIOCGWINSZ", Errno::last()));
    }
    Ok(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// Sets the window size of a pty (master or slave): the kernel then sends SIGWINCH to
/// the foreground process group of its terminal. An `exec -it` caller holding the master
/// calls this itself; a container under a shim goes through [`crate::Container::resize`].
pub fn set_size(fd: BorrowedFd<'_>, size: WinSize) -> Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(Error::sys("ioctl TIOCSWINSZ", Errno::last()));
    }
    Ok(())
}

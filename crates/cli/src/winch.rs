//! SIGWINCH: the user's terminal changed size. A command attached to a container's pty
//! passes the new size on (as `docker exec -it` does), so full-screen programs inside
//! redraw to fit.
//!
//! The handler only writes a byte to a pipe (async-signal-safe); a thread reads the pipe
//! and does the ioctls.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use compose_runtime::pty::WinSize;

/// The pipe's write end, for the handler (-1 until [`follow`] installs it).
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte. A full pipe
        // (EAGAIN) is fine: a wake-up is already pending.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
}

/// The size of our terminal: stdout's, else stdin's (`None` when neither is one).
pub fn our_size() -> Option<WinSize> {
    [1, 0].into_iter().find_map(|fd| {
        // SAFETY: fds 0 and 1 stay open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        compose_runtime::pty::size(fd).ok()
    })
}

/// Gives `master` (a container process's pty) our terminal's size now and after every
/// SIGWINCH, on a detached thread, for as long as the process runs.
pub fn follow(master: &OwnedFd) -> std::io::Result<()> {
    let master = master.try_clone()?;
    let apply = move || {
        if let Some(size) = our_size() {
            let _ = compose_runtime::pty::set_size(master.as_fd(), size);
        }
    };
    apply();
    let reader = install()?;
    std::thread::spawn(move || {
        let mut r = std::fs::File::from(reader);
        let mut buf = [0u8; 64];
        // Several signals may come as one read: one resize covers them.
        while matches!(r.read(&mut buf), Ok(n) if n > 0) {
            apply();
        }
    });
    Ok(())
}

/// Makes the pipe and installs the handler; returns the read end.
fn install() -> std::io::Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new fds into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are new and owned here from now on.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The reader blocks; only the handler's end must never block.
    // SAFETY: F_SETFL on a valid fd.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
    // The write end lives as long as the process: the handler may run at any time.
    WAKE.store(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is valid; its handler and flags are set before use.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_winch as extern "C" fn(libc::c_int) as usize;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: sa is initialized; the handler only loads an atomic and writes to a pipe.
    if unsafe { libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

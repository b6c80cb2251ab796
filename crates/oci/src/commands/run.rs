//! `run`: create and start; in the foreground, wait, remove, and exit with its status. The
//! signals a terminal or a supervisor sends us go on to the container, as runc does, so
//! that Ctrl-C or a `kill` of the runtime stops the container rather than orphaning it.

use compose_runtime::Runtime;

use crate::cli::RunArgs;

/// Forwarded to the container's init while we wait for it.
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

pub fn run(rt: &Runtime, a: &RunArgs) -> anyhow::Result<u8> {
    let set = if a.detach {
        None
    } else {
        Some(block_forwarded())
    };
    let (mut c, meta) = super::create::create_unrecorded(rt, &a.create, true)?;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    // After the start: written while the process runs, not between its setup and exec.
    let c = super::create::record(c, &meta, &a.create)?;
    if a.detach {
        return Ok(0);
    }
    if let Some(set) = set {
        let forwarded = forward_until_exit(&set, c.pid());
        if let Err(e) = forwarded {
            let _ = c.delete(true);
            return Err(e);
        }
    }
    let status = c.wait_and_delete()?;
    Ok(u8::try_from(status.code).unwrap_or(255))
}

/// Blocks the forwarded signals in this (still single-threaded) process, so that they
/// wait in the signalfd for forwarding. The container's init resets its mask before exec.
fn block_forwarded() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask takes a
    // valid set and a null old-set pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Forwards the blocked signals to `pid` until it exits, in this thread: a signalfd and a
/// pidfd polled together (no thread to start and tear down on every run). The init is our
/// unreaped child until the caller reaps it, so its pid cannot be reused meanwhile.
fn forward_until_exit(set: &libc::sigset_t, pid: i32) -> anyhow::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: set is a valid, initialised signal set; -1 asks for a new fd.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    anyhow::ensure!(sfd >= 0, "signalfd: {}", std::io::Error::last_os_error());
    // SAFETY: signalfd returned a new fd that nothing else owns.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    // SAFETY: pidfd_open with plain integers.
    let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    anyhow::ensure!(
        pfd >= 0,
        "pidfd_open {pid}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    let pfd = unsafe { OwnedFd::from_raw_fd(pfd) };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: pfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            anyhow::bail!("poll: {e}");
        }
        if fds[0].revents != 0 {
            return Ok(());
        }
        if fds[1].revents != 0 {
            // SAFETY: zeroed is a valid signalfd_siginfo; the read fills it.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: info is valid for size bytes.
            let r = unsafe { libc::read(sfd.as_raw_fd(), (&raw mut info).cast(), size) };
            if r == size as isize {
                // SAFETY: kill(2) with plain integers.
                unsafe { libc::kill(pid, info.ssi_signo as i32) };
            }
        }
    }
}

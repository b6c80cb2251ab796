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
    let mut c = super::create::create(rt, &a.create)?;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    if let Some(set) = set {
        forward(set, c.pid());
    }
    let status = c.wait_and_delete()?;
    Ok(u8::try_from(status.code).unwrap_or(255))
}

/// Blocks the forwarded signals in this (still single-threaded) process, so that only the
/// forwarding thread takes them. The container's init resets its mask before exec.
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

/// A thread that waits for the blocked signals and sends each to `pid`. The init is our
/// unreaped child until `wait` returns, so its pid cannot be reused meanwhile.
fn forward(set: libc::sigset_t, pid: i32) {
    std::thread::spawn(move || {
        loop {
            let mut sig = 0;
            // SAFETY: set is a valid signal set; sig is a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(pid, sig) };
        }
    });
}

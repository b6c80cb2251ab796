//! The shim's start: the request read, the container's stdio made, the container created
//! with this process as its init's parent.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::control::Control;
use super::io::{Session, Stream};
use super::log::LogWriter;
use super::{REQUEST, Request};
use crate::container::{self, Target};
use crate::error::{Error, Result};
use crate::logs;
use crate::state::ProcRef;
use crate::{cgroups, pty, sys};

/// The container's ends of its stdio, and ours.
struct Stdio {
    child: [OwnedFd; 3],
    streams: Vec<Stream>,
    stdin: Option<OwnedFd>,
    /// With a terminal: (our end, the init's end) of the socketpair its master comes on.
    console: Option<(OwnedFd, OwnedFd)>,
}

fn dev_null() -> Result<OwnedFd> {
    // SAFETY: the path is NUL-terminated.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io(
            "open",
            "/dev/null",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    sys::pipe_cloexec().map_err(|e| Error::sys("pipe2", e))
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone().map_err(|e| Error::io("dup", "stdio", e))
}

impl Stdio {
    fn new(terminal: bool, stdin: bool) -> Result<Stdio> {
        if terminal {
            // The init makes the pty in the container's own /dev/pts and sends us its
            // master (`Step::Console`): inside, the terminal has a name (`tty` works).
            // Its stdio until then: /dev/null.
            let (ours, theirs) = pty::socketpair()?;
            let null = dev_null()?;
            return Ok(Stdio {
                child: [dup(&null)?, dup(&null)?, null],
                streams: Vec::new(),
                stdin: None,
                console: Some((ours, theirs)),
            });
        }
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (child_in, keep) = if stdin {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            (dev_null()?, None)
        };
        Ok(Stdio {
            child: [child_in, out_w, err_w],
            streams: vec![
                Stream::new(out_r, logs::Stream::Stdout),
                Stream::new(err_r, logs::Stream::Stderr),
            ],
            stdin: keep,
            console: None,
        })
    }
}

/// Puts `fds` on this process's 0, 1 and 2 (dup2 clears close-on-exec there, so the
/// init inherits them).
fn install(fds: &[OwnedFd; 3]) -> Result<()> {
    for (i, fd) in fds.iter().enumerate() {
        // SAFETY: dup2 between fds we own.
        if unsafe { libc::dup2(fd.as_raw_fd(), i as i32) } < 0 {
            return Err(Error::sys("dup2 stdio", sys::Errno::last()));
        }
    }
    Ok(())
}

pub(super) fn setup(dir: &Path) -> Result<Session> {
    let p = dir.join(REQUEST);
    let text = std::fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
    let req: Request = serde_json::from_slice(&text).map_err(|e| Error::State {
        id: dir.display().to_string(),
        message: format!("{}: {e}", p.display()),
    })?;
    drop(text);
    // The request stays: [`crate::Runtime::recreate`] makes the container again from it.
    let r = create(dir.to_path_buf(), &req);
    if r.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    r
}

fn create(dir: PathBuf, req: &Request) -> Result<Session> {
    let log = LogWriter::new(
        req.shim.log.clone(),
        req.shim.log_max_size,
        req.shim.log_max_files,
    )?;
    let mut stdio = Stdio::new(req.shim.terminal, req.shim.stdin)?;
    let (console_ours, console_theirs) = stdio.console.take().unzip();
    // Made before the container: a client that sees it created can resize at once.
    let control = req
        .shim
        .terminal
        .then(|| Control::create(&dir))
        .transpose()?;
    let null = dev_null()?;
    install(&stdio.child)?;
    let target = Target {
        dir: dir.clone(),
        id: &req.id,
        h: cgroups::detect()?,
        cgroup_parent: &req.cgroup_parent,
        init: req.init,
        seccomp_cache: req.seccomp_cache.as_deref(),
        start_at_once: false,
        console: console_theirs,
    };
    let r = container::create(target, &req.spec, &req.rootfs, req.netns.as_deref());
    // Our own stdio goes back to /dev/null: only the container holds its ends now.
    install(&[dup(&null)?, dup(&null)?, null])?;
    drop(stdio.child);
    let mut c = r?;
    if let Some(ours) = console_ours {
        // Sent before the init said it was set up: here already.
        match pty::recv_fd(ours.as_fd()) {
            Ok(master) => stdio
                .streams
                .push(Stream::new(master, logs::Stream::Stdout)),
            Err(e) => {
                let _ = c.delete(true);
                return Err(e);
            }
        }
    }
    c.record.shim = ProcRef::me();
    if let Err(e) = c.record.save(&dir) {
        let _ = c.delete(true);
        return Err(e);
    }
    Ok(Session {
        c,
        dir,
        streams: stdio.streams,
        _stdin: stdio.stdin,
        control,
        log,
    })
}

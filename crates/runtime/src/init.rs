//! The container's init between clone and exec.
//!
//! The runtime may run in a multi-threaded process, so after the fork only async-signal-safe
//! work is allowed: the parent turns the spec into a list of [`Step`]s with every string and
//! fd ready ([`crate::plan`]), and the child only walks that list with raw syscalls. A failed
//! step is reported over the status pipe as `(step index, errno)`; the parent keeps a
//! description of each step to make the error message.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use libc::c_int;

use crate::sys::{self, Errno, SysResult};

/// The status record the child writes: the index of a step and an errno.
pub const RECORD_LEN: usize = 8;
/// The step index that means "set up, waiting for start".
pub const READY: u32 = u32::MAX;
/// The step index of a record whose second field is the pid of the forked sibling.
pub const PID_RECORD: u32 = u32::MAX - 1;

/// A path inside the container's rootfs, precomputed for a walk without allocation.
#[derive(Debug)]
pub struct Target {
    /// `a`, `a/b`, `a/b/c`: each prefix of the path, relative to the rootfs.
    pub prefixes: Vec<CString>,
    /// `a`, `b`, `c`: the components.
    pub names: Vec<CString>,
}

/// What to mount at a target.
#[derive(Debug)]
pub enum Source {
    /// A new filesystem: type, `key[=value]` options, mount attributes.
    Fs {
        fstype: CString,
        options: Vec<(CString, Option<CString>)>,
        attrs: u64,
    },
    /// A bind mount of a host path.
    Bind {
        path: CString,
        recursive: bool,
        attrs: u64,
    },
}

/// One thing the child does.
#[derive(Debug)]
pub enum Step {
    /// Writes "0" to a cgroup.procs file the parent opened: joins that cgroup.
    JoinCgroup(RawFd),
    /// A new pty in the container's own devpts (its `/dev/ptmx`, after the pivot): the
    /// slave becomes stdin, stdout and stderr, and the master goes over this connected
    /// console socket (`SCM_RIGHTS`), as runc and crun do for `--console-socket`.
    Console(RawFd),
    /// Opens the cgroup file at this path below the host's cgroup root (an O_PATH fd) and
    /// writes "0" to it: joins that cgroup.
    JoinCgroupAt(RawFd, CString),
    /// Blocks until the parent writes a byte on this pipe: it has written the user
    /// namespace's id maps, or moved us into the container's cgroups. With `root`, then
    /// becomes the user namespace's root (0 must be mapped, as runc requires): files we
    /// make must belong to a mapped id (the kernel refuses the host's root: EOVERFLOW).
    WaitParent {
        fd: RawFd,
        root: bool,
    },
    /// Enters the namespace `fd` refers to.
    SetNs(RawFd, c_int),
    /// Opens the namespace file at this host path and enters it (`setns`).
    SetNsAt(CString, c_int),
    /// `unshare(flags)`.
    Unshare(c_int),
    /// Every signal's disposition to the default and the mask emptied. Where a plan has
    /// this step, it replaces the reset at the init's start: placed while the init would
    /// otherwise wait for `start`, its ~64 syscalls leave the setup's critical path.
    ResetSignals,
    /// `/` made recursively private, so nothing we mount propagates to the host.
    MakeRootPrivate,
    /// Mounts the rootfs at the host path `at` and opens it as the root for later steps.
    MountRoot {
        source: Source,
        at: CString,
    },
    /// Mounts at a target in the rootfs; `dir` says whether to create a dir or a file.
    Mount {
        target: Target,
        source: Source,
        dir: bool,
    },
    /// Creates device nodes and the standard links in the rootfs's `/dev`. In a user
    /// namespace, where mknod is refused, each node is an empty file with the host's node
    /// (`host`: `/dev/null`...) bind-mounted on it instead.
    Devices {
        dev: Target,
        nodes: Vec<(CString, u32, libc::dev_t)>,
        links: Vec<(CString, CString)>,
        host: Option<Vec<CString>>,
    },
    /// Creates one device node (from the spec's `linux.devices`) and its parent dirs.
    DeviceNode {
        target: Target,
        mode: u32,
        dev: libc::dev_t,
        uid: u32,
        gid: u32,
    },
    /// Hides a path: /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask(Target),
    /// Makes a path read-only with a bind mount of itself.
    ReadOnly(Target),
    SetHostname(CString),
    /// Writes `data` to the file at `path` (a host path, before the pivot).
    WriteFile {
        path: CString,
        data: CString,
    },
    /// `pivot_root` into the rootfs; the old root stays stacked on it until
    /// [`Step::DetachOldRoot`].
    PivotRoot,
    /// Tells the parent we are set up (`create` returns): the old root's detach, which
    /// waits for an RCU grace period, then overlaps the caller's next steps.
    Ready,
    /// Detaches the old root (before anything of the container's runs: the exec follows
    /// `start`, which follows this).
    DetachOldRoot,
    /// Remounts `/` read-only (after the pivot).
    RootReadOnly,
    /// Blocks until `start` opens the exec fifo.
    WaitStart {
        fifo: CString,
    },
    SetRlimit {
        resource: c_int,
        soft: u64,
        hard: u64,
    },
    /// Drops from the bounding set every cap not in the mask (up to `last`).
    BoundingSet {
        keep: u64,
        last: u32,
    },
    SetUser {
        uid: u32,
        gid: u32,
        groups: Vec<libc::gid_t>,
    },
    Capabilities {
        effective: u64,
        permitted: u64,
        inheritable: u64,
        ambient: u64,
        last: u32,
    },
    NoNewPrivs,
    /// Installs the seccomp filter.
    Seccomp(crate::seccomp::Program),
    /// Closes every fd but stdio and those listed (sorted). First thing in the child, so
    /// that fds other threads of the parent had open (another container's status pipe...)
    /// are not held while we wait for start; and again before the chdir, keeping only the
    /// status pipe (CVE-2024-21626: no host fd may remain to chdir through).
    CloseFds(Vec<u32>),
    /// Makes the init non-dumpable until exec: no ptrace of it, /proc/PID owned by root.
    NotDumpable,
    /// `chdir`, then checks with `getcwd` that the cwd is inside the root.
    Chdir(CString),
    /// A new session whose controlling terminal is stdin (a pty slave).
    Terminal,
    /// `dup2(from, to)`: the process's stdio (`from` is a high fd the parent made).
    Dup2 {
        from: RawFd,
        to: RawFd,
    },
    /// For `exec`: forks a sibling (CLONE_PARENT, so the caller is its parent and reaps
    /// it) that goes on with the next steps, born in the pid namespace joined before; this
    /// process reports the sibling's pid as a [`PID_RECORD`] and exits.
    ForkSibling,
    /// `init: true`: forks; the child goes on to exec the process, this one stays as PID
    /// 1, forwarding signals to it and reaping every zombie, and exits as it does.
    Reaper,
    /// `execve` of each candidate path in turn (the PATH lookup, done in the parent).
    Exec {
        candidates: Vec<CString>,
        argv: Vec<CString>,
        env: Vec<CString>,
    },
}

/// What the child works with.
pub struct Child<'a> {
    pub steps: &'a [Step],
    pub status_fd: RawFd,
}

/// Runs every step, then execs; never returns.
pub fn run(child: &Child<'_>) -> ! {
    if !child.steps.iter().any(|s| matches!(s, Step::ResetSignals)) {
        reset_signals();
    }
    let mut root: RawFd = -1;
    for (i, step) in child.steps.iter().enumerate() {
        if let Err(e) = run_step(step, &mut root, child.status_fd) {
            report(child.status_fd, i as u32, e);
            // SAFETY: _exit is async-signal-safe and ends the child here.
            unsafe { libc::_exit(127) };
        }
    }
    // Unreachable with a plan that ends in Exec.
    report(
        child.status_fd,
        child.steps.len() as u32,
        Errno(libc::ENOEXEC),
    );
    // SAFETY: as above.
    unsafe { libc::_exit(127) }
}

fn report(fd: RawFd, step: u32, e: Errno) {
    let mut rec = [0u8; RECORD_LEN];
    rec[..4].copy_from_slice(&step.to_ne_bytes());
    rec[4..].copy_from_slice(&e.0.to_ne_bytes());
    let _ = sys::write_all(fd, &rec);
}

/// Signal dispositions and mask come from the parent's thread: a Rust binary ignores
/// SIGPIPE, and whatever started us may ignore or block others; an exec keeps both. Reset
/// all 64 with the raw syscalls: glibc's wrappers refuse (signal) or skip (sigprocmask)
/// the two it keeps for itself, 32 and 33, which an ignoring parent passes on too.
fn reset_signals() {
    /// The kernel's `struct sigaction` (x86_64, and arm64 with its SA_RESTORER): all zero
    /// is SIG_DFL, no flags, an empty mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction with a valid struct and a null old-action pointer;
            // the size is the kernel's sigset (8 bytes).
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &raw const dfl,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask with a valid 8-byte set and a null old-set pointer.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const empty,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

fn cvt(r: c_int) -> SysResult<c_int> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// [`Step::Console`]: raw syscalls, no allocation.
fn console(socket: RawFd) -> SysResult<()> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated path; the fd is closed below.
    let master = cvt(unsafe { libc::open(c"/dev/ptmx".as_ptr(), flags) })?;
    let r = console_with(socket, master);
    close(master);
    close(socket);
    r
}

fn console_with(socket: RawFd, master: RawFd) -> SysResult<()> {
    // Only the pty multiplexer (char 5:2) will do: whatever else a rootfs put at
    // /dev/ptmx is refused before any ioctl on it.
    // SAFETY: zeroed is a valid stat, filled by fstat before it is read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat of an open fd into a valid buffer.
    cvt(unsafe { libc::fstat(master, &mut st) })?;
    let is_ptmx = st.st_mode & libc::S_IFMT == libc::S_IFCHR
        && libc::major(st.st_rdev) == 5
        && libc::minor(st.st_rdev) == 2;
    if !is_ptmx {
        return Err(Errno(libc::ENOTTY));
    }
    let unlock: c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int.
    cvt(unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock) })?;
    // SAFETY: TIOCGPTPEER opens the slave of this master (no path to look up).
    let slave =
        cvt(unsafe { libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY) })?;
    for fd in 0..3 {
        // SAFETY: dup2 of an open fd onto a stdio number.
        if let Err(e) = cvt(unsafe { libc::dup2(slave, fd) }) {
            close(slave);
            return Err(e);
        }
    }
    if slave > 2 {
        close(slave);
    }
    send_fd(socket, master)
}

/// Sends `fd` over the Unix socket `socket` with a short name as the message (runc sends
/// the master's name; readers take the fd).
fn send_fd(socket: RawFd, fd: RawFd) -> SysResult<()> {
    let name = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // Room for one cmsghdr and one int, 8-byte aligned.
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) } as usize;
    debug_assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: zeroed is a valid msghdr; the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg has a control buffer of `space` bytes, enough for one fd: the first
    // header is in it and its data holds one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
    }
    // SAFETY: msg and everything it points to are valid for the call.
    cvt(unsafe { libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) as c_int }).map(drop)
}

fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing an fd this child opened and owns.
        unsafe { libc::close(fd) };
    }
}

fn run_step(step: &Step, root: &mut RawFd, status_fd: RawFd) -> SysResult<()> {
    match step {
        Step::JoinCgroup(fd) => sys::write_all(*fd, b"0").map(|()| close(*fd)),
        Step::JoinCgroupAt(root, path) => {
            let flags = libc::O_WRONLY | libc::O_CLOEXEC;
            // SAFETY: path is NUL-terminated; root is an open directory fd.
            let fd = cvt(unsafe { libc::openat(*root, path.as_ptr(), flags) })?;
            let r = sys::write_all(fd, b"0");
            close(fd);
            r
        }
        // SAFETY: setns/unshare take plain integers.
        Step::SetNs(fd, ns) => cvt(unsafe { libc::setns(*fd, *ns) }).map(|_| close(*fd)),
        Step::SetNsAt(path, ns) => {
            // SAFETY: path is NUL-terminated; the fd is closed below.
            let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
            // SAFETY: setns with the fd just opened.
            let r = cvt(unsafe { libc::setns(fd, *ns) }).map(drop);
            close(fd);
            r
        }
        // SAFETY: unshare takes a plain integer.
        Step::Unshare(flags) => cvt(unsafe { libc::unshare(*flags) }).map(drop),
        Step::MakeRootPrivate => {
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            let null = std::ptr::null();
            // SAFETY: "/" is NUL-terminated; null source, type and data are allowed here.
            cvt(unsafe { libc::mount(null, c"/".as_ptr(), null, flags, null.cast()) }).map(drop)
        }
        Step::MountRoot { source, at } => {
            let m = make_mount(source)?;
            let r = sys::move_mount_path(m, at);
            close(m);
            r?;
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            // SAFETY: at is NUL-terminated.
            *root = cvt(unsafe { libc::open(at.as_ptr(), flags) })?;
            Ok(())
        }
        Step::Mount {
            target,
            source,
            dir,
        } => {
            let t = if *dir {
                ensure_dir(*root, target)?
            } else {
                ensure_file(*root, target)?
            };
            let r = make_mount(source).and_then(|m| {
                let r = sys::move_mount_fd(m, t);
                close(m);
                r
            });
            close(t);
            r
        }
        Step::Devices {
            dev,
            nodes,
            links,
            host,
        } => devices(*root, dev, nodes, links, host.as_deref()),
        Step::WaitParent { fd, root } => {
            let mut b = [0u8; 1];
            // SAFETY: b is valid for one byte; fd is the pipe the plan gave us.
            let n = unsafe { libc::read(*fd, b.as_mut_ptr().cast(), 1) };
            match n {
                1 if *root => set_user(0, 0, &[]),
                1 => Ok(()),
                0 => Err(Errno(libc::EPIPE)),
                _ => Err(Errno::last()),
            }
        }
        Step::DeviceNode {
            target,
            mode,
            dev,
            uid,
            gid,
        } => device_node(*root, target, *mode, *dev, (*uid, *gid)),
        Step::Mask(target) => mask(*root, target),
        Step::ReadOnly(target) => read_only(*root, target),
        Step::SetHostname(name) => {
            let b = name.as_bytes();
            // SAFETY: b is valid for b.len() bytes.
            cvt(unsafe { libc::sethostname(b.as_ptr().cast(), b.len()) }).map(drop)
        }
        Step::WriteFile { path, data } => {
            // SAFETY: path is NUL-terminated.
            let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
            let r = sys::write_all(fd, data.as_bytes());
            close(fd);
            r
        }
        Step::PivotRoot => pivot(*root),
        Step::Ready => {
            let mut rec = [0u8; RECORD_LEN];
            rec[..4].copy_from_slice(&READY.to_ne_bytes());
            sys::write_all(status_fd, &rec)
        }
        Step::DetachOldRoot => detach_old_root(),
        Step::RootReadOnly => {
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            // SAFETY: "/" is NUL-terminated.
            let fd = cvt(unsafe { libc::open(c"/".as_ptr(), flags) })?;
            let r = sys::mount_setattr(fd, false, sys::MOUNT_ATTR_RDONLY, 0);
            close(fd);
            r
        }
        Step::WaitStart { fifo } => wait_start(fifo),
        Step::SetRlimit {
            resource,
            soft,
            hard,
        } => {
            let lim = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            // SAFETY: lim is a valid rlimit.
            cvt(unsafe { libc::setrlimit(*resource as _, &lim) }).map(drop)
        }
        Step::BoundingSet { keep, last } => {
            for cap in 0..=*last {
                if keep & (1u64 << cap) == 0 {
                    // SAFETY: prctl with integer arguments.
                    let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) };
                    // EINVAL: a cap this kernel doesn't know.
                    if r < 0 && Errno::last().0 != libc::EINVAL {
                        return Err(Errno::last());
                    }
                }
            }
            Ok(())
        }
        Step::SetUser { uid, gid, groups } => set_user(*uid, *gid, groups),
        Step::Capabilities {
            effective,
            permitted,
            inheritable,
            ambient,
            last,
        } => {
            sys::capset(*effective, *permitted, *inheritable)?;
            // The ambient set comes from whoever ran us: start from none.
            let (op, clear) = (libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL);
            // SAFETY: prctl with integer arguments.
            cvt(unsafe { libc::prctl(op, clear, 0, 0, 0) })?;
            for cap in 0..=*last {
                if ambient & (1u64 << cap) != 0 {
                    let (op, raise) = (libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE);
                    // SAFETY: prctl with integer arguments.
                    cvt(unsafe { libc::prctl(op, raise, cap as libc::c_ulong, 0, 0) })?;
                }
            }
            Ok(())
        }
        Step::NoNewPrivs => {
            // SAFETY: prctl with integer arguments.
            cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
        }
        Step::Seccomp(prog) => crate::seccomp::install(prog),
        Step::CloseFds(keep) => close_except(keep),
        Step::NotDumpable => {
            // SAFETY: prctl with integer arguments.
            cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
        }
        Step::Chdir(dir) => chdir_checked(dir),
        // SAFETY: dup2 on fds the plan owns.
        Step::Dup2 { from, to } => cvt(unsafe { libc::dup2(*from, *to) }).map(drop),
        Step::ForkSibling => fork_sibling(status_fd),
        Step::Reaper => reaper(status_fd),
        Step::ResetSignals => {
            reset_signals();
            Ok(())
        }
        Step::Console(socket) => console(*socket),
        Step::Terminal => {
            // SAFETY: setsid and ioctl with integer arguments.
            cvt(unsafe { libc::setsid() })?;
            // SAFETY: as above.
            cvt(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }).map(drop)
        }
        Step::Exec {
            candidates,
            argv,
            env,
        } => exec(candidates, argv, env),
    }
}

fn fork_sibling(status_fd: RawFd) -> SysResult<()> {
    // SAFETY: as the clone of the init: only raw syscalls follow in the new process.
    let (pid, pidfd) = unsafe { sys::clone3(libc::CLONE_PARENT as u64) }?;
    if pid > 0 {
        close(pidfd);
        report(status_fd, PID_RECORD, Errno(pid));
        // SAFETY: _exit ends this middle process; the sibling goes on.
        unsafe { libc::_exit(0) };
    }
    Ok(())
}

/// The in-process init (no binary copied into the container): a fork of the init that
/// never execs. It stays non-dumpable (NotDumpable was an early step and there is no exec
/// to reset it), so nothing in the container can read its memory or open its
/// `/proc/1/exe`, the host binary (which, being executed, can't be opened for writing
/// anyway).
fn reaper(status_fd: RawFd) -> SysResult<()> {
    // SAFETY: sigset_t is plain data, initialised by sigfillset/sigemptyset before use.
    let (mut all, mut none): (libc::sigset_t, libc::sigset_t) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: valid sigset pointers. Blocked before the fork: no signal is lost between
    // the fork and the wait loop.
    unsafe {
        libc::sigfillset(&mut all);
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    }
    // Not clone3: a seccomp filter may be on already, and Docker's refuses clone3.
    let pid = sys::fork_raw()?;
    if pid == 0 {
        // SAFETY: a valid sigset pointer.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) };
        return Ok(());
    }
    // The child's exec closes its copy: ours must go for the runtime to see it.
    close(status_fd);
    loop {
        // SAFETY: all is a valid sigset; a null siginfo is allowed.
        let sig = unsafe { libc::sigwaitinfo(&all, std::ptr::null_mut()) };
        if sig == libc::SIGCHLD {
            reap_all(pid);
        } else if sig > 0 {
            // SAFETY: kill with integer arguments, to our own child.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Reaps every exited child; exits as the process did once it is among them.
fn reap_all(main: libc::pid_t) {
    loop {
        let mut st: c_int = 0;
        // SAFETY: st is a valid int.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r <= 0 {
            return;
        }
        if r == main {
            let code = if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else {
                128 + libc::WTERMSIG(st)
            };
            // SAFETY: _exit ends the reaper, and with it the container.
            unsafe { libc::_exit(code) };
        }
    }
}

/// Creates a detached mount for `source`.
fn make_mount(source: &Source) -> SysResult<RawFd> {
    match source {
        Source::Fs {
            fstype,
            options,
            attrs,
        } => {
            let fs = sys::fsopen(fstype)?;
            let r = (|| {
                for (k, v) in options {
                    sys::fsconfig(fs, k, v.as_deref())?;
                }
                sys::fsconfig_create(fs)?;
                sys::fsmount(fs, *attrs)
            })();
            close(fs);
            r
        }
        Source::Bind {
            path,
            recursive,
            attrs,
        } => {
            let t = sys::open_tree(libc::AT_FDCWD, path, *recursive)?;
            if *attrs != 0 {
                let clr = if attrs & sys::MOUNT_ATTR__ATIME != 0 {
                    sys::MOUNT_ATTR__ATIME
                } else {
                    0
                };
                if let Err(e) = sys::mount_setattr(t, *recursive, *attrs, clr) {
                    close(t);
                    return Err(e);
                }
            }
            Ok(t)
        }
    }
}

const DIR_FLAGS: c_int = libc::O_PATH | libc::O_DIRECTORY;

/// Opens the directory `target` inside `root`, creating missing components; symlinks are
/// followed as if `root` were `/`, so none leads out of it.
fn ensure_dir(root: RawFd, target: &Target) -> SysResult<RawFd> {
    if target.prefixes.is_empty() {
        // The target is the root itself.
        // SAFETY: dup of an fd we own.
        return cvt(unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 3) });
    }
    ensure_dir_n(root, target, target.prefixes.len())
}

/// Opens the file `target` inside `root`, creating it and its parent directories. A
/// dangling symlink is created where it points, inside the root.
fn ensure_file(root: RawFd, target: &Target) -> SysResult<RawFd> {
    let (Some(full), Some(parents)) =
        (target.prefixes.last(), target.prefixes.len().checked_sub(1))
    else {
        return Err(Errno(libc::EINVAL));
    };
    if parents > 0 {
        close(ensure_dir_n(root, target, parents)?);
    }
    let flags = libc::O_RDONLY | libc::O_CREAT | libc::O_NOCTTY | libc::O_NONBLOCK;
    sys::openat2_in_root(root, full, flags, 0o644)
}

/// `ensure_dir` over the first `n` components of `target`.
fn ensure_dir_n(root: RawFd, target: &Target, n: usize) -> SysResult<RawFd> {
    let mut parent = -1;
    for (prefix, name) in target.prefixes.iter().zip(&target.names).take(n) {
        let fd = match sys::openat2_in_root(root, prefix, DIR_FLAGS, 0) {
            Ok(fd) => Ok(fd),
            Err(Errno(libc::ENOENT)) => {
                let at = if parent >= 0 { parent } else { root };
                // SAFETY: name is NUL-terminated.
                let r = unsafe { libc::mkdirat(at, name.as_ptr(), 0o755) };
                if r < 0 && Errno::last().0 != libc::EEXIST {
                    Err(Errno::last())
                } else {
                    sys::openat2_in_root(root, prefix, DIR_FLAGS, 0)
                }
            }
            Err(e) => Err(e),
        };
        close(parent);
        parent = fd?;
    }
    Ok(parent)
}

/// Opens an existing path inside `root`; `None` when it does not exist.
fn open_existing(root: RawFd, target: &Target) -> SysResult<Option<RawFd>> {
    let Some(full) = target.prefixes.last() else {
        return Err(Errno(libc::EINVAL));
    };
    match sys::openat2_in_root(root, full, libc::O_PATH, 0) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno(libc::ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_dir(fd: RawFd) -> SysResult<bool> {
    // SAFETY: st is written by fstat before it is read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid stat buffer.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

fn mask(root: RawFd, target: &Target) -> SysResult<()> {
    let Some(t) = open_existing(root, target)? else {
        return Ok(());
    };
    let r = (|| {
        let m = if is_dir(t)? {
            let fs = sys::fsopen(c"tmpfs")?;
            let r =
                sys::fsconfig_create(fs).and_then(|()| sys::fsmount(fs, sys::MOUNT_ATTR_RDONLY));
            close(fs);
            r?
        } else {
            sys::open_tree(libc::AT_FDCWD, c"/dev/null", false)?
        };
        let r = sys::move_mount_fd(m, t);
        close(m);
        r
    })();
    close(t);
    r
}

fn read_only(root: RawFd, target: &Target) -> SysResult<()> {
    let Some(t) = open_existing(root, target)? else {
        return Ok(());
    };
    let r = (|| {
        let m = sys::open_tree(t, c"", true)?;
        let r = sys::mount_setattr(m, true, sys::MOUNT_ATTR_RDONLY, 0)
            .and_then(|()| sys::move_mount_fd(m, t));
        close(m);
        r
    })();
    close(t);
    r
}

/// An empty file `name` in `dirfd` with the host's node `host` bind-mounted on it.
fn bind_node(dirfd: RawFd, name: &CStr, host: &CStr) -> SysResult<()> {
    // O_EXCL: only ever a new file in the fresh /dev tmpfs, never an image's node.
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: name is NUL-terminated.
    let t = cvt(unsafe { libc::openat(dirfd, name.as_ptr(), flags, 0o644) })?;
    let r = sys::open_tree(libc::AT_FDCWD, host, false).and_then(|m| {
        let r = sys::move_mount_fd(m, t);
        close(m);
        r
    });
    close(t);
    r
}

fn devices(
    root: RawFd,
    dev: &Target,
    nodes: &[(CString, u32, libc::dev_t)],
    links: &[(CString, CString)],
    host: Option<&[CString]>,
) -> SysResult<()> {
    let d = ensure_dir(root, dev)?;
    let dirfd = reopen_dir(d);
    close(d);
    let dirfd = dirfd?;
    let r = (|| {
        if let Some(host) = host {
            for ((name, _, _), h) in nodes.iter().zip(host) {
                bind_node(dirfd, name, h)?;
            }
        }
        for (name, mode, devno) in nodes.iter().filter(|_| host.is_none()) {
            // SAFETY: name is NUL-terminated.
            let r = unsafe { libc::mknodat(dirfd, name.as_ptr(), *mode, *devno) };
            if r < 0 && Errno::last().0 != libc::EEXIST {
                return Err(Errno::last());
            }
            // mknod honours the umask; the nodes must be 0666.
            // SAFETY: name is NUL-terminated.
            let r = unsafe { libc::fchmodat(dirfd, name.as_ptr(), *mode & 0o7777, 0) };
            cvt(r)?;
        }
        for (name, to) in links {
            // SAFETY: both are NUL-terminated.
            let r = unsafe { libc::symlinkat(to.as_ptr(), dirfd, name.as_ptr()) };
            if r < 0 && Errno::last().0 != libc::EEXIST {
                return Err(Errno::last());
            }
        }
        Ok(())
    })();
    close(dirfd);
    r
}

/// Reopens an O_PATH directory fd as a real one (mknodat and friends refuse O_PATH).
fn reopen_dir(fd: RawFd) -> SysResult<RawFd> {
    // SAFETY: "." is NUL-terminated; fd is an open directory.
    cvt(unsafe { libc::openat(fd, c".".as_ptr(), libc::O_DIRECTORY | libc::O_CLOEXEC) })
}

fn device_node(
    root: RawFd,
    t: &Target,
    mode: u32,
    dev: libc::dev_t,
    owner: (u32, u32),
) -> SysResult<()> {
    let (Some(name), Some(parents)) = (t.names.last(), t.names.len().checked_sub(1)) else {
        return Err(Errno(libc::EINVAL));
    };
    let p = if parents == 0 {
        // SAFETY: dup of an fd we own.
        cvt(unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 3) })?
    } else {
        ensure_dir_n(root, t, parents)?
    };
    let d = reopen_dir(p);
    close(p);
    let d = d?;
    let r = (|| {
        // SAFETY: name is NUL-terminated; d is a directory fd.
        let r = unsafe { libc::mknodat(d, name.as_ptr(), mode, dev) };
        if r < 0 && Errno::last().0 != libc::EEXIST {
            return Err(Errno::last());
        }
        // SAFETY: as above; AT_SYMLINK_NOFOLLOW: never chown through a link.
        unsafe {
            cvt(libc::fchmodat(d, name.as_ptr(), mode & 0o7777, 0))?;
            cvt(libc::fchownat(
                d,
                name.as_ptr(),
                owner.0,
                owner.1,
                libc::AT_SYMLINK_NOFOLLOW,
            ))?;
        }
        Ok(())
    })();
    close(d);
    r
}

fn pivot(root: RawFd) -> SysResult<()> {
    // SAFETY: root is an open directory fd.
    cvt(unsafe { libc::fchdir(root) })?;
    sys::pivot_root_dot()?;
    close(root);
    Ok(())
}

/// The old root is stacked on the new one at "." since the pivot: detached here.
fn detach_old_root() -> SysResult<()> {
    // SAFETY: "." is NUL-terminated.
    cvt(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })?;
    // SAFETY: "/" is NUL-terminated.
    cvt(unsafe { libc::chdir(c"/".as_ptr()) }).map(drop)
}

fn wait_start(fifo: &CStr) -> SysResult<()> {
    // Blocks until `start` opens the fifo for reading.
    // SAFETY: fifo is NUL-terminated.
    let fd = cvt(unsafe { libc::open(fifo.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    let r = sys::write_all(fd, b"0");
    close(fd);
    r
}

fn set_user(uid: u32, gid: u32, groups: &[libc::gid_t]) -> SysResult<()> {
    // Raw syscalls, not glibc's wrappers: those broadcast the change to every thread the
    // parent had (setxid) and would wait forever for threads this child doesn't have.
    // Keep the permitted set across the uid change; the Capabilities step sets it after.
    // SAFETY: prctl and the set*id syscalls with valid arguments; groups is valid for its
    // length.
    unsafe {
        cvt(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0))?;
        cvt_long(libc::syscall(
            libc::SYS_setgroups,
            groups.len(),
            groups.as_ptr(),
        ))?;
        cvt_long(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        cvt_long(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
        cvt(libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0))?;
    }
    Ok(())
}

fn cvt_long(r: libc::c_long) -> SysResult<()> {
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Closes every fd from 3 up, except those in `keep` (sorted ascending).
fn close_except(keep: &[u32]) -> SysResult<()> {
    let mut from = 3u32;
    for &k in keep {
        if k < from {
            continue;
        }
        if k > from {
            sys::close_range(from, k - 1)?;
        }
        from = k.saturating_add(1);
    }
    sys::close_range(from, u32::MAX)
}

fn chdir_checked(dir: &CStr) -> SysResult<()> {
    // SAFETY: dir is NUL-terminated.
    cvt(unsafe { libc::chdir(dir.as_ptr()) })?;
    let mut buf = [0u8; 4096];
    // The raw syscall, not glibc's getcwd: the kernel returns "(unreachable)/..." for a cwd
    // outside the root, which glibc would turn into ENOENT anyway.
    // SAFETY: buf is valid for its length.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        return Err(Errno::last());
    }
    if buf[0] != b'/' {
        return Err(Errno(libc::ENOENT));
    }
    Ok(())
}

fn exec(candidates: &[CString], argv: &[CString], env: &[CString]) -> SysResult<()> {
    const MAX: usize = 4096;
    if argv.len() >= MAX || env.len() >= MAX {
        return Err(Errno(libc::E2BIG));
    }
    let mut a: [*const libc::c_char; MAX] = [std::ptr::null(); MAX];
    let mut e: [*const libc::c_char; MAX] = [std::ptr::null(); MAX];
    for (slot, s) in a.iter_mut().zip(argv) {
        *slot = s.as_ptr();
    }
    for (slot, s) in e.iter_mut().zip(env) {
        *slot = s.as_ptr();
    }
    let mut err = Errno(libc::ENOENT);
    for path in candidates {
        // SAFETY: path, a and e are NUL-terminated strings and null-terminated arrays.
        unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
        let e = Errno::last();
        // As execvp: keep looking past a missing or unreadable candidate.
        if e.0 == libc::EACCES {
            err = e;
        } else if e.0 != libc::ENOENT && e.0 != libc::ENOTDIR {
            return Err(e);
        }
    }
    Err(err)
}

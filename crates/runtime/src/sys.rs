//! Thin wrappers over the raw syscalls the runtime needs, usable between clone and exec:
//! none of them allocates, locks or touches anything but its arguments and `errno`.

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_int, c_long, c_uint, c_void};

/// An `errno` value, as the kernel returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub fn last() -> Errno {
        // SAFETY: __errno_location returns a valid pointer to this thread's errno.
        Errno(unsafe { *libc::__errno_location() })
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

pub type SysResult<T> = Result<T, Errno>;

fn check(r: c_long) -> SysResult<c_long> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

pub const FSOPEN_CLOEXEC: c_uint = 1;
pub const FSCONFIG_SET_FLAG: c_uint = 0;
pub const FSCONFIG_SET_STRING: c_uint = 1;
pub const FSCONFIG_CMD_CREATE: c_uint = 6;
pub const FSMOUNT_CLOEXEC: c_uint = 1;
pub const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 0x4;
pub const MOVE_MOUNT_T_EMPTY_PATH: c_uint = 0x40;
pub const OPEN_TREE_CLONE: c_uint = 1;
pub const AT_RECURSIVE: c_uint = 0x8000;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

const CLONE_PIDFD: u64 = 0x1000;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks into new namespaces (`flags` are `CLONE_NEW*`); returns `(0, -1)` in the child and
/// `(pid, pidfd)` in the parent.
///
/// # Safety
/// As `fork`: in a multi-threaded process the child may only do async-signal-safe work
/// (no allocation, no locks) until it execs or exits, and must never return into code that
/// expects the parent's threads.
pub unsafe fn clone3(flags: u64) -> SysResult<(libc::pid_t, RawFd)> {
    let mut pidfd: c_int = -1;
    let args = CloneArgs {
        flags: flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut c_int as u64,
        // With CLONE_PARENT the kernel wants 0 and gives the child our own exit signal.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..CloneArgs::default()
    };
    // SAFETY: args is a valid clone_args of the size passed; a null stack gives fork
    // semantics (the child runs on a copy of this stack); the caller upholds the rest.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let pid = check(r)? as libc::pid_t;
    Ok((pid, if pid == 0 { -1 } else { pidfd }))
}

/// `openat2(dirfd, path, flags, mode)` with the path resolved as if `dirfd` were `/`:
/// `..` and absolute symlinks never leave it, magic links are refused.
pub fn openat2_in_root(dirfd: RawFd, path: &CStr, flags: c_int, mode: u32) -> SysResult<RawFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: path is NUL-terminated; how is a valid open_how of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    check(r).map(|fd| fd as RawFd)
}

pub fn fsopen(fstype: &CStr) -> SysResult<RawFd> {
    // SAFETY: fstype is NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    check(r).map(|fd| fd as RawFd)
}

/// `fsconfig`: a `key=value` string, or a flag when `value` is `None`.
pub fn fsconfig(fd: RawFd, key: &CStr, value: Option<&CStr>) -> SysResult<()> {
    let (cmd, v) = match value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: key and value are NUL-terminated or null as the command requires.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fd, cmd, key.as_ptr(), v, 0) };
    check(r).map(drop)
}

pub fn fsconfig_create(fd: RawFd) -> SysResult<()> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: CMD_CREATE takes no key or value.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fd, FSCONFIG_CMD_CREATE, null, null, 0) };
    check(r).map(drop)
}

pub fn fsmount(fd: RawFd, attrs: u64) -> SysResult<RawFd> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs as c_uint) };
    check(r).map(|fd| fd as RawFd)
}

/// A detached copy of the mount tree at `path` (relative to `dirfd`; empty for `dirfd`).
pub fn open_tree(dirfd: RawFd, path: &CStr, recursive: bool) -> SysResult<RawFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as c_uint;
    }
    // SAFETY: path is NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    check(r).map(|fd| fd as RawFd)
}

/// Sets and clears mount attributes on the mount (tree) `fd` refers to.
pub fn mount_setattr(fd: RawFd, recursive: bool, set: u64, clr: u64) -> SysResult<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: the empty path is NUL-terminated; attr is a valid mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(r).map(drop)
}

/// Attaches the detached mount `from` onto the file or directory `to` refers to.
pub fn move_mount_fd(from: RawFd, to: RawFd) -> SysResult<()> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty NUL-terminated strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            flags,
        )
    };
    check(r).map(drop)
}

/// Attaches the detached mount `from` at `path`.
pub fn move_mount_path(from: RawFd, path: &CStr) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            libc::AT_FDCWD,
            path.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(r).map(drop)
}

pub fn pivot_root_dot() -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    check(r).map(drop)
}

/// Closes every fd from `first` to `last` included.
pub fn close_range(first: c_uint, last: c_uint) -> SysResult<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    check(r).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets this thread's effective, permitted and inheritable capability sets (bit masks).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    let header = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        CapData {
            effective: lo(effective),
            permitted: lo(permitted),
            inheritable: lo(inheritable),
        },
        CapData {
            effective: hi(effective),
            permitted: hi(permitted),
            inheritable: hi(inheritable),
        },
    ];
    // SAFETY: header and the two data structs are what version 3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    check(r).map(drop)
}

pub fn pidfd_open(pid: libc::pid_t) -> SysResult<RawFd> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check(r).map(|fd| fd as RawFd)
}

pub fn pidfd_send_signal(pidfd: RawFd, sig: c_int) -> SysResult<()> {
    let null = std::ptr::null::<c_void>();
    // SAFETY: a null siginfo means "as kill(2)".
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, null, 0) };
    check(r).map(drop)
}

/// Waits up to `timeout_ms` (-1: forever) for `fd` to become readable; true if it did.
pub fn poll_in(fd: RawFd, timeout_ms: c_int) -> SysResult<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: p is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = Errno::last();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

/// Writes all of `buf`, retrying on EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        buf = buf.get(r as usize..).unwrap_or(&[]);
    }
    Ok(())
}

/// Reads until `buf` is full or EOF; returns how many bytes were read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    let mut n = 0;
    while n < buf.len() {
        let rest = buf.get_mut(n..).unwrap_or(&mut []);
        // SAFETY: rest is valid for rest.len() bytes.
        let r = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if r < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            break;
        }
        n += r as usize;
    }
    Ok(n)
}

/// A pipe, both ends close-on-exec: `(read, write)`.
pub fn pipe_cloexec() -> SysResult<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int buffer.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// A plain fork by the raw `clone` syscall: no atfork handlers, no locks, and allowed by
/// seccomp profiles that refuse clone3 (Docker's answers it ENOSYS). `0` in the child.
pub fn fork_raw() -> SysResult<libc::pid_t> {
    let null = std::ptr::null::<c_void>();
    // SAFETY: clone with only an exit signal and no stack is fork(2); the caller keeps to
    // raw syscalls in the child as with clone3.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as c_long,
            null,
            null,
            null,
            0,
        )
    };
    check(r).map(|pid| pid as libc::pid_t)
}

/// Reads a small file (a /proc or cgroupfs one) whole: open, reads into one 4 KiB buffer,
/// close. `fs::read_to_string` also stats it and, for the size 0 these files report,
/// probes with reads of 32, 64, 128... bytes: a dozen syscalls for one line.
pub fn read_small(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = f.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod read_small_tests {
    use super::read_small;

    /// Whole files, one line or longer than its 4 KiB buffer, as `fs::read_to_string`
    /// gives them; a missing one is an error.
    #[test]
    fn reads_whole_files_of_any_size() -> std::io::Result<()> {
        let status = read_small("/proc/self/status")?;
        assert!(status.contains("\nCapBnd:"), "{status}");
        assert!(status.ends_with('\n'));
        let dir = tempfile::tempdir()?;
        let big: String = (0..2000).map(|i| format!("{i}\n")).collect();
        assert!(big.len() > 8192);
        let p = dir.path().join("big");
        std::fs::write(&p, &big)?;
        assert_eq!(read_small(&p)?, big);
        assert!(read_small(dir.path().join("missing")).is_err());
        Ok(())
    }
}

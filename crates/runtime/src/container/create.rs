//! `create`: the init cloned into its namespaces, its rootfs set up, waiting for `start`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use super::{Container, ParentSide};
use crate::cgroups::{self, Cgroup, Hierarchy, Limits};
use crate::error::{Error, Result};
use crate::init::{self, READY, RECORD_LEN};
use crate::plan::{self, Input, Rootfs};
use crate::state::{self, Record};
use crate::{caps, sys};

/// The fifo the init blocks on until `start`; its presence means "created, not started".
pub(super) const FIFO: &str = "exec.fifo";

/// What `create` takes besides the spec and the rootfs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateOptions {
    /// Join this network namespace (e.g. `/run/netns/x`) instead of making a new one.
    pub netns: Option<PathBuf>,
    /// Run the container under a shim (its init's parent, holding its stdio and log, and
    /// recording its exit), so that it outlives the creating process. Without one, the
    /// init inherits this process's stdio and this process is its parent.
    pub shim: Option<ShimOptions>,
    /// Run a small reaper as the container's PID 1 (as `docker run --init`): it forwards
    /// signals to the process and reaps the zombies orphans leave.
    pub init: bool,
    /// Let the process start as soon as the container is set up, as `run` does: no exec
    /// fifo is made and the init does not wait for one. [`Container::start`] then only
    /// waits for the exec and reports its failure. Not with a shim.
    #[serde(default)]
    pub start_at_once: bool,
    /// A Unix socket (runc's and crun's `--console-socket`) to send the master of the
    /// process's terminal to: the init makes a pty in the container's own `/dev/pts` and
    /// takes its slave as stdio and controlling terminal. Not with a shim.
    #[serde(default)]
    pub console_socket: Option<PathBuf>,
}

/// How the shim runs the container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShimOptions {
    /// The program re-executed as the shim, with [`crate::shim::ARG`] and the state dir
    /// as its arguments; its `main` must call [`crate::shim::main`] on that argument.
    pub exe: PathBuf,
    /// The container's log, in CRI format.
    pub log: PathBuf,
    /// Rotate the log when it would grow past this many bytes.
    pub log_max_size: Option<u64>,
    /// How many log files to keep, the current one included (0 and 1: only the current).
    pub log_max_files: u32,
    /// Give the process a terminal (the shim holds its master; output logged as stdout).
    pub terminal: bool,
    /// Keep the process's stdin open (a pipe the shim holds) rather than /dev/null.
    pub stdin: bool,
}

pub(super) fn open_fd(path: &Path, flags: libc::c_int) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("NUL in {}", path.display())))?;
    // SAFETY: c is NUL-terminated.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("open", path, std::io::Error::last_os_error()));
    }
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("NUL in {}", path.display())))?;
    // SAFETY: c is NUL-terminated.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } < 0 {
        return Err(Error::io("mkfifo", path, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int buffer.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::sys("pipe2", sys::Errno::last()));
    }
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Undoes a half-made container when `create` fails.
struct Undo<'a> {
    dir: &'a Path,
    cgroup: &'a dyn Cgroup,
    pidfd: Option<OwnedFd>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(fd) = &self.pidfd {
            let _ = sys::pidfd_send_signal(fd.as_raw_fd(), libc::SIGKILL);
            let _ = super::wait::reap(fd);
        }
        if let Err(err) = self.cgroup.kill_all().and_then(|()| self.cgroup.remove()) {
            tracing::warn!(?err, "cleaning up the cgroup of a failed create");
        }
        let _ = crate::spare::remove(self.dir);
    }
}

/// Where `create` works: the container and how.
pub(crate) struct Target<'a> {
    pub dir: PathBuf,
    pub id: &'a str,
    pub h: Hierarchy,
    pub cgroup_parent: &'a str,
    pub init: bool,
    /// Where compiled seccomp filters are kept; `None`: compiled each time.
    pub seccomp_cache: Option<&'a Path>,
    /// [`CreateOptions::start_at_once`].
    pub start_at_once: bool,
    /// A connected socket the init sends its terminal's master to (see
    /// [`CreateOptions::console_socket`]; the shim's own socketpair for a shim's terminal).
    pub console: Option<OwnedFd>,
}

/// Creates the container in its (already made) state dir, its init a child of this
/// process with this process's stdio.
pub(crate) fn create(
    t: Target<'_>,
    spec: &Spec,
    rootfs: &Rootfs,
    netns: Option<&Path>,
) -> Result<Container> {
    let Target {
        dir,
        id,
        h,
        cgroup_parent,
        init,
        seccomp_cache,
        start_at_once,
        console,
    } = t;
    let cgroup = cgroups::for_container(h, cgroup_parent, id)?;
    let mut undo = Undo {
        dir: &dir,
        cgroup: cgroup.as_ref(),
        pidfd: None,
        armed: true,
    };
    let limits = Limits::from_spec(spec.linux().as_ref().and_then(|l| l.resources().as_ref()));
    let userns = wants_userns(spec);
    // Where the init can move itself, the parent makes the cgroups while the init mounts.
    let self_join = cgroup.thread_join_files().filter(|_| !userns);
    if self_join.is_none() {
        cgroup.create(&limits)?;
    }
    if !matches!(rootfs, Rootfs::Dir(_)) {
        // The overlay's mount point; a dir rootfs is bound onto itself instead.
        let rootfs_dir = dir.join("rootfs");
        std::fs::create_dir(&rootfs_dir).map_err(|e| Error::io("mkdir", &rootfs_dir, e))?;
    }
    for p in rootfs.overlay_dirs(&dir) {
        // Kept from an earlier container when the caller owns them (`OverlayIn`).
        std::fs::create_dir_all(&p).map_err(|e| Error::io("mkdir", &p, e))?;
    }
    if let Rootfs::Dir(d) = rootfs
        && !d.is_dir()
    {
        let msg = format!("rootfs {} is not a directory", d.display());
        return Err(Error::Invalid(msg));
    }
    let fifo_path = dir.join(FIFO);
    if !start_at_once {
        mkfifo(&fifo_path)?;
    }
    // Relative to the cgroup root the init keeps open past its pivot.
    let join_cgroups = self_join
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(cgroups::ROOT).map_err(|_| {
                Error::Invalid(format!("{} is not under {}", p.display(), cgroups::ROOT))
            })?;
            plan::cstr(rel.as_os_str().as_encoded_bytes())
        })
        .collect::<Result<Vec<_>>>()?;
    let cgroup_root = (!join_cgroups.is_empty())
        .then(|| open_fd(Path::new(cgroups::ROOT), libc::O_PATH | libc::O_DIRECTORY))
        .transpose()?;
    let cgroup_procs = if join_cgroups.is_empty() {
        cgroup
            .procs_files()
            .iter()
            .map(|p| open_fd(p, libc::O_WRONLY))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let (status_r, status_w) = pipe()?;
    let netns = netns.map(|p| open_fd(p, libc::O_RDONLY)).transpose()?;
    let maps = userns
        .then(|| crate::userns::maps(spec.linux().as_ref()))
        .transpose()?;
    if maps.is_some() && !start_at_once {
        fifo_for_userns_root(&fifo_path, spec)?;
    }
    let (sync_r, sync_w) = pipe()?;
    // A fresh network namespace is made by us after the clone (see `netns`), not by it.
    let netns_slot = (netns.is_none() && !userns && crate::netns::wants_fresh(spec))
        .then(crate::netns::Slot::reserve)
        .transpose()?;
    let parent_netns = netns_slot.as_ref().map(|s| s.path()).transpose()?;
    let plan = plan::build(Input {
        spec,
        rootfs,
        dir: &dir,
        netns,
        fifo: (!start_at_once)
            .then(|| open_fd(&fifo_path, libc::O_PATH))
            .transpose()?,
        status_fd: status_w.as_raw_fd(),
        host_bounding: caps::own_status_mask("CapBnd")?,
        last_cap: caps::last_cap(),
        init,
        sync: sync_r,
        join_cgroups,
        cgroup_root,
        console,
        seccomp_cache,
        parent_netns,
    })?;

    // SAFETY: the child only runs init::run, which walks the prepared steps with raw
    // syscalls (no allocation, no locks) and ends in execve or _exit.
    let (pid, pidfd) =
        unsafe { sys::clone3(plan.clone_flags) }.map_err(|e| Error::sys("clone3", e))?;
    if pid == 0 {
        let child = init::Child {
            steps: &plan.steps,
            status_fd: status_w.as_raw_fd(),
        };
        init::run(&child);
    }
    // SAFETY: clone3 returned a new pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    undo.pidfd = Some(
        pidfd
            .try_clone()
            .map_err(|e| Error::io("dup", "pidfd", e))?,
    );
    drop(status_w);
    let what = plan.what;
    drop(plan.fds);
    // Made here, after the clone, while the init mounts: a thread started earlier would
    // overlap more on an idle machine, but under load its start took ms of CPU from this
    // one (measured: the clone came up to 7 ms later).
    let make = cgroup_procs
        .is_empty()
        .then_some((cgroup.as_ref(), &limits));
    let init = InitSide {
        pid,
        maps: maps.as_ref(),
        netns: netns_slot.as_ref(),
        sync: &sync_w,
    };
    let joined = set_up_init(&init, make, &cgroup_procs);
    drop(sync_w);
    if let Err(e) = joined {
        // The init may have failed first (then it is gone, and we could not move it): its
        // own error says more, unless it only saw us give up.
        return Err(match read_status(&status_r, &what) {
            Err(Error::Init { step, errno }) if errno.0 != libc::EPIPE => {
                Error::Init { step, errno }
            }
            _ => e,
        });
    }

    let start_time = state::proc_start(pid)
        .map(|(s, _)| s)
        .ok_or(Error::InitDied)?;
    let record = Record {
        id: id.to_string(),
        pid,
        start_time,
        boot_id: state::boot_id()?,
        cgroup_parent: cgroup_parent.to_string(),
        exit: None,
        shim: None,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    };
    record.save(&dir)?;
    match read_status(&status_r, &what)? {
        Some(READY) => {}
        _ => return Err(Error::InitDied),
    }
    undo.armed = false;
    drop(undo);
    Ok(Container {
        id: id.to_string(),
        dir,
        record,
        cgroup,
        seccomp_cache: seccomp_cache.map(Path::to_path_buf),
        parent: Some(ParentSide {
            pidfd,
            status: Some(status_r),
            what,
            reaped: false,
            at_once: start_at_once,
        }),
    })
}

/// The console socket, connected: the init sends the pty's master on it.
pub(crate) fn connect_console(path: &Path) -> Result<OwnedFd> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Error::io("connect to the console socket", path, e))?;
    Ok(OwnedFd::from(stream))
}

/// The init being set up, as its parent sees it.
struct InitSide<'a> {
    pid: i32,
    maps: Option<&'a crate::userns::Maps>,
    /// Where the fresh network namespace goes, when we make it.
    netns: Option<&'a crate::netns::Slot>,
    sync: &'a OwnedFd,
}

/// The parent's part of the init's setup, while the init does its own, each said done by
/// a byte on `sync` in this order: the user namespace's id maps; the fresh network
/// namespace; then either the container's cgroups made (`make`: on cgroup v1 the init
/// moves its own, only thread in through `tasks`, which takes no global lock), or its
/// move into them through `cgroup.procs` (in a user namespace, where the init is no
/// longer the host's root, and on v2; that waits for an RCU grace period, several ms,
/// overlapped with the init's mounts). It is in its cgroups before `create` returns.
fn set_up_init(
    init: &InitSide<'_>,
    make: Option<(&dyn Cgroup, &Limits)>,
    cgroup_procs: &[OwnedFd],
) -> Result<()> {
    let tell = |what: &str| {
        sys::write_all(init.sync.as_raw_fd(), b"1").map_err(|e| Error::sys(what.to_string(), e))
    };
    if let Some(maps) = init.maps {
        crate::userns::write(init.pid, maps)?;
        tell("telling the init its id maps are written")?;
    }
    if let Some(slot) = init.netns {
        slot.fill()?;
        tell("telling the init its network namespace is made")?;
    }
    if let Some((cgroup, limits)) = make {
        // The init moves itself once they exist (`Step::JoinCgroupAt`).
        cgroup.create(limits)?;
        return tell("telling the init its cgroups are made");
    }
    join_cgroups(cgroup_procs, init.pid)?;
    tell("telling the init it is in its cgroups")
}

/// Moves `pid` into the cgroups whose `cgroup.procs` files are open in `files`.
fn join_cgroups(files: &[OwnedFd], pid: i32) -> Result<()> {
    let pid = pid.to_string();
    for f in files {
        sys::write_all(f.as_raw_fd(), pid.as_bytes())
            .map_err(|e| Error::sys("moving the init into its cgroup (cgroup.procs)", e))?;
    }
    Ok(())
}

/// The init opens the exec fifo as the user namespace's root, which the host's root-owned
/// 0600 fifo would refuse: it goes to the host ids of that root.
fn fifo_for_userns_root(fifo: &Path, spec: &Spec) -> Result<()> {
    let Some((uid, gid)) = crate::userns::host_root(spec.linux().as_ref()) else {
        return Err(Error::Invalid(
            "a user namespace must map container id 0 (uid and gid)".into(),
        ));
    };
    std::os::unix::fs::chown(fifo, Some(uid), Some(gid)).map_err(|e| Error::io("chown", fifo, e))
}

fn wants_userns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        })
}

/// Reads one status record: `Ok(None)` on EOF (the init exec'd), `Ok(Some(READY))` when set
/// up, an error for a failed step.
pub(crate) fn read_status(fd: &OwnedFd, what: &[String]) -> Result<Option<u32>> {
    let mut rec = [0u8; RECORD_LEN];
    let n =
        sys::read_full(fd.as_raw_fd(), &mut rec).map_err(|e| Error::sys("read status pipe", e))?;
    if n == 0 {
        return Ok(None);
    }
    if n < RECORD_LEN {
        return Err(Error::InitDied);
    }
    let step = u32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
    let errno = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
    if step == READY {
        return Ok(Some(READY));
    }
    let step = what
        .get(step as usize)
        .cloned()
        .unwrap_or_else(|| format!("step {step}"));
    Err(Error::Init {
        step,
        errno: sys::Errno(errno),
    })
}

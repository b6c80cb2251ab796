//! The spec turned into the child's [`Step`]s: every string, path and fd made ready here,
//! in the parent, where allocating and failing with a good message are allowed.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, PosixRlimitType, Spec};

use crate::caps;
use crate::error::{Error, Result};
use crate::init::{Source, Step, Target};
use crate::sys;

/// The container's root filesystem.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Rootfs {
    /// A directory, bind-mounted as the root.
    Dir(PathBuf),
    /// An overlay of read-only snapshot directories, topmost first (as in `lowerdir=`), with
    /// an upper and a work dir the runtime makes in the container's state dir.
    Overlay { lowers: Vec<PathBuf> },
    /// The same, with the upper and work dirs in `dir` (`dir/upper`, `dir/work`, made if
    /// missing) instead of the state dir: the caller owns them, and the writable layer
    /// outlives the runtime container (a stopped container made again in place keeps its
    /// files, as Docker's restart does). `dir` must be on one filesystem.
    OverlayIn { lowers: Vec<PathBuf>, dir: PathBuf },
}

impl Rootfs {
    /// The overlay's lower dirs and where its upper and work dirs are (`None`: a bind).
    fn overlay(&self, state_dir: &Path) -> Option<(&[PathBuf], PathBuf, PathBuf)> {
        match self {
            Rootfs::Dir(_) => None,
            Rootfs::Overlay { lowers } => {
                Some((lowers, state_dir.join("upper"), state_dir.join("work")))
            }
            Rootfs::OverlayIn { lowers, dir } => {
                Some((lowers, dir.join("upper"), dir.join("work")))
            }
        }
    }

    /// The upper and work dirs the overlay needs (none for a bind).
    pub(crate) fn overlay_dirs(&self, state_dir: &Path) -> Vec<PathBuf> {
        self.overlay(state_dir)
            .map(|(_, u, w)| vec![u, w])
            .unwrap_or_default()
    }
}

/// The steps, a description of each for error messages, and the fds the parent opened for
/// the child (closed in the parent once the child has them).
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub what: Vec<String>,
    pub fds: Vec<OwnedFd>,
    /// The `CLONE_NEW*` flags for the clone itself.
    pub clone_flags: u64,
}

/// What the plan is made from besides the spec.
pub struct Input<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Rootfs,
    /// The container's state dir.
    pub dir: &'a Path,
    /// An existing network namespace to join instead of a new one.
    pub netns: Option<OwnedFd>,
    /// The exec fifo, opened O_PATH; `None`: the process starts once set up, without
    /// waiting for `start` ([`crate::CreateOptions::start_at_once`]).
    pub fifo: Option<OwnedFd>,
    /// The write end of the status pipe.
    pub status_fd: RawFd,
    /// The host's capability bounding set and last cap.
    pub host_bounding: u64,
    pub last_cap: u32,
    /// A reaper stays PID 1 and the process runs as its child.
    pub init: bool,
    /// The read end of the pipe on which the parent says, a byte each, that it has written
    /// the id maps (with a user namespace), then that it has moved the init into its
    /// cgroups (the parent does that while the init sets up: it costs an RCU grace period
    /// on cgroup v1, here overlapped with the mounts).
    pub sync: OwnedFd,
    /// Cgroup files the init writes "0" to, to move itself into the container's cgroups
    /// ([`crate::cgroups::Cgroup::thread_join_files`]) once the parent says on `sync`
    /// that it has made them, relative to `cgroup_root`; empty when the parent moves it.
    pub join_cgroups: Vec<CString>,
    /// A connected console socket: the init makes a pty in the container's devpts after
    /// its pivot, takes the slave as its stdio and controlling terminal, and sends the
    /// master over it ([`crate::CreateOptions::console_socket`]).
    pub console: Option<OwnedFd>,
    /// The host's cgroup root (`/sys/fs/cgroup`), opened O_PATH: the init reaches its
    /// cgroup files from it after its pivot has hidden the host's paths.
    pub cgroup_root: Option<OwnedFd>,
    /// Where compiled seccomp filters are kept ([`crate::seccomp::cache`]); `None`: compile.
    pub seccomp_cache: Option<&'a Path>,
    /// For a fresh network namespace: where the parent will have put the one it makes
    /// after the clone (`/proc/PID/fd/N`), saying so by a byte on `sync`. `None`: the init
    /// unshares its own (in a user namespace, which must own it).
    pub parent_netns: Option<CString>,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Plan {
    pub fn push(&mut self, what: impl Into<String>, step: Step) {
        self.what.push(what.into());
        self.steps.push(step);
    }
}

pub fn cstr(s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|e| Error::Invalid(format!("NUL byte in {:?}", e.into_vec())))
}

fn path_cstr(p: &Path) -> Result<CString> {
    cstr(p.as_os_str().as_encoded_bytes())
}

/// A path in the container, as its prefixes and components relative to the root. `..` is
/// refused: targets are resolved inside the root anyway, but a spec with `..` is a mistake.
pub fn target(path: &str) -> Result<Target> {
    let mut prefixes = Vec::new();
    let mut names = Vec::new();
    let mut acc = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => {
                acc.push(n);
                names.push(cstr(n.as_encoded_bytes())?);
                prefixes.push(path_cstr(&acc)?);
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!("path {path:?} has '..'")));
            }
        }
    }
    Ok(Target { prefixes, names })
}

/// Builds the plan.
pub fn build(input: Input<'_>) -> Result<Plan> {
    let spec = input.spec;
    let mut plan = Plan::default();
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut cgroup_ns = false;
    let mut joins_netns = input.netns.is_some();
    let mut fresh_netns = false;
    for ns in &namespaces {
        let flag = match ns.typ() {
            LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
            LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
            LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
            LinuxNamespaceType::Network if input.netns.is_none() && ns.path().is_none() => {
                // Not in the clone: the init unshares it itself (`fresh_netns` below).
                fresh_netns = true;
                0
            }
            LinuxNamespaceType::Network => {
                joins_netns = true;
                0
            }
            LinuxNamespaceType::Cgroup => {
                cgroup_ns = true;
                0
            }
            LinuxNamespaceType::User => libc::CLONE_NEWUSER,
            other => {
                return Err(Error::Invalid(format!(
                    "namespace {other:?} is not supported yet"
                )));
            }
        };
        if ns.path().is_some() && ns.typ() != LinuxNamespaceType::Network {
            return Err(Error::Invalid(format!(
                "joining a {:?} namespace by path is not supported yet",
                ns.typ()
            )));
        }
        plan.clone_flags |= flag as u64;
    }
    if plan.clone_flags & libc::CLONE_NEWNS as u64 == 0 {
        return Err(Error::Invalid("a mount namespace is required".into()));
    }

    let mut keep: Vec<u32> = input
        .netns
        .iter()
        .chain(input.fifo.iter())
        .chain(input.cgroup_root.iter())
        .chain(input.console.iter())
        .chain([&input.sync])
        .map(|fd| fd.as_raw_fd() as u32)
        .chain(std::iter::once(input.status_fd as u32))
        .collect();
    keep.sort_unstable();
    plan.push("closing the parent's other fds", Step::CloseFds(keep));
    let self_joins = !input.join_cgroups.is_empty();
    let userns = plan.clone_flags & libc::CLONE_NEWUSER as u64 != 0;
    let sync = input.sync.as_raw_fd();
    plan.fds.push(input.sync);
    if userns {
        plan.push(
            "waiting for the user namespace's id maps",
            Step::WaitParent {
                fd: sync,
                root: true,
            },
        );
    }
    plan.push("prctl(PR_SET_DUMPABLE, 0)", Step::NotDumpable);
    if let Some(fd) = input.netns {
        plan.push(
            "joining the network namespace",
            Step::SetNs(fd.as_raw_fd(), libc::CLONE_NEWNET),
        );
        plan.fds.push(fd);
    }
    let parent_netns = input.parent_netns.filter(|_| fresh_netns);
    if fresh_netns && parent_netns.is_none() {
        // After the user namespace's maps, so that the namespace belongs to it.
        plan.push(
            "making the network namespace (unshare CLONE_NEWNET)",
            Step::Unshare(libc::CLONE_NEWNET),
        );
    }
    plan.push(
        "making / private (mount MS_REC|MS_PRIVATE)",
        Step::MakeRootPrivate,
    );
    root_mount(&mut plan, input.rootfs, input.dir)?;
    let mut sys_mounts = Vec::new();
    let defer = parent_netns.is_some().then_some(&mut sys_mounts);
    let dev_tmpfs = mounts(
        &mut plan,
        spec.mounts().as_deref().unwrap_or_default(),
        defer,
    )?;
    if dev_tmpfs {
        devices(&mut plan, userns)?;
    }
    spec_devices(&mut plan, linux, userns)?;
    if let Some(path) = parent_netns {
        join_parent_netns(&mut plan, sync, path, sys_mounts);
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        plan.push(format!("masking {p}"), Step::Mask(target(p)?));
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        plan.push(format!("making {p} read-only"), Step::ReadOnly(target(p)?));
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if plan.clone_flags & libc::CLONE_NEWUTS as u64 == 0 {
            return Err(Error::Invalid("a hostname needs a UTS namespace".into()));
        }
        plan.push(format!("sethostname {h:?}"), Step::SetHostname(cstr(h)?));
    }
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        let step = Step::WriteFile {
            path: cstr("/proc/self/oom_score_adj")?,
            data: cstr(adj.to_string())?,
        };
        // Lowering it needs CAP_SYS_RESOURCE, which this host's root lacks.
        plan.push(
            format!("setting oom_score_adj {adj} (lowering it needs CAP_SYS_RESOURCE)"),
            step,
        );
    }
    if self_joins {
        // Waited for after the pivot and the old root's detach (below), which overlap
        // the parent's making of the cgroups.
    } else if cgroup_ns {
        // Rooted where the init is: in its own cgroup, once the parent has moved it.
        plan.push(
            "waiting to be moved into the container's cgroups",
            Step::WaitParent {
                fd: sync,
                root: false,
            },
        );
    }
    if cgroup_ns && !self_joins {
        plan.push(
            "unshare(CLONE_NEWCGROUP)",
            Step::Unshare(libc::CLONE_NEWCGROUP),
        );
    }
    sysctls(&mut plan, linux, joins_netns || fresh_netns)?;
    plan.push("pivot_root into the rootfs", Step::PivotRoot);
    let detach = |plan: &mut Plan| {
        plan.push(
            "detaching the old root (umount2 MNT_DETACH)",
            Step::DetachOldRoot,
        );
    };
    // With a console, the pty is made in the container's /dev/pts once the old root is
    // gone (and the init is in its cgroups), and sent before the init says it is set up
    // (callers wait for both).
    let console = |plan: &mut Plan, socket: OwnedFd| {
        plan.push(
            "making the console: a pty in the container's /dev/pts, its master sent to the \
             console socket",
            Step::Console(socket.as_raw_fd()),
        );
        plan.fds.push(socket);
        plan.push(
            "making the console the controlling terminal (setsid, TIOCSCTTY)",
            Step::Terminal,
        );
    };
    if let Some(root) = input.cgroup_root.filter(|_| self_joins) {
        // The old root's detach waits for an RCU grace period: here, while the parent
        // still makes the cgroups, rather than after. The cgroup files are then reached
        // from the host's cgroup root, opened by the parent.
        detach(&mut plan);
        plan.push(
            "waiting for the container's cgroups to be made",
            Step::WaitParent {
                fd: sync,
                root: false,
            },
        );
        for path in input.join_cgroups {
            let what = format!("joining the container's cgroup ({path:?} <- 0)");
            plan.push(what, Step::JoinCgroupAt(root.as_raw_fd(), path));
        }
        plan.fds.push(root);
        if cgroup_ns {
            plan.push(
                "unshare(CLONE_NEWCGROUP)",
                Step::Unshare(libc::CLONE_NEWCGROUP),
            );
        }
        // In its cgroups by now: the devices cgroup is the init's as it opens /dev/ptmx.
        if let Some(socket) = input.console {
            console(&mut plan, socket);
        }
        plan.push("telling the runtime the container is set up", Step::Ready);
    } else if let Some(socket) = input.console {
        detach(&mut plan);
        console(&mut plan, socket);
        plan.push("telling the runtime the container is set up", Step::Ready);
    } else {
        plan.push("telling the runtime the container is set up", Step::Ready);
        detach(&mut plan);
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        plan.push("remounting / read-only", Step::RootReadOnly);
    }
    // Here, after the set-up report, while the parent gets to `start`: not in the setup
    // it waits for. Before anything of the process's (the exec keeps ignored signals: a
    // Rust parent ignores SIGPIPE) and before the reaper forks.
    plan.push("resetting signal dispositions and mask", Step::ResetSignals);
    if let Some(fd) = input.fifo {
        let fifo = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        plan.fds.push(fd);
        plan.push(
            "waiting for start on the exec fifo",
            Step::WaitStart { fifo },
        );
    }
    process(
        &mut plan,
        spec.process().as_ref(),
        spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
        input.seccomp_cache,
        input.host_bounding,
        input.last_cap,
        input.status_fd,
    )?;
    if input.init {
        // Last before the exec: the reaper is set up exactly as the process (user, caps,
        // no_new_privs, and whatever else comes before the exec).
        let at = plan.steps.len().saturating_sub(1);
        plan.steps.insert(at, Step::Reaper);
        let what = "forking the process under the init reaper".to_string();
        plan.what.insert(at, what);
    }
    Ok(plan)
}

/// A new network namespace costs ~0.5 ms (loopback, per-net state): made by clone3 (or
/// first thing in the init) it would be on the path everything waits for. The parent makes
/// it after the clone, while the init does its other mounts and device nodes; the init
/// joins it then, and mounts sysfs and the rest under /sys (sysfs shows the mounter's
/// network namespace) after.
fn join_parent_netns(plan: &mut Plan, sync: RawFd, path: CString, sys: Vec<(String, Step)>) {
    plan.push(
        "waiting for the network namespace the runtime makes",
        Step::WaitParent {
            fd: sync,
            root: false,
        },
    );
    plan.push(
        "joining the network namespace the runtime made",
        Step::SetNsAt(path, libc::CLONE_NEWNET),
    );
    for (what, step) in sys {
        plan.push(what, step);
    }
}

/// The spec's sysctls, written from the host's `/proc/sys` while that is still visible:
/// each file acts on the writer's namespaces, the container's by now.
fn sysctls(
    plan: &mut Plan,
    linux: Option<&oci_spec::runtime::Linux>,
    joins_netns: bool,
) -> Result<()> {
    let Some(map) = linux.and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut own = plan.clone_flags as libc::c_int;
    if joins_netns {
        own |= libc::CLONE_NEWNET;
    }
    for s in crate::sysctl::plan(map, own)? {
        let step = Step::WriteFile {
            path: cstr(s.path)?,
            data: cstr(s.value.as_str())?,
        };
        plan.push(format!("setting sysctl {}={}", s.key, s.value), step);
    }
    Ok(())
}

fn root_mount(plan: &mut Plan, rootfs: &Rootfs, dir: &Path) -> Result<()> {
    // A dir is bound onto itself (in the init's private mount namespace: the host sees
    // nothing), as runc does: pivot_root needs a mount point, and no mount point dir has to
    // be made and removed in the state dir.
    let at = match rootfs {
        Rootfs::Dir(d) => path_cstr(d)?,
        _ => path_cstr(&dir.join("rootfs"))?,
    };
    let source = match (rootfs, rootfs.overlay(dir)) {
        (Rootfs::Dir(d), _) => Source::Bind {
            path: path_cstr(d)?,
            recursive: true,
            attrs: 0,
        },
        (_, None) => return Err(Error::Invalid("no overlay dirs".into())),
        (_, Some((lowers, upper, work))) => {
            if lowers.is_empty() {
                return Err(Error::Invalid(
                    "an overlay rootfs needs at least one lower dir".into(),
                ));
            }
            let mut options = vec![(cstr("source")?, Some(cstr("overlay")?))];
            // lowerdir+ (Linux 6.8+) takes one layer per call: no one-page limit on the
            // option string however long the chain is.
            for l in lowers {
                options.push((cstr("lowerdir+")?, Some(path_cstr(l)?)));
            }
            options.push((cstr("upperdir")?, Some(path_cstr(&upper)?)));
            options.push((cstr("workdir")?, Some(path_cstr(&work)?)));
            Source::Fs {
                fstype: cstr("overlay")?,
                options,
                attrs: 0,
            }
        }
    };
    plan.push("mounting the rootfs", Step::MountRoot { source, at });
    Ok(())
}

/// Filesystem options: `key=value`, or a flag.
type FsOptions = Vec<(CString, Option<CString>)>;

/// Mount options split into mount attributes, recursive (rbind), and filesystem options.
pub fn split_options(options: &[String]) -> Result<(u64, bool, FsOptions)> {
    let mut attrs = 0;
    let mut recursive = false;
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => attrs |= sys::MOUNT_ATTR_RDONLY,
            "nosuid" => attrs |= sys::MOUNT_ATTR_NOSUID,
            "nodev" => attrs |= sys::MOUNT_ATTR_NODEV,
            "noexec" => attrs |= sys::MOUNT_ATTR_NOEXEC,
            "noatime" => attrs |= sys::MOUNT_ATTR_NOATIME,
            "strictatime" => attrs |= sys::MOUNT_ATTR_STRICTATIME,
            "nodiratime" => attrs |= sys::MOUNT_ATTR_NODIRATIME,
            "rbind" => recursive = true,
            "rw" | "bind" | "relatime" | "suid" | "dev" | "exec" | "atime" | "defaults"
            | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {}
            _ => data.push(match o.split_once('=') {
                Some((k, v)) => (cstr(k)?, Some(cstr(v)?)),
                None => (cstr(o.as_str())?, None),
            }),
        }
    }
    Ok((attrs, recursive, data))
}

/// The spec's mounts; true when `/dev` is a tmpfs we must populate.
/// The spec's mounts, in order; with `defer_sys`, those on `/sys` and below go there
/// instead (kept in their order: they share no path with the others).
fn mounts(
    plan: &mut Plan,
    mounts: &[Mount],
    mut defer_sys: Option<&mut Vec<(String, Step)>>,
) -> Result<bool> {
    let mut dev_tmpfs = false;
    for m in mounts {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().as_deref().unwrap_or("");
        let opts = m.options().as_deref().unwrap_or_default();
        let (attrs, recursive, data) = split_options(opts)?;
        let is_bind = typ == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        if typ == "cgroup" || typ == "cgroup2" {
            tracing::warn!(
                dest,
                "cgroup mounts inside containers are not supported yet; skipped"
            );
            continue;
        }
        let (source, dir) = if is_bind {
            let src = m
                .source()
                .as_ref()
                .ok_or_else(|| Error::Invalid(format!("bind mount on {dest} without a source")))?;
            let md = std::fs::metadata(src).map_err(|e| Error::io("bind mount source", src, e))?;
            let source = Source::Bind {
                path: path_cstr(src)?,
                recursive,
                attrs,
            };
            (source, md.is_dir())
        } else {
            let mut options = data;
            if let Some(s) = m.source() {
                options.insert(0, (cstr("source")?, Some(path_cstr(s)?)));
            }
            let source = Source::Fs {
                fstype: cstr(typ)?,
                options,
                attrs,
            };
            (source, true)
        };
        if dest == "/dev" && typ == "tmpfs" {
            dev_tmpfs = true;
        }
        let what = format!("mounting {typ} {} on {dest}", opts.join(","));
        let step = Step::Mount {
            target: target(&dest)?,
            source,
            dir,
        };
        let under_sys = Path::new(&dest).starts_with("/sys");
        match defer_sys.as_deref_mut() {
            Some(later) if under_sys => later.push((what, step)),
            _ => plan.push(what, step),
        }
    }
    Ok(dev_tmpfs)
}

/// The spec's `linux.devices`: nodes made where it says, with its mode and owner.
fn spec_devices(
    plan: &mut Plan,
    linux: Option<&oci_spec::runtime::Linux>,
    userns: bool,
) -> Result<()> {
    use oci_spec::runtime::LinuxDeviceType as T;
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let path = d.path().to_string_lossy().into_owned();
        let kind = match d.typ() {
            T::B => libc::S_IFBLK,
            T::C | T::U => libc::S_IFCHR,
            T::P => libc::S_IFIFO,
            T::A => {
                return Err(Error::Invalid(format!(
                    "device {path}: 'a' is not a node type"
                )));
            }
        };
        let (Ok(major), Ok(minor)) = (u32::try_from(d.major()), u32::try_from(d.minor())) else {
            return Err(Error::Invalid(format!("device {path}: bad major/minor")));
        };
        if userns {
            // mknod is refused in a user namespace: the host's node, bound.
            let source = Source::Bind {
                path: cstr(path.as_str())?,
                recursive: false,
                attrs: 0,
            };
            let step = Step::Mount {
                target: target(&path)?,
                source,
                dir: false,
            };
            plan.push(format!("binding the host's device {path}"), step);
            continue;
        }
        let step = Step::DeviceNode {
            target: target(&path)?,
            mode: kind | (d.file_mode().unwrap_or(0o666) & 0o7777),
            dev: libc::makedev(major, minor),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        plan.push(format!("creating device {path}"), step);
    }
    Ok(())
}

fn devices(plan: &mut Plan, userns: bool) -> Result<()> {
    let chr = |name: &str, major: u32, minor: u32| -> Result<(CString, u32, libc::dev_t)> {
        Ok((
            cstr(name)?,
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        ))
    };
    let nodes = vec![
        chr("null", 1, 3)?,
        chr("zero", 1, 5)?,
        chr("full", 1, 7)?,
        chr("random", 1, 8)?,
        chr("urandom", 1, 9)?,
        chr("tty", 5, 0)?,
    ];
    let link =
        |name: &str, to: &str| -> Result<(CString, CString)> { Ok((cstr(name)?, cstr(to)?)) };
    let mut links = vec![
        link("fd", "/proc/self/fd")?,
        link("stdin", "/proc/self/fd/0")?,
        link("stdout", "/proc/self/fd/1")?,
        link("stderr", "/proc/self/fd/2")?,
        link("ptmx", "pts/ptmx")?,
    ];
    // As runc: no dangling /dev/core on a kernel without /proc/kcore.
    if Path::new("/proc/kcore").exists() {
        links.push(link("core", "/proc/kcore")?);
    }
    let dev = target("/dev")?;
    let host = if userns {
        let h = nodes.iter().map(|(n, _, _)| {
            let mut p = b"/dev/".to_vec();
            p.extend_from_slice(n.as_bytes());
            cstr(p)
        });
        Some(h.collect::<Result<Vec<_>>>()?)
    } else {
        None
    };
    plan.push(
        "creating the device nodes in /dev",
        Step::Devices {
            dev,
            nodes,
            links,
            host,
        },
    );
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> (libc::c_int, &'static str) {
    use PosixRlimitType as R;
    let (r, n) = match t {
        R::RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        R::RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        R::RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        R::RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        R::RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        R::RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        R::RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        R::RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        R::RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        R::RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        R::RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        R::RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        R::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        R::RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        R::RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        R::RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    (r as libc::c_int, n)
}

/// Fails early and clearly when an rlimit can't be set: above the hard limit without
/// CAP_SYS_RESOURCE the kernel says only EPERM.
fn check_rlimit(
    resource: libc::c_int,
    name: &str,
    soft: u64,
    hard: u64,
    can_raise: bool,
) -> Result<()> {
    if soft > hard {
        return Err(Error::Invalid(format!(
            "rlimit {name}: soft {soft} above hard {hard}"
        )));
    }
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: cur is a valid rlimit buffer.
    if unsafe { libc::getrlimit(resource as _, &mut cur) } < 0 {
        return Err(Error::sys(format!("getrlimit {name}"), sys::Errno::last()));
    }
    if hard > cur.rlim_max && !can_raise {
        return Err(Error::RlimitAboveHard {
            name: name.to_string(),
            soft,
            hard,
            host_hard: cur.rlim_max,
        });
    }
    Ok(())
}

/// The process's own steps, from rlimits to exec: the same for the init and for `exec`.
pub fn process(
    plan: &mut Plan,
    p: Option<&oci_spec::runtime::Process>,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    seccomp_cache: Option<&Path>,
    host_bounding: u64,
    last_cap: u32,
    status_fd: RawFd,
) -> Result<()> {
    let p = p.ok_or_else(|| Error::Invalid("no process".into()))?;
    let can_raise = caps::own_status_mask("CapEff")? & (1 << 24) != 0;
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let (resource, name) = rlimit_resource(r.typ());
        check_rlimit(resource, name, r.soft(), r.hard(), can_raise)?;
        let what = format!("setrlimit {name} {}:{}", r.soft(), r.hard());
        plan.push(
            what,
            Step::SetRlimit {
                resource,
                soft: r.soft(),
                hard: r.hard(),
            },
        );
    }
    let c = p.capabilities().as_ref();
    let set = |s: Option<&std::collections::HashSet<oci_spec::runtime::Capability>>| match s {
        Some(s) => caps::mask_of_set(s),
        None => Ok(0),
    };
    let (bounding, effective, permitted, inheritable, ambient) = match c {
        // No capabilities in the spec: Docker's defaults.
        None => {
            let d = caps::docker_default_mask();
            (d, d, d, 0, 0)
        }
        Some(c) => (
            set(c.bounding().as_ref())?,
            set(c.effective().as_ref())?,
            set(c.permitted().as_ref())?,
            set(c.inheritable().as_ref())?,
            set(c.ambient().as_ref())?,
        ),
    };
    caps::check_grantable(
        bounding | effective | permitted | inheritable | ambient,
        host_bounding,
    )?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    let filter = seccomp
        .map(|s| match seccomp_cache {
            Some(dir) => crate::seccomp::cache::load_or_compile(dir, s).map(|(p, _)| p),
            None => crate::seccomp::compile(s),
        })
        .transpose()?;
    if !nnp && let Some(prog) = &filter {
        // Without no_new_privs the kernel takes a filter only while we hold CAP_SYS_ADMIN:
        // install it before the capabilities go (the filter then sees the init's last calls).
        plan.push("installing the seccomp filter", Step::Seccomp(prog.clone()));
    }
    plan.push(
        "dropping capabilities from the bounding set",
        Step::BoundingSet {
            keep: bounding,
            last: last_cap,
        },
    );
    let u = p.user();
    let groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
    let what = format!("setting user {}:{} groups {groups:?}", u.uid(), u.gid());
    plan.push(
        what,
        Step::SetUser {
            uid: u.uid(),
            gid: u.gid(),
            groups,
        },
    );
    let what = format!("capset {}", caps::names_of(effective).join(","));
    plan.push(
        what,
        Step::Capabilities {
            effective,
            permitted,
            inheritable,
            ambient,
            last: last_cap,
        },
    );
    if nnp {
        plan.push("prctl(PR_SET_NO_NEW_PRIVS)", Step::NoNewPrivs);
    }
    plan.push(
        "closing inherited fds",
        Step::CloseFds(vec![status_fd as u32]),
    );
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!("cwd {cwd:?} is not absolute")));
    }
    plan.push(
        format!("chdir {cwd:?} (it must be inside the container's root)"),
        Step::Chdir(cstr(cwd)?),
    );
    if nnp && let Some(prog) = filter {
        plan.push("installing the seccomp filter", Step::Seccomp(prog));
    }
    exec(
        plan,
        p.args().as_deref().unwrap_or_default(),
        p.env().as_deref().unwrap_or_default(),
    )
}

fn exec(plan: &mut Plan, args: &[String], env: &[String]) -> Result<()> {
    let arg0 = args
        .first()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Invalid("process.args is empty".into()))?;
    let candidates = if arg0.contains('/') {
        vec![cstr(arg0.as_str())?]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| cstr(format!("{}/{arg0}", d.trim_end_matches('/'))))
            .collect::<Result<Vec<_>>>()?
    };
    let argv = args
        .iter()
        .map(|a| cstr(a.as_str()))
        .collect::<Result<Vec<_>>>()?;
    let env = env
        .iter()
        .map(|e| cstr(e.as_str()))
        .collect::<Result<Vec<_>>>()?;
    plan.push(
        format!("exec {arg0:?}"),
        Step::Exec {
            candidates,
            argv,
            env,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_relative_prefixes() -> Result<()> {
        let t = target("/etc/hosts")?;
        assert_eq!(t.prefixes, vec![cstr("etc")?, cstr("etc/hosts")?]);
        assert_eq!(t.names, vec![cstr("etc")?, cstr("hosts")?]);
        assert!(target("/a/../b").is_err());
        assert!(target("/").map(|t| t.prefixes.is_empty())?);
        Ok(())
    }

    #[test]
    fn options_split_into_attrs_and_data() -> Result<()> {
        let o: Vec<String> = [
            "ro",
            "nosuid",
            "rbind",
            "size=1m",
            "mode=1777",
            "newinstance",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (attrs, rec, data) = split_options(&o)?;
        assert_eq!(attrs, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID);
        assert!(rec);
        assert_eq!(data.len(), 3);
        assert_eq!(data[2], (cstr("newinstance")?, None));
        Ok(())
    }

    fn null() -> OwnedFd {
        std::fs::File::open("/dev/null").expect("/dev/null").into()
    }

    fn plan_for(spec: &Spec, netns: Option<OwnedFd>) -> Result<Plan> {
        plan_with(spec, netns, None)
    }

    fn plan_with(spec: &Spec, netns: Option<OwnedFd>, parent: Option<CString>) -> Result<Plan> {
        build_with(spec, |i| {
            i.netns = netns;
            i.parent_netns = parent;
        })
    }

    /// The plan of `spec` from a plain input (a dir rootfs, an exec fifo, no netns, ...)
    /// that `edit` changes first.
    fn build_with(spec: &Spec, edit: impl FnOnce(&mut Input<'_>)) -> Result<Plan> {
        let dir = std::env::temp_dir();
        let rootfs = Rootfs::Dir(dir.clone());
        let mut input = Input {
            spec,
            rootfs: &rootfs,
            dir: &dir,
            netns: None,
            fifo: Some(null()),
            status_fd: 2,
            host_bounding: u64::MAX,
            last_cap: 40,
            init: false,
            sync: null(),
            join_cgroups: Vec::new(),
            cgroup_root: None,
            console: None,
            seccomp_cache: None,
            parent_netns: None,
        };
        edit(&mut input);
        build(input)
    }

    /// A fresh network namespace is not the clone's (which would make the parent wait
    /// ~0.5 ms for it): without one from the parent the init unshares its own; one given
    /// is joined, none made.
    #[test]
    fn a_fresh_netns_is_unshared_by_the_init_and_signals_reset_after_setup() -> Result<()> {
        let spec = crate::spec::docker_default(&["true"])?;
        let plan = plan_for(&spec, None)?;
        assert_eq!(plan.clone_flags & libc::CLONE_NEWNET as u64, 0);
        assert_ne!(plan.clone_flags & libc::CLONE_NEWPID as u64, 0);
        let unshares = |p: &Plan| {
            p.steps
                .iter()
                .filter(|s| matches!(s, Step::Unshare(f) if f & libc::CLONE_NEWNET != 0))
                .count()
        };
        assert_eq!(unshares(&plan), 1);
        // The signal reset waits for the window between the set-up report and start.
        let at = |want: fn(&Step) -> bool| plan.steps.iter().position(want);
        let ready = at(|s| matches!(s, Step::Ready));
        let reset = at(|s| matches!(s, Step::ResetSignals));
        let wait = at(|s| matches!(s, Step::WaitStart { .. }));
        assert!(
            ready < reset && reset < wait,
            "{ready:?} {reset:?} {wait:?}"
        );
        assert!(ready.is_some());
        let joined = plan_for(&spec, Some(null()))?;
        assert_eq!(joined.clone_flags & libc::CLONE_NEWNET as u64, 0);
        assert_eq!(unshares(&joined), 0);
        Ok(())
    }

    /// Where the init moves itself into its cgroups, it pivots and detaches the old root
    /// first (that detach waits for an RCU grace period, overlapped with the parent making
    /// the cgroups), then waits for the parent's word and joins them from the host's cgroup
    /// root fd it kept, and only then says it is set up.
    #[test]
    fn the_old_root_is_detached_before_the_wait_for_the_cgroups() -> Result<()> {
        let spec = crate::spec::docker_default(&["true"])?;
        let root = std::fs::File::open("/").map_err(|e| Error::io("open", "/", e))?;
        let root_fd = root.as_raw_fd();
        let joins = vec![cstr("memory/x/tasks")?, cstr("pids/x/tasks")?];
        let plan = build_with(&spec, |i| {
            i.fifo = None;
            i.join_cgroups = joins;
            i.cgroup_root = Some(OwnedFd::from(root));
        })?;
        let at = |want: &dyn Fn(&Step) -> bool| plan.steps.iter().position(want);
        let pivot = at(&|s| matches!(s, Step::PivotRoot));
        let detach = at(&|s| matches!(s, Step::DetachOldRoot));
        let joins: Vec<usize> = (0..plan.steps.len())
            .filter(|&i| matches!(&plan.steps[i], Step::JoinCgroupAt(fd, _) if *fd == root_fd))
            .collect();
        let ready = at(&|s| matches!(s, Step::Ready));
        assert_eq!(joins.len(), 2, "{:?}", plan.what);
        assert!(pivot < detach && detach < Some(joins[0]), "{:?}", plan.what);
        assert!(matches!(
            plan.steps[joins[0] - 1],
            Step::WaitParent { root: false, .. }
        ));
        assert!(Some(joins[1]) < ready, "{:?}", plan.what);
        // The root fd outlives the clone (kept by the first close) and is closed with
        // the rest before the process's chdir.
        let Step::CloseFds(keep) = &plan.steps[0] else {
            return Err(Error::Invalid("no CloseFds first".into()));
        };
        assert!(keep.contains(&(root_fd as u32)));
        Ok(())
    }

    /// With the parent making the fresh namespace, the init makes none: it waits for the
    /// parent's word and joins it after its other mounts and device nodes, right before
    /// it mounts sysfs (wherever the spec has /sys: those under it go last), so that as
    /// much as can overlaps the parent's work.
    #[test]
    fn a_parent_made_netns_is_joined_after_the_other_mounts_before_sysfs() -> Result<()> {
        let spec = crate::spec::docker_default(&["true"])?;
        let plan = plan_with(&spec, None, Some(cstr("/proc/1/fd/9")?))?;
        assert_eq!(plan.clone_flags & libc::CLONE_NEWNET as u64, 0);
        let at = |want: &dyn Fn(&Step) -> bool| plan.steps.iter().position(want);
        assert_eq!(
            at(&|s| matches!(s, Step::Unshare(f) if f & libc::CLONE_NEWNET != 0)),
            None
        );
        let join = at(&|s| matches!(s, Step::SetNsAt(p, _) if p.as_bytes() == b"/proc/1/fd/9"))
            .ok_or_else(|| Error::Invalid("no join".into()))?;
        assert!(matches!(
            plan.steps[join - 1],
            Step::WaitParent { root: false, .. }
        ));
        assert!(matches!(&plan.steps[join + 1],
            Step::Mount { source: Source::Fs { fstype, .. }, .. } if fstype.as_bytes() == b"sysfs"));
        let devices = at(&|s| matches!(s, Step::Devices { .. }));
        assert!(devices.is_some_and(|d| d < join), "device nodes first");
        let what = |i: usize| plan.what[i].as_str();
        let before: Vec<&str> = (0..join)
            .map(what)
            .filter(|w| w.starts_with("mounting"))
            .collect();
        for dest in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
            assert!(
                before.iter().any(|w| w.ends_with(&format!(" on {dest}"))),
                "{dest}: {before:?}"
            );
        }
        assert!(!before.iter().any(|w| w.contains(" on /sys")), "{before:?}");
        assert_eq!(plan.what.len(), plan.steps.len());
        // Without the parent's namespace: the init's own, no wait.
        let plain = plan_for(&spec, None)?;
        assert!(!plain.steps.iter().any(|s| matches!(s, Step::SetNsAt(..))));
        Ok(())
    }
}

//! cgroups behind one trait: v1 (and the v1 side of a hybrid host) and v2, chosen once by
//! `statfs` of `/sys/fs/cgroup`. cgroupfs only: no systemd driver.

mod usage;
mod v1;
mod v2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

pub use usage::{Usage, usage};
pub use v1::V1;
pub use v2::V2;

pub(crate) const ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The limits a container's cgroup gets, from the spec's `linux.resources`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<i64>,
    /// Bytes of memory + swap (OCI's `swap`; -1: unlimited).
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Max processes (<= 0: unlimited).
    pub pids: Option<i64>,
    /// Device rules from the spec, in order: `(allow, "c 1:3 rwm")`. Applied after "deny
    /// all" and before the standard devices, which are always allowed.
    pub devices: Vec<(bool, String)>,
}

/// A device cgroup rule as the v1 `devices.allow` file takes it.
fn device_rule(d: &oci_spec::runtime::LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    let typ = d.typ().map_or("a", |t| match t {
        oci_spec::runtime::LinuxDeviceType::B => "b",
        oci_spec::runtime::LinuxDeviceType::A => "a",
        _ => "c",
    });
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()))
}

impl Limits {
    pub fn from_spec(r: Option<&LinuxResources>) -> Limits {
        let Some(r) = r else {
            return Limits::default();
        };
        let mem = r.memory().as_ref();
        let cpu = r.cpu().as_ref();
        Limits {
            memory: mem.and_then(|m| m.limit()),
            memory_swap: mem.and_then(|m| m.swap()),
            memory_reservation: mem.and_then(|m| m.reservation()),
            cpu_shares: cpu.and_then(|c| c.shares()),
            cpu_quota: cpu.and_then(|c| c.quota()),
            cpu_period: cpu.and_then(|c| c.period()),
            cpuset_cpus: cpu.and_then(|c| c.cpus().clone()).filter(|s| !s.is_empty()),
            cpuset_mems: cpu.and_then(|c| c.mems().clone()).filter(|s| !s.is_empty()),
            pids: r.pids().map(|p| p.limit()),
            devices: r
                .devices()
                .iter()
                .flatten()
                .map(|d| (d.allow(), device_rule(d)))
                .collect(),
        }
    }
}

/// One container's cgroup, whatever the hierarchy.
pub trait Cgroup: Send + Sync + std::fmt::Debug {
    /// Creates the cgroup (and its parents) and applies the limits.
    fn create(&self, limits: &Limits) -> Result<()>;
    /// The `cgroup.procs` files a process writes "0" to, to join the cgroup.
    fn procs_files(&self) -> Vec<PathBuf>;
    /// Files a single-threaded process writes "0" to, to move its one thread in without the
    /// global threadgroup lock: on cgroup v1, `tasks` (moving one's own thread alone skips
    /// `cgroup_threadgroup_rwsem`, whose write side waits for an RCU grace period, several
    /// ms). `None` where there is no such file (v2: `cgroup.threads` refuses domain cgroups).
    fn thread_join_files(&self) -> Option<Vec<PathBuf>> {
        None
    }
    /// What a new single-threaded process writes "0" to, to join: the cheap files when the
    /// hierarchy has them, else `cgroup.procs`.
    fn join_files(&self) -> Vec<PathBuf> {
        self.thread_join_files()
            .unwrap_or_else(|| self.procs_files())
    }
    /// The pids (as the host sees them) of every process in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    /// SIGKILLs every process in the cgroup, and waits until none is left.
    fn kill_all(&self) -> Result<()>;
    /// Freezes or thaws every process in the cgroup.
    fn set_frozen(&self, frozen: bool) -> Result<()>;
    /// Whether the cgroup is frozen.
    fn is_frozen(&self) -> bool;
    /// Whether the OOM killer has killed a process of this cgroup.
    fn oom_killed(&self) -> bool;
    /// Removes the cgroup (it must be empty), waiting a while for exiting processes to
    /// leave. Its parent stays (as crun's and runc's do): the next container would only
    /// make it again, a mkdir and an rmdir per hierarchy on every run.
    fn remove(&self) -> Result<()>;
    /// One rmdir per hierarchy, no waiting: `Ok(false)` when a cgroup still holds a process
    /// (EBUSY), so that a delete reads and kills only when something is left.
    fn try_remove(&self) -> Result<bool>;
}

/// Which cgroup hierarchy this host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// Pure cgroup2 at /sys/fs/cgroup.
    V2,
    /// v1 controllers under /sys/fs/cgroup/<controller> (with or without a cgroup2 mount at
    /// /sys/fs/cgroup/unified: we use its v1 side).
    V1,
}

/// Detects the hierarchy by the filesystem type of /sys/fs/cgroup.
pub fn detect() -> Result<Hierarchy> {
    Ok(if fs_type(Path::new(ROOT))? == CGROUP2_SUPER_MAGIC {
        Hierarchy::V2
    } else {
        Hierarchy::V1
    })
}

fn fs_type(path: &Path) -> Result<i64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("NUL in {}", path.display())))?;
    // SAFETY: st is written by statfs before it is read.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st a valid buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } < 0 {
        return Err(Error::io("statfs", path, std::io::Error::last_os_error()));
    }
    Ok(st.f_type)
}

/// The cgroup of container `id` under `parent` (a relative cgroup path like `compose`).
pub fn for_container(h: Hierarchy, parent: &str, id: &str) -> Result<Box<dyn Cgroup>> {
    let parent = parent.trim_matches('/');
    if parent.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::Invalid(format!("cgroup parent {parent:?}")));
    }
    Ok(match h {
        Hierarchy::V2 => Box::new(V2::new(Path::new(ROOT), parent, id)),
        Hierarchy::V1 => Box::new(V1::new(Path::new(ROOT), parent, id)),
    })
}

fn cg_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Cgroup {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| cg_err(&p, format_args!("write {value:?}: {e}")))
}

fn read(dir: &Path, file: &str) -> Result<String> {
    let p = dir.join(file);
    crate::sys::read_small(&p).map_err(|e| cg_err(&p, format_args!("read: {e}")))
}

fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(cg_err(dir, format_args!("read cgroup.procs: {e}"))),
    }
}

/// `mkdir -p`, retried: a concurrent `remove` of an empty parent may race with us.
fn mkdir_p(dir: &Path) -> Result<()> {
    let mut last = None;
    for _ in 0..5 {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(cg_err(
        dir,
        format_args!("mkdir: {}", last.map(|e| e.to_string()).unwrap_or_default()),
    ))
}

/// rmdir, retried while the last processes finish leaving the cgroup.
fn rmdir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(cg_err(dir, format_args!("rmdir: {e}"))),
        }
    }
}

/// One rmdir: `Ok(false)` if the cgroup still holds a process, `Ok(true)` once it is gone.
fn rmdir_once(dir: &Path) -> Result<bool> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
        Err(e) => Err(cg_err(dir, format_args!("rmdir: {e}"))),
    }
}

/// Removes the cgroup parent `parent` (and its own empty parents) in every hierarchy,
/// when no container uses it any more; a busy or missing one is left as it is. Containers
/// leave their parent in place for the next one: this is for whoever owns the parent
/// (a test's, say) to clean up at the end.
pub fn remove_parent(h: Hierarchy, parent: &str) {
    let parent = parent.trim_matches('/');
    if parent.is_empty() || parent.split('/').any(|c| c == ".." || c == ".") {
        return;
    }
    let tops: Vec<PathBuf> = match h {
        Hierarchy::V2 => vec![PathBuf::from(ROOT)],
        Hierarchy::V1 => v1::CONTROLLERS
            .iter()
            .map(|c| Path::new(ROOT).join(c))
            .collect(),
    };
    for top in tops {
        let mut d = top.join(parent);
        while d != top && d.starts_with(&top) && std::fs::remove_dir(&d).is_ok() {
            if !d.pop() {
                break;
            }
        }
    }
}

/// SIGKILLs every pid listed, ignoring those already gone.
fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill with integer arguments; the cgroup is frozen or the pids are ours.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    #[test]
    fn limits_from_spec() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 20)
                    .swap(2 << 20)
                    .build()?,
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(50_000)
                    .period(100_000u64)
                    .cpus("0")
                    .build()?,
            )
            .pids(LinuxPidsBuilder::default().limit(10).build()?)
            .build()?;
        let l = Limits::from_spec(Some(&r));
        assert_eq!(l.memory, Some(1 << 20));
        assert_eq!(l.memory_swap, Some(2 << 20));
        assert_eq!(l.cpu_quota, Some(50_000));
        assert_eq!(l.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(l.pids, Some(10));
        assert_eq!(Limits::from_spec(None), Limits::default());
        let deny_all = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()?;
        let fuse = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(oci_spec::runtime::LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .access("rw")
            .build()?;
        let r = LinuxResourcesBuilder::default()
            .devices(vec![deny_all, fuse])
            .build()?;
        let l = Limits::from_spec(Some(&r));
        assert_eq!(
            l.devices,
            vec![
                (false, "a *:* rwm".to_string()),
                (true, "c 10:229 rw".to_string())
            ]
        );
        Ok(())
    }
}

//! cgroup v1: one directory per controller.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    Cgroup, Limits, cg_err, kill_pids, mkdir_p, read, read_pids, rmdir, rmdir_once, write,
};
use crate::error::Result;

pub(super) const CONTROLLERS: [&str; 8] = [
    "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio",
];

/// Docker's default device rules: the standard nodes, ptys, and mknod of anything (but no
/// read or write of what isn't listed).
const DEVICE_ALLOW: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// A container's cgroup on a v1 (or hybrid) host.
#[derive(Debug)]
pub struct V1 {
    root: PathBuf,
    /// `<parent>/<id>`.
    rel: PathBuf,
    /// The mounted controllers, looked up once (a statx each) rather than per verb.
    mounted: std::sync::OnceLock<Vec<(&'static str, PathBuf)>>,
}

impl V1 {
    pub fn new(root: &Path, parent: &str, id: &str) -> V1 {
        V1 {
            root: root.to_path_buf(),
            rel: Path::new(parent).join(id),
            mounted: std::sync::OnceLock::new(),
        }
    }

    /// The mounted controllers: `(name, hierarchy root)`.
    fn mounted(&self) -> &[(&'static str, PathBuf)] {
        self.mounted.get_or_init(|| {
            CONTROLLERS
                .iter()
                .map(|c| (*c, self.root.join(c)))
                .filter(|(_, p)| p.join("cgroup.procs").exists())
                .collect()
        })
    }

    fn dir(&self, controller: &str) -> PathBuf {
        self.root.join(controller).join(&self.rel)
    }

    /// A new cpuset cgroup starts with no cpus and no mems: copy its parent's, level by level.
    fn init_cpuset(&self, top: &Path) -> Result<()> {
        let mut cur = top.to_path_buf();
        for comp in self.rel.components() {
            let parent = cur.clone();
            cur.push(comp);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if read(&cur, f)?.trim().is_empty() {
                    write(&cur, f, read(&parent, f)?.trim())?;
                }
            }
        }
        Ok(())
    }

    fn apply(&self, l: &Limits) -> Result<()> {
        let mem = self.dir("memory");
        if let Some(m) = l.memory {
            write(&mem, "memory.limit_in_bytes", &m.to_string())?;
            // memsw can't be below the memory limit; OCI's swap is memory + swap.
            let sw = l.memory_swap.unwrap_or(if m > 0 { 2 * m } else { -1 });
            if mem.join("memory.memsw.limit_in_bytes").exists() {
                write(&mem, "memory.memsw.limit_in_bytes", &sw.to_string())?;
            }
        }
        if let Some(r) = l.memory_reservation {
            write(&mem, "memory.soft_limit_in_bytes", &r.to_string())?;
        }
        let cpu = self.dir("cpu");
        if let Some(s) = l.cpu_shares {
            write(&cpu, "cpu.shares", &s.to_string())?;
        }
        if let Some(p) = l.cpu_period {
            write(&cpu, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(q) = l.cpu_quota {
            write(&cpu, "cpu.cfs_quota_us", &q.to_string())?;
        }
        let cpuset = self.dir("cpuset");
        if let Some(c) = &l.cpuset_cpus {
            write(&cpuset, "cpuset.cpus", c)?;
        }
        if let Some(m) = &l.cpuset_mems {
            write(&cpuset, "cpuset.mems", m)?;
        }
        if let Some(p) = l.pids {
            let v = if p > 0 { p.to_string() } else { "max".into() };
            write(&self.dir("pids"), "pids.max", &v)?;
        }
        Ok(())
    }

    /// Each rule is one write to `devices.allow` or `devices.deny`, both opened once (the
    /// kernel parses one rule per write; the 12 defaults were 36 syscalls).
    fn set_devices(&self, rules: &[(bool, String)]) -> Result<()> {
        let d = self.dir("devices");
        let open = |file: &str| {
            let p = d.join(file);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map(|f| (f, p.clone()))
                .map_err(|e| cg_err(&p, format_args!("open: {e}")))
        };
        let mut deny = open("devices.deny")?;
        let mut allow = open("devices.allow")?;
        let put = |(f, p): &mut (std::fs::File, PathBuf), rule: &str| {
            use std::io::Write;
            f.write_all(rule.as_bytes())
                .map_err(|e| cg_err(p, format_args!("write {rule:?}: {e}")))
        };
        put(&mut deny, "a")?;
        for (ok, rule) in rules {
            put(if *ok { &mut allow } else { &mut deny }, rule)?;
        }
        for rule in DEVICE_ALLOW {
            put(&mut allow, rule)?;
        }
        Ok(())
    }

    fn wait_freezer(&self, want: &str) -> Result<()> {
        let d = self.dir("freezer");
        let deadline = Instant::now() + Duration::from_secs(5);
        while read(&d, "freezer.state")?.trim() != want {
            if Instant::now() > deadline {
                return Err(cg_err(&d, format_args!("freezer never reached {want}")));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

impl Cgroup for V1 {
    fn create(&self, limits: &Limits) -> Result<()> {
        for (c, top) in self.mounted() {
            mkdir_p(&top.join(&self.rel))?;
            if *c == "cpuset" {
                self.init_cpuset(top)?;
            }
        }
        if self.mounted().iter().any(|(c, _)| *c == "devices") {
            self.set_devices(&limits.devices)?;
        }
        self.apply(limits)
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.mounted()
            .iter()
            .map(|(c, _)| self.dir(c).join("cgroup.procs"))
            .collect()
    }

    fn thread_join_files(&self) -> Option<Vec<PathBuf>> {
        let files = self
            .mounted()
            .iter()
            .map(|(c, _)| self.dir(c).join("tasks"))
            .collect();
        Some(files)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // Every process is in every controller we joined; pids is always mounted here.
        let mut all = Vec::new();
        for (c, _) in self.mounted() {
            all.extend(read_pids(&self.dir(c))?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn kill_all(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let freezer = self.dir("freezer").exists();
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(cg_err(
                    &self.rel,
                    format_args!("processes survive SIGKILL: {pids:?}"),
                ));
            }
            // Frozen, nothing can fork between our read of the list and the kills.
            if freezer {
                self.set_frozen(true)?;
            }
            kill_pids(&self.pids()?);
            if freezer {
                self.set_frozen(false)?;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let state = if frozen { "FROZEN" } else { "THAWED" };
        write(&self.dir("freezer"), "freezer.state", state)?;
        self.wait_freezer(state)
    }

    fn is_frozen(&self) -> bool {
        read(&self.dir("freezer"), "freezer.state").is_ok_and(|s| s.trim() == "FROZEN")
    }

    fn oom_killed(&self) -> bool {
        read(&self.dir("memory"), "memory.oom_control")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for (_, top) in self.mounted() {
            if let Err(e) = rmdir(&top.join(&self.rel)) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn try_remove(&self) -> Result<bool> {
        let mut gone = true;
        for (_, top) in self.mounted() {
            gone &= rmdir_once(&top.join(&self.rel))?;
        }
        Ok(gone)
    }
}

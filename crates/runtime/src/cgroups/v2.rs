//! cgroup v2: one unified directory. Not testable on the v1 hybrid hosts this was built on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    Cgroup, Limits, cg_err, kill_pids, mkdir_p, read, read_pids, rmdir, rmdir_once, write,
};
use crate::error::Result;

/// A container's cgroup on a cgroup2 host.
#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
    dir: PathBuf,
}

/// cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as the OCI runtimes do.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

impl V2 {
    pub fn new(root: &Path, parent: &str, id: &str) -> V2 {
        V2 {
            root: root.to_path_buf(),
            dir: root.join(parent).join(id),
        }
    }

    /// Delegates the controllers we set down to the container's directory.
    fn enable_controllers(&self) -> Result<()> {
        let wanted = ["cpu", "cpuset", "memory", "pids"];
        let mut cur = self.root.clone();
        let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        for comp in rel.components() {
            let available = read(&cur, "cgroup.controllers").unwrap_or_default();
            let enable: Vec<String> = wanted
                .iter()
                .filter(|c| available.split_whitespace().any(|a| a == **c))
                .map(|c| format!("+{c}"))
                .collect();
            if !enable.is_empty() {
                write(&cur, "cgroup.subtree_control", &enable.join(" "))?;
            }
            cur.push(comp);
        }
        Ok(())
    }

    fn apply(&self, l: &Limits) -> Result<()> {
        let d = &self.dir;
        if !l.devices.is_empty() {
            tracing::warn!(dir = %d.display(), "device rules need eBPF on cgroup v2: not applied yet");
        }
        if let Some(m) = l.memory {
            write(d, "memory.max", &max_or(m))?;
            if let Some(sw) = l.memory_swap {
                // OCI's swap is memory + swap; v2 limits swap alone.
                let v = if sw < 0 {
                    "max".into()
                } else {
                    (sw - m).max(0).to_string()
                };
                if d.join("memory.swap.max").exists() {
                    write(d, "memory.swap.max", &v)?;
                }
            }
        }
        if let Some(r) = l.memory_reservation {
            write(d, "memory.low", &max_or(r))?;
        }
        if l.cpu_quota.is_some() || l.cpu_period.is_some() {
            let q = l
                .cpu_quota
                .filter(|q| *q > 0)
                .map_or("max".into(), |q| q.to_string());
            write(
                d,
                "cpu.max",
                &format!("{q} {}", l.cpu_period.unwrap_or(100_000)),
            )?;
        }
        if let Some(s) = l.cpu_shares {
            write(d, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if let Some(c) = &l.cpuset_cpus {
            write(d, "cpuset.cpus", c)?;
        }
        if let Some(m) = &l.cpuset_mems {
            write(d, "cpuset.mems", m)?;
        }
        if let Some(p) = l.pids {
            write(d, "pids.max", &max_or(p))?;
        }
        Ok(())
    }
}

fn max_or(v: i64) -> String {
    if v > 0 { v.to_string() } else { "max".into() }
}

impl Cgroup for V2 {
    fn create(&self, limits: &Limits) -> Result<()> {
        mkdir_p(&self.dir)?;
        self.enable_controllers()?;
        self.apply(limits)
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn pids(&self) -> Result<Vec<i32>> {
        read_pids(&self.dir)
    }

    fn kill_all(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        // cgroup.kill (5.14+) kills atomically, forks included; else freeze and kill.
        let has_kill = self.dir.join("cgroup.kill").exists();
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(cg_err(
                    &self.dir,
                    format_args!("processes survive SIGKILL: {pids:?}"),
                ));
            }
            if has_kill {
                write(&self.dir, "cgroup.kill", "1")?;
            } else {
                self.set_frozen(true)?;
                kill_pids(&self.pids()?);
                self.set_frozen(false)?;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        write(&self.dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !read(&self.dir, "cgroup.events")?.lines().any(|l| l == want) {
            if Instant::now() > deadline {
                return Err(cg_err(&self.dir, "freeze timed out"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn is_frozen(&self) -> bool {
        read(&self.dir, "cgroup.events").is_ok_and(|s| s.lines().any(|l| l.trim() == "frozen 1"))
    }

    fn oom_killed(&self) -> bool {
        read(&self.dir, "memory.events")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    fn remove(&self) -> Result<()> {
        rmdir(&self.dir)
    }

    fn try_remove(&self) -> Result<bool> {
        rmdir_once(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_from_shares() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}

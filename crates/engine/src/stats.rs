//! `stats`: each container's resource usage from its cgroup (CPU time, memory, block I/O,
//! pids) and its network namespace (`/proc/<pid>/net/dev`). CPU % needs two samples: the
//! CPU time used between them over the time between them.

use std::time::Instant;

use compose_runtime::cgroups::{self, Usage};

use crate::engine::{Engine, Project};
use crate::error::{Error, Result};
use crate::runner::{CGROUP_PARENT, Live};
use crate::store::ContainerRow;

/// One container's usage at one instant.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub usage: Usage,
    /// Bytes received and sent on every interface but `lo`.
    pub net_rx: u64,
    pub net_tx: u64,
}

/// What `stats` shows of one container.
#[derive(Debug, Clone)]
pub struct Stats {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Percent of one CPU (may exceed 100 with several CPUs busy), as `docker stats`.
    pub cpu_percent: f64,
    pub memory: u64,
    /// The cgroup's limit, or the host's memory when unlimited.
    pub memory_limit: u64,
    pub memory_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

impl Engine {
    /// The project's containers `stats` looks at: running ones of `services` (all when
    /// empty), or every one with `all`.
    pub fn stats_rows(
        &self,
        p: &Project<'_>,
        services: &[String],
        all: bool,
    ) -> Result<Vec<ContainerRow>> {
        crate::ops::check_services(p, services)?;
        Ok(self
            .containers(p.name)?
            .into_iter()
            .filter(|(r, _)| services.is_empty() || services.contains(&r.service))
            .filter(|(_, l)| all || l.is_up())
            .map(|(r, _)| r)
            .collect())
    }

    /// One sample of a container; `None` when it has no live processes.
    pub fn sample(&self, row: &ContainerRow) -> Result<Option<Sample>> {
        if !matches!(self.live(row), Live::Running | Live::Paused) {
            return Ok(None);
        }
        let h = self.runner.runtime().hierarchy();
        let usage = match cgroups::usage(h, CGROUP_PARENT, &row.id) {
            Ok(u) => u,
            // It exited between the status and the read.
            Err(_) if !self.live(row).is_up() => return Ok(None),
            Err(e) => return Err(Error::Other(format!("container {}: {e}", row.name))),
        };
        let pids = cgroup_pids(h, &row.id);
        let (net_rx, net_tx) = pids
            .first()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok())
            .map(|t| net_dev(&t))
            .unwrap_or((0, 0));
        Ok(Some(Sample {
            at: Instant::now(),
            usage,
            net_rx,
            net_tx,
        }))
    }
}

/// The pids of a container's cgroup (the pids controller on v1, the unified dir on v2).
fn cgroup_pids(h: cgroups::Hierarchy, id: &str) -> Vec<i32> {
    let dir = match h {
        cgroups::Hierarchy::V1 => format!("/sys/fs/cgroup/pids/{CGROUP_PARENT}/{id}"),
        cgroups::Hierarchy::V2 => format!("/sys/fs/cgroup/{CGROUP_PARENT}/{id}"),
    };
    std::fs::read_to_string(format!("{dir}/cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `/proc/net/dev`: received and sent bytes summed over every interface but `lo`.
pub fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
        rx = rx.saturating_add(f.first().copied().unwrap_or(0));
        tx = tx.saturating_add(f.get(8).copied().unwrap_or(0));
    }
    (rx, tx)
}

/// The host's memory in bytes (`MemTotal`), the limit shown for an unlimited container.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The stats of `row` from two samples (`prev` before `cur`; without `prev`, CPU % is 0).
pub fn compute(row: &ContainerRow, prev: Option<&Sample>, cur: &Sample, host_mem: u64) -> Stats {
    let cpu_percent = match prev {
        Some(p) => {
            let wall = cur.at.saturating_duration_since(p.at).as_nanos() as f64;
            let used = cur.usage.cpu_ns.saturating_sub(p.usage.cpu_ns) as f64;
            if wall > 0.0 { used / wall * 100.0 } else { 0.0 }
        }
        None => 0.0,
    };
    let limit = match cur.usage.memory_limit {
        Some(l) if host_mem == 0 || l < host_mem => l,
        _ => host_mem,
    };
    let memory_percent = if limit > 0 {
        cur.usage.memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    Stats {
        id: row.id.clone(),
        name: row.name.clone(),
        service: row.service.clone(),
        cpu_percent,
        memory: cur.usage.memory,
        memory_limit: limit,
        memory_percent,
        net_rx: cur.net_rx,
        net_tx: cur.net_tx,
        blk_read: cur.usage.blk_read,
        blk_write: cur.usage.blk_write,
        pids: cur.usage.pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_lo_and_headers() {
        let t = "Inter-|   Receive                                                |  Transmit\n \
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                 lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
                 eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0       0          0\n";
        assert_eq!(net_dev(t), (1500, 700));
    }

    #[test]
    fn cpu_percent_from_two_samples() {
        let row = ContainerRow {
            id: "x".into(),
            project: "p".into(),
            service: "s".into(),
            number: 1,
            oneoff: false,
            name: "p-s-1".into(),
            config_hash: String::new(),
            image: String::new(),
            labels: Default::default(),
            state: crate::store::RecordedState::Running,
            info: Default::default(),
            created_at: 0,
            started_at: None,
            finished_at: None,
            exit_code: None,
        };
        let at = Instant::now();
        let a = Sample {
            at,
            usage: Usage {
                cpu_ns: 1_000,
                memory: 50,
                ..Usage::default()
            },
            net_rx: 0,
            net_tx: 0,
        };
        let b = Sample {
            at: at + std::time::Duration::from_millis(100),
            usage: Usage {
                cpu_ns: 1_000 + 50_000_000,
                memory: 50,
                memory_limit: Some(200),
                ..Usage::default()
            },
            net_rx: 0,
            net_tx: 0,
        };
        let s = compute(&row, Some(&a), &b, 1000);
        assert!((s.cpu_percent - 50.0).abs() < 1e-6, "{}", s.cpu_percent);
        assert_eq!(s.memory_limit, 200);
        assert!((s.memory_percent - 25.0).abs() < 1e-6);
        // Unlimited: the host's memory is the limit.
        let s = compute(&row, None, &a, 1000);
        assert_eq!((s.cpu_percent, s.memory_limit), (0.0, 1000));
    }
}

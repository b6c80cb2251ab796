//! Read-only resource usage of a container's cgroup (for `compose stats`): CPU time,
//! memory, block I/O and pids, from v1 controller files or the v2 unified directory.

use std::path::{Path, PathBuf};

use super::{Hierarchy, ROOT, cg_err};
use crate::error::Result;

/// What a container's cgroup has used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all its processes, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, without the inactive page cache (as `docker stats` counts it).
    pub memory: u64,
    /// The memory limit; `None`: unlimited.
    pub memory_limit: Option<u64>,
    /// Bytes read from and written to block devices.
    pub blk_read: u64,
    pub blk_write: u64,
    /// Processes (threads, on v1 and v2 alike) in the cgroup.
    pub pids: u64,
}

/// The usage of container `id`'s cgroup under `parent` (relative, like `compose`).
pub fn usage(h: Hierarchy, parent: &str, id: &str) -> Result<Usage> {
    let rel = Path::new(parent.trim_matches('/')).join(id);
    match h {
        Hierarchy::V1 => v1(Path::new(ROOT), &rel),
        Hierarchy::V2 => v2(&Path::new(ROOT).join(&rel)),
    }
}

fn read_u64(path: &Path) -> Result<u64> {
    let s = std::fs::read_to_string(path).map_err(|e| cg_err(path, format_args!("read: {e}")))?;
    s.trim()
        .parse()
        .map_err(|_| cg_err(path, format_args!("not a number: {:?}", s.trim())))
}

/// A limit file: `max` (v2) or a number near `i64::MAX` (v1's unlimited) is no limit.
fn read_limit(path: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let n: u64 = s.trim().parse().ok()?;
    (n < (1 << 60)).then_some(n)
}

fn v1(root: &Path, rel: &Path) -> Result<Usage> {
    let dir = |c: &str| -> PathBuf { root.join(c).join(rel) };
    let mem = dir("memory");
    let stat = std::fs::read_to_string(mem.join("memory.stat")).unwrap_or_default();
    let used = read_u64(&mem.join("memory.usage_in_bytes"))?;
    let (read, write) = blkio_v1(
        &std::fs::read_to_string(dir("blkio").join("blkio.throttle.io_service_bytes"))
            .unwrap_or_default(),
    );
    Ok(Usage {
        cpu_ns: read_u64(&dir("cpuacct").join("cpuacct.usage"))?,
        memory: used.saturating_sub(stat_value(&stat, "total_inactive_file")),
        memory_limit: read_limit(&mem.join("memory.limit_in_bytes")),
        blk_read: read,
        blk_write: write,
        pids: read_u64(&dir("pids").join("pids.current")).unwrap_or(0),
    })
}

fn v2(dir: &Path) -> Result<Usage> {
    let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
    let used = read_u64(&dir.join("memory.current"))?;
    let cpu = std::fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default();
    let (read, write) = io_v2(&std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default());
    Ok(Usage {
        cpu_ns: stat_value(&cpu, "usage_usec").saturating_mul(1000),
        memory: used.saturating_sub(stat_value(&stat, "inactive_file")),
        memory_limit: read_limit(&dir.join("memory.max")),
        blk_read: read,
        blk_write: write,
        pids: read_u64(&dir.join("pids.current")).unwrap_or(0),
    })
}

/// `key value` lines (memory.stat, cpu.stat): the value of `key`, 0 when absent.
pub fn stat_value(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// v1 `blkio.throttle.io_service_bytes`: `8:0 Read 4096` lines summed over devices.
pub fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, n] = f.as_slice() {
            let n: u64 = n.parse().unwrap_or(0);
            match *op {
                "Read" => r = r.saturating_add(n),
                "Write" => w = w.saturating_add(n),
                _ => {}
            }
        }
    }
    (r, w)
}

/// v2 `io.stat`: `8:0 rbytes=4096 wbytes=0 ...` lines summed over devices.
pub fn io_v2(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for kv in text.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let n: u64 = v.parse().unwrap_or(0);
        match k {
            "rbytes" => r = r.saturating_add(n),
            "wbytes" => w = w.saturating_add(n),
            _ => {}
        }
    }
    (r, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cgroup_files() {
        let stat = "cache 10\ntotal_inactive_file 4096\ninactive_file 8\n";
        assert_eq!(stat_value(stat, "total_inactive_file"), 4096);
        assert_eq!(stat_value(stat, "inactive_file"), 8);
        assert_eq!(stat_value(stat, "missing"), 0);
        let blk = "8:0 Read 100\n8:0 Write 7\n8:16 Read 1\n8:0 Total 107\nTotal 108\n";
        assert_eq!(blkio_v1(blk), (101, 7));
        let io = "8:0 rbytes=10 wbytes=3 rios=1 wios=1\n8:16 rbytes=5 wbytes=0\n";
        assert_eq!(io_v2(io), (15, 3));
    }

    #[test]
    fn missing_cgroup_is_an_error_naming_the_file() {
        let Err(e) = usage(Hierarchy::V1, "compose-no-such-parent", "nope") else {
            panic!("a missing cgroup has no usage");
        };
        assert!(e.to_string().contains("compose-no-such-parent"), "{e}");
    }
}

//! `top`: the processes of each running container, read from `/proc` (as `ps -ef` shows
//! them: UID, PID, PPID, C, STIME, TTY, TIME, CMD).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::Engine;
use crate::error::Result;
use crate::store::ContainerRow;

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    /// CPU use over its life, percent.
    pub cpu: u64,
    /// When it started.
    pub start: SystemTime,
    pub tty: String,
    /// CPU time used.
    pub time: Duration,
    pub cmd: String,
}

impl Engine {
    /// The running containers of `services` (all when empty) and their processes.
    pub fn top(
        &self,
        project: &str,
        services: &[String],
    ) -> Result<Vec<(ContainerRow, Vec<Proc>)>> {
        let mut out = Vec::new();
        for (row, live) in self.containers(project)? {
            if !live.is_up() || !(services.is_empty() || services.contains(&row.service)) {
                continue;
            }
            let pids = match self.runner.load(&row.id, &row.name) {
                Ok(h) => h.container().pids().unwrap_or_default(),
                Err(_) => continue,
            };
            let mut procs: Vec<Proc> = pids.into_iter().filter_map(read_proc).collect();
            procs.sort_by_key(|p| p.pid);
            out.push((row, procs));
        }
        Ok(out)
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Seconds since boot (`/proc/uptime`).
fn uptime() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A process from `/proc/PID/{stat,status,cmdline}`; `None` when it is gone.
fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    parse_proc(pid, &stat, &status, &cmdline, clock_ticks(), uptime()?)
}

fn parse_proc(
    pid: i32,
    stat: &str,
    status: &str,
    cmdline: &[u8],
    ticks: u64,
    uptime: f64,
) -> Option<Proc> {
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let started: u64 = f.get(19)?.parse().ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let age = (uptime - started as f64 / ticks as f64).max(0.0);
    let cpu_secs = (utime + stime) as f64 / ticks as f64;
    let cpu = if age > 0.0 {
        (cpu_secs * 100.0 / age) as u64
    } else {
        0
    };
    let start = SystemTime::now()
        .checked_sub(Duration::from_secs_f64(age))
        .unwrap_or(UNIX_EPOCH);
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let cmd = if args.is_empty() {
        format!("[{comm}]")
    } else {
        args.join(" ")
    };
    Some(Proc {
        uid,
        pid,
        ppid,
        cpu,
        start,
        tty: "?".into(),
        time: Duration::from_secs_f64(cpu_secs),
        cmd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let stat = "42 (my (odd) cmd) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 1000 100 18446744073709551615";
        let status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n";
        let p = parse_proc(42, stat, status, b"sleep\x001000\x00", 100, 20.0)
            .unwrap_or_else(|| panic!("unparsed"));
        assert_eq!((p.pid, p.ppid, p.uid), (42, 7, 1000));
        assert_eq!(p.cmd, "sleep 1000");
        assert_eq!(p.time, Duration::from_secs(3));
        // Started at 10 s after boot, 10 s ago, 3 s of CPU: 30 %.
        assert_eq!(p.cpu, 30);
        let kernel = parse_proc(42, stat, status, b"", 100, 20.0).map(|p| p.cmd);
        assert_eq!(kernel.as_deref(), Some("[my (odd) cmd]"));
        assert!(parse_proc(42, "garbage", status, b"", 100, 20.0).is_none());
    }
}

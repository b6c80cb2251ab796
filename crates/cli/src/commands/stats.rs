//! `compose stats`: CPU %, memory, network and block I/O and pids of the project's
//! containers, as `docker stats` prints them (a live table, or one with `--no-stream`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use compose_engine::stats::{self, Sample, Stats};

use super::up::Session;
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Format output: table (default) or json.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only the containers of these services.
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// The time between the two samples CPU % is computed from, and between frames.
const FIRST_GAP: Duration = Duration::from_millis(500);
const FRAME: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

pub fn run(global: &Global, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.as_str() {
        "table" => Format::Table,
        "json" => Format::Json,
        f => bail!("invalid --format {f:?}: table or json (templates are not supported)"),
    };
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    let engine = &session.engine;
    let host_mem = stats::host_memory();
    let mut prev: HashMap<String, Sample> = HashMap::new();
    let clear = !args.no_stream && std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let rows = engine.stats_rows(&project, &args.services, args.all)?;
        if first {
            // A first sample of each, so the frame below has a CPU % to show.
            for r in &rows {
                if let Some(s) = engine.sample(r)? {
                    prev.insert(r.id.clone(), s);
                }
            }
            std::thread::sleep(FIRST_GAP);
            first = false;
        }
        let mut frame = Vec::new();
        let mut next = HashMap::new();
        for r in &rows {
            match engine.sample(r)? {
                Some(s) => {
                    frame.push(stats::compute(r, prev.get(&r.id), &s, host_mem));
                    next.insert(r.id.clone(), s);
                }
                None if args.all => frame.push(idle(r)),
                None => {}
            }
        }
        prev = next;
        let text = match format {
            Format::Table => table(&frame, args.no_trunc),
            Format::Json => frame
                .iter()
                .map(|s| format!("{}\n", json(s, args.no_trunc)))
                .collect(),
        };
        let mut out = std::io::stdout().lock();
        let head = if clear { "\x1b[2J\x1b[H" } else { "" };
        if write!(out, "{head}{text}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(ExitCode::SUCCESS);
        }
        drop(out);
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(FRAME);
    }
}

/// A stopped container's row (`--all`): zeros, as `docker stats -a` shows.
fn idle(r: &compose_engine::store::ContainerRow) -> Stats {
    Stats {
        id: r.id.clone(),
        name: r.name.clone(),
        service: r.service.clone(),
        cpu_percent: 0.0,
        memory: 0,
        memory_limit: 0,
        memory_percent: 0.0,
        net_rx: 0,
        net_tx: 0,
        blk_read: 0,
        blk_write: 0,
        pids: 0,
    }
}

fn short_id(id: &str, no_trunc: bool) -> &str {
    if no_trunc {
        id
    } else {
        id.get(..12).unwrap_or(id)
    }
}

/// The cells of one row, in the table's column order.
fn cells(s: &Stats, no_trunc: bool) -> [String; 8] {
    [
        short_id(&s.id, no_trunc).to_string(),
        s.name.clone(),
        format!("{:.2}%", s.cpu_percent),
        format!(
            "{} / {}",
            binary_size(s.memory as f64),
            binary_size(s.memory_limit as f64)
        ),
        format!("{:.2}%", s.memory_percent),
        format!(
            "{} / {}",
            human_size(s.net_rx as f64),
            human_size(s.net_tx as f64)
        ),
        format!(
            "{} / {}",
            human_size(s.blk_read as f64),
            human_size(s.blk_write as f64)
        ),
        s.pids.to_string(),
    ]
}

const HEADERS: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// Docker's table: columns at least 10 wide, 3 spaces apart.
fn table(rows: &[Stats], no_trunc: bool) -> String {
    let body: Vec<[String; 8]> = rows.iter().map(|s| cells(s, no_trunc)).collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.len()).collect();
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: Vec<&str>| {
        let mut s = String::new();
        let last = cols.len() - 1;
        for (i, c) in cols.iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                let w = (widths[i] + 3).max(10);
                s.push_str(&format!("{c:<w$}"));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(HEADERS.to_vec());
    for r in &body {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// `docker stats --format json`'s object.
fn json(s: &Stats, no_trunc: bool) -> serde_json::Value {
    let [id, name, cpu, mem, memp, net, blk, pids] = cells(s, no_trunc);
    serde_json::json!({
        "BlockIO": blk,
        "CPUPerc": cpu,
        "Container": id,
        "ID": id,
        "MemPerc": memp,
        "MemUsage": mem,
        "Name": name,
        "NetIO": net,
        "PIDs": pids,
    })
}

/// Go's `%.<prec>g`: `prec` significant digits, trailing zeros dropped.
fn sig(v: f64, prec: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (prec - 1 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn scaled(mut v: f64, base: f64, units: &[&str], prec: i32) -> String {
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig(v, prec), units[i])
}

/// Memory sizes, binary units (`1.5MiB`), 4 significant digits as `docker stats`.
fn binary_size(v: f64) -> String {
    scaled(
        v,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        4,
    )
}

/// Network and block I/O, decimal units (`1.45kB`), 3 significant digits.
fn human_size(v: f64) -> String {
    scaled(v, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"], 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker_stats() {
        assert_eq!(binary_size(0.0), "0B");
        assert_eq!(binary_size(1536.0), "1.5KiB");
        assert_eq!(binary_size(1_572_864.0), "1.5MiB");
        assert_eq!(binary_size(16_106_127_360.0), "15GiB");
        assert_eq!(human_size(1450.0), "1.45kB");
        assert_eq!(human_size(726.0), "726B");
        assert_eq!(human_size(12_345_678.0), "12.3MB");
    }

    #[test]
    fn table_has_docker_columns() {
        let s = Stats {
            id: "0123456789abcdef".into(),
            name: "p-web-1".into(),
            service: "web".into(),
            cpu_percent: 1.234,
            memory: 1_572_864,
            memory_limit: 16_106_127_360,
            memory_percent: 0.01,
            net_rx: 1450,
            net_tx: 0,
            blk_read: 0,
            blk_write: 4096,
            pids: 2,
        };
        let t = table(std::slice::from_ref(&s), false);
        let mut lines = t.lines();
        assert_eq!(
            lines.next(),
            Some(
                "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O    PIDS"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "0123456789ab   p-web-1   1.23%     1.5MiB / 15GiB      0.01%     1.45kB / 0B   0B / 4.1kB   2"
            )
        );
        let j = json(&s, true);
        assert_eq!(j["ID"], "0123456789abcdef");
        assert_eq!(j["PIDs"], "2");
        assert_eq!(j["MemUsage"], "1.5MiB / 15GiB");
    }
}

//! `compose top`: the running processes of each container.

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use super::ps::table;
use super::up::Session;
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// `HH:MM` of a time in UTC (as `ps` prints a start time of today).
fn hh_mm(t: std::time::SystemTime) -> String {
    let s = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}", s / 3600, s / 60 % 60)
}

/// `HH:MM:SS` of a CPU time.
fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn run(global: &Global, args: &TopArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    for s in &args.services {
        project.service(s)?;
    }
    let mut out = String::new();
    for (row, procs) in session.engine.top(project.name, &args.services)? {
        // A container exiting as we look has no process left: it is not running.
        if procs.is_empty() {
            continue;
        }
        out.push_str(&row.name);
        out.push('\n');
        let mut rows = vec![
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
                .map(String::from)
                .to_vec(),
        ];
        for p in procs {
            rows.push(vec![
                p.uid.to_string(),
                p.pid.to_string(),
                p.ppid.to_string(),
                p.cpu.to_string(),
                hh_mm(p.start),
                p.tty,
                hms(p.time),
                p.cmd,
            ]);
        }
        out.push_str(&table(&rows));
        out.push('\n');
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

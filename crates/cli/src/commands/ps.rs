//! `compose ps`: the project's containers, as Docker Compose v2 lists them.

use std::process::ExitCode;

use clap::ValueEnum;
use compose_engine::ops::ps::Entry;
use compose_engine::runner::Live;
use serde_json::json;

use super::up::Session;
use crate::Global;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Show all stopped containers (including those created by the run command).
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services.
    #[arg(long = "services")]
    pub list_services: bool,
    /// Format the output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead |
    /// created | exited] (repeatable).
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Filter services by a property (supported filters: status), as `status=running`.
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Include orphaned services (not declared by project).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub orphans: bool,
}

const STATUSES: [&str; 7] = [
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

/// The states `--status` and `--filter status=` ask for (none: every state).
fn wanted_states(args: &PsArgs) -> anyhow::Result<Vec<String>> {
    let mut out = args.status.clone();
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("status", v)) => out.push(v.to_string()),
            _ => anyhow::bail!("invalid filter {f:?}: only status=STATUS is supported"),
        }
    }
    if let Some(bad) = out.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        anyhow::bail!("invalid status {bad:?}: one of {}", STATUSES.join(", "));
    }
    Ok(out)
}

/// Go's `units.HumanDuration`, as Docker prints ages.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h) = (s / 60, (s as f64 / 3600.0).round() as i64);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

fn status(e: &Entry, now: i64) -> String {
    if e.restarting {
        // Docker: the last exit code and how long ago the process ended.
        let code = e.exit_code().unwrap_or(0);
        let since = e.row.finished_at.unwrap_or(now);
        return format!("Restarting ({code}) {} ago", human_duration(now - since));
    }
    match e.live {
        Live::Running => {
            let since = e.row.started_at.unwrap_or(e.row.created_at);
            match e.health {
                Some(h) => format!("Up {} ({})", human_duration(now - since), h.as_str()),
                None => format!("Up {}", human_duration(now - since)),
            }
        }
        Live::Paused => {
            let since = e.row.started_at.unwrap_or(e.row.created_at);
            format!("Up {} (Paused)", human_duration(now - since))
        }
        Live::Created => "Created".into(),
        Live::Exited(code) => {
            let code = code.map_or("?".to_string(), |c| c.to_string());
            match e.row.finished_at {
                Some(t) => format!("Exited ({code}) {} ago", human_duration(now - t)),
                None => format!("Exited ({code})"),
            }
        }
        Live::Missing => "Dead".into(),
    }
}

/// The command as Docker shows it: quoted, cut at 20 characters with an ellipsis.
fn command(e: &Entry, trunc: bool) -> String {
    let mut c = e.row.info.command.join(" ");
    if trunc && c.chars().count() > 20 {
        c = c.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{}\"", c.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Docker's `CreatedAt`: Go's time format, `2026-11-29 16:05:41 +0000 UTC`.
fn created_at(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    // `2026-11-29T16:05:41.000000000Z`
    let rfc = compose_runtime::logs::format_time(t);
    let (date, rest) = rfc.split_once('T').unwrap_or((&rfc, ""));
    let clock = rest.get(..8).unwrap_or(rest);
    format!("{date} {clock} +0000 UTC")
}

fn json_line(e: &Entry, now: i64) -> serde_json::Value {
    let labels: Vec<String> = e
        .row
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    json!({
        "Command": command(e, false),
        "CreatedAt": created_at(e.row.created_at),
        "ExitCode": e.exit_code().unwrap_or(0),
        "Health": match e.health {
            Some(compose_engine::health::Status::Healthy) => "healthy",
            Some(compose_engine::health::Status::Unhealthy) => "unhealthy",
            Some(compose_engine::health::Status::Starting) => "starting",
            None => "",
        },
        "ID": e.row.id,
        "Image": e.row.image,
        "Labels": labels.join(","),
        "LocalVolumes": e.row.info.volumes.len().to_string(),
        "Mounts": e.row.info.volumes.join(","),
        "Name": e.row.name,
        "Names": e.row.name,
        "Networks": "",
        "Ports": e.row.info.ports.join(", "),
        "Project": e.row.project,
        "Publishers": [],
        "RunningFor": format!("{} ago", human_duration(now - e.row.created_at)),
        "Service": e.row.service,
        "Size": "0B",
        "State": e.state(),
        "Status": status(e, now),
    })
}

/// Columns padded as Docker's tabwriter does (at least 10 wide, 3 spaces between).
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            let w = rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
            (w + 3).max(10)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < cols {
                let pad = widths[i] - cell.chars().count();
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn run(global: &Global, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    let project = session.project()?;
    for s in &args.services {
        if !project.model.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let states = wanted_states(args)?;
    // A status filter looks at stopped containers too, as Docker Compose's does.
    let mut entries =
        session
            .engine
            .ps(project.name, &args.services, args.all || !states.is_empty())?;
    if !states.is_empty() {
        entries.retain(|e| states.iter().any(|s| s == e.state()));
    }
    if !args.orphans && session.from_file {
        entries.retain(|e| project.model.services.contains_key(&e.row.service));
    }
    let now = compose_engine::store::now();
    let mut out = String::new();
    if args.quiet {
        entries
            .iter()
            .for_each(|e| out.push_str(&format!("{}\n", e.row.id)));
    } else if args.list_services {
        let mut names: Vec<&str> = entries.iter().map(|e| e.row.service.as_str()).collect();
        names.dedup();
        names.iter().for_each(|n| out.push_str(&format!("{n}\n")));
    } else if args.format == Format::Json {
        for e in &entries {
            out.push_str(&serde_json::to_string(&json_line(e, now))?);
            out.push('\n');
        }
    } else {
        let mut rows = vec![
            [
                "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for e in &entries {
            rows.push(vec![
                e.row.name.clone(),
                e.row.image.clone(),
                command(e, !args.no_trunc),
                e.row.service.clone(),
                format!("{} ago", human_duration(now - e.row.created_at)),
                status(e, now),
                e.row.info.ports.join(", "),
            ]);
        }
        out = table(&rows);
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_reads_as_go_prints_it() {
        assert_eq!(created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(created_at(1_795_968_341), "2026-11-29 16:05:41 +0000 UTC");
    }

    #[test]
    fn durations_read_as_docker_prints_them() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn table_pads_columns() {
        let t = table(&[
            vec!["NAME".into(), "X".into()],
            vec!["p-web-1".into(), "y".into()],
        ]);
        assert_eq!(t, "NAME      X\np-web-1   y\n");
    }

    #[test]
    fn a_restarting_container_reads_as_docker_prints_it() {
        use compose_engine::store::{ContainerRow, RecordedState};
        let row = ContainerRow {
            id: "c0ffee".into(),
            project: "p".into(),
            service: "flaky".into(),
            number: 1,
            oneoff: false,
            name: "p-flaky-1".into(),
            config_hash: String::new(),
            image: "busybox".into(),
            labels: Default::default(),
            state: RecordedState::Exited,
            info: Default::default(),
            created_at: 90,
            started_at: Some(95),
            finished_at: Some(100),
            exit_code: Some(3),
        };
        let mut e = Entry {
            row,
            live: Live::Exited(Some(3)),
            health: None,
            restarting: true,
            restarts: 2,
        };
        assert_eq!(status(&e, 105), "Restarting (3) 5 seconds ago");
        assert_eq!(e.state(), "restarting");
        e.restarting = false;
        assert_eq!(status(&e, 105), "Exited (3) 5 seconds ago");
        assert_eq!(e.state(), "exited");
    }
}

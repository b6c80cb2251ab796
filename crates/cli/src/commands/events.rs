//! `compose events`: the project's container events as they happen (the engine's journal,
//! followed by short polling), in Docker's text form or, with `--json`, as Docker Compose's
//! JSON objects. `--since` replays the journal from that time; `--until` ends the stream.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use compose_engine::events::{self, Event};

use super::up::Session;
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects.
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events of these services.
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// How often the journal is looked at for new lines.
const POLL: Duration = Duration::from_millis(100);

fn when(flag: &str, v: &Option<String>) -> anyhow::Result<Option<SystemTime>> {
    let Some(v) = v else { return Ok(None) };
    match compose_engine::logs::parse_when(v, SystemTime::now()) {
        Some(t) => Ok(Some(t)),
        None => bail!(
            "invalid --{flag} {v:?}: expected a timestamp (2006-01-02T15:04:05Z or Unix seconds) or a duration (42m)"
        ),
    }
}

pub fn run(global: &Global, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, &[])?;
    if session.from_file {
        for s in &args.services {
            if !session.model.services.contains_key(s) {
                bail!("no such service: {s}");
            }
        }
    }
    let since = when("since", &args.since)?;
    let until = when("until", &args.until)?;
    let root = session.engine.root();
    let mut offset = match since {
        Some(_) => 0,
        None => events::end(root, &session.name),
    };
    let shown = |e: &Event| {
        let t = e.system_time();
        (args.services.is_empty() || args.services.contains(&e.service))
            && since.is_none_or(|s| t >= s)
            && until.is_none_or(|u| t <= u)
    };
    let mut out = std::io::stdout().lock();
    loop {
        // The end is decided before the read, so every event up to it is printed.
        let done = until.is_some_and(|u| SystemTime::now() > u);
        let (evs, next) = events::read_from(root, &session.name, offset)
            .map_err(|e| anyhow::anyhow!("reading the events of {}: {e}", session.name))?;
        offset = next;
        for e in evs.iter().filter(|e| shown(e)) {
            // Docker Compose's text events end in an empty line (its event's text ends in
            // a newline that it prints a line of).
            let line = if args.json {
                events::json(e).to_string()
            } else {
                format!("{}\n", events::text(e))
            };
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                // The reader went away (a closed pipe): nothing left to do.
                return Ok(ExitCode::SUCCESS);
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(POLL);
    }
}

//! Container logs as the shim writes them (CRI: `<RFC3339Nano> stdout|stderr F|P <text>`),
//! read through [`compose_runtime::logs`]: partial (`P`) pieces joined into lines, filtered by
//! time (`--since`, `--until`), the last N (`--tail`), and followed.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compose::model::service::Service;
use compose_runtime::logs::{self as cri, LogLine};

use crate::error::{Error, Result};
use crate::runner;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line, partial pieces joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// RFC 3339 time (UTC, nanoseconds) the shim read its first piece.
    pub time: Option<String>,
    pub stream: Stream,
    pub text: String,
}

/// Which lines to show, by time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl Window {
    fn keeps(&self, t: SystemTime) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Joins the pieces of a stream's partial lines.
#[derive(Debug, Default)]
pub struct Joiner {
    partial: Option<(SystemTime, Line)>,
}

impl Joiner {
    /// Feeds one record; returns a complete line (with the time of its first piece).
    pub fn feed(&mut self, l: LogLine) -> Option<(SystemTime, Line)> {
        let stream = match l.stream {
            cri::Stream::Stdout => Stream::Stdout,
            cri::Stream::Stderr => Stream::Stderr,
        };
        let text = String::from_utf8_lossy(&l.bytes);
        let mut cur = match self.partial.take() {
            Some((t, mut p)) if p.stream == stream => {
                p.text.push_str(&text);
                (t, p)
            }
            _ => (
                l.time,
                Line {
                    time: Some(cri::format_time(l.time)),
                    stream,
                    text: text.into_owned(),
                },
            ),
        };
        if l.partial {
            cur.1.time.get_or_insert_with(|| cri::format_time(l.time));
            self.partial = Some(cur);
            None
        } else {
            Some(cur)
        }
    }
}

fn log_err(path: &Path, e: compose_runtime::Error) -> Error {
    Error::Other(format!("log {}: {e}", path.display()))
}

/// The lines of the log at `path` now (rotated files first) in `window`, the last `tail`
/// only when given, and how many records were read (to follow on from).
pub fn read(path: &Path, tail: Option<usize>, window: Window) -> Result<(Vec<Line>, usize)> {
    let records = cri::read_all(path).map_err(|e| log_err(path, e))?;
    let n = records.len();
    let mut j = Joiner::default();
    let mut out: Vec<Line> = records
        .into_iter()
        .filter_map(|r| j.feed(r))
        .filter(|(t, _)| window.keeps(*t))
        .map(|(_, l)| l)
        .collect();
    if let Some(t) = tail
        && out.len() > t
    {
        out.drain(..out.len() - t);
    }
    Ok((out, n))
}

/// Follows the log at `path` (across the shim's rotations and restarts of the container,
/// which append to it) after its first `skip` records: calls `emit` for each new line in
/// `window` until `done()` and the file is drained.
pub fn follow(
    path: &Path,
    skip: usize,
    window: Window,
    mut emit: impl FnMut(Line),
    done: impl FnMut() -> bool,
) -> Result<()> {
    let mut j = Joiner::default();
    for r in cri::follow(path, done).skip(skip) {
        let r = r.map_err(|e| log_err(path, e))?;
        if let Some((t, l)) = j.feed(r) {
            if window.until.is_some_and(|u| t >= u) {
                return Ok(());
            }
            if window.keeps(t) {
                emit(l);
            }
        }
    }
    Ok(())
}

/// Parses `--since`/`--until` as Docker does: an RFC 3339 time (`2026-01-02T03:04:05Z`,
/// fraction optional), a Unix timestamp (`1767323045.5`), or a duration before `now`
/// (`10m`, `1h30m`, `2s`).
pub fn parse_when(s: &str, now: SystemTime) -> Option<SystemTime> {
    let s = s.trim();
    if let Some(t) = cri::parse_time(s) {
        return Some(t);
    }
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    now.checked_sub(parse_duration(s)?)
}

/// `1h30m`, `10m`, `2s`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    // Go's rules, as the Compose loader reads them; a negative span is no span.
    let d = compose::model::units::Duration::parse(s).ok()?;
    (d.nanos() >= 0).then(|| d.as_std())
}

/// The log rotation of a service: `logging.options.max-size` and `max-file` (json-file's
/// and local's options), as (bytes, files).
pub fn rotation(name: &str, svc: &Service) -> Result<(Option<u64>, u32)> {
    let Some(l) = &svc.logging else {
        return Ok((None, 1));
    };
    let bad = |what: &str, v: &str| {
        Error::Other(format!(
            "service \"{name}\": logging option {what}: invalid value {v:?}"
        ))
    };
    let size = match l.options.get("max-size") {
        Some(v) if v != "-1" => Some(runner::parse_size(v).ok_or_else(|| bad("max-size", v))?),
        _ => None,
    };
    let files = match l.options.get("max-file") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("max-file", v))?,
        None => 1,
    };
    Ok((size, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, stream: cri::Stream, partial: bool, text: &str) -> LogLine {
        LogLine {
            time: UNIX_EPOCH + Duration::from_secs(t),
            stream,
            partial,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn partial_pieces_join_with_the_first_time() {
        let mut j = Joiner::default();
        assert_eq!(j.feed(rec(1, cri::Stream::Stderr, true, "par")), None);
        let (t, l) = j
            .feed(rec(2, cri::Stream::Stderr, false, "tial"))
            .unwrap_or_else(|| panic!("no line"));
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(l.text, "partial");
        assert_eq!(l.stream, Stream::Stderr);
        assert_eq!(l.time.as_deref(), Some("1970-01-01T00:00:01.000000000Z"));
    }

    #[test]
    fn read_tails_and_windows_a_cri_log() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("log");
        std::fs::write(
            &p,
            "1970-01-01T00:00:01Z stdout F a\n1970-01-01T00:00:02Z stderr F b\n1970-01-01T00:00:03Z stdout F c\n",
        )?;
        let texts = |v: Vec<Line>| v.into_iter().map(|l| l.text).collect::<Vec<_>>();
        let (all, n) = read(&p, None, Window::default())?;
        assert_eq!(
            (texts(all), n),
            (vec!["a".into(), "b".into(), "c".into()], 3)
        );
        assert_eq!(texts(read(&p, Some(1), Window::default())?.0), ["c"]);
        let w = Window {
            since: Some(UNIX_EPOCH + Duration::from_secs(2)),
            until: Some(UNIX_EPOCH + Duration::from_secs(3)),
        };
        assert_eq!(texts(read(&p, None, w)?.0), ["b"]);
        let mut got = Vec::new();
        follow(&p, 1, Window::default(), |l| got.push(l.text), || true)?;
        assert_eq!(got, ["b", "c"]);
        Ok(())
    }

    #[test]
    fn rotation_comes_from_the_logging_options()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let svc = |opts: &[(&str, &str)]| Service {
            logging: Some(compose::model::Logging {
                driver: "json-file".into(),
                options: opts
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
            ..Service::default()
        };
        assert_eq!(rotation("a", &Service::default())?, (None, 1));
        let both = svc(&[("max-size", "10m"), ("max-file", "3")]);
        assert_eq!(rotation("a", &both)?, (Some(10 << 20), 3));
        assert_eq!(rotation("a", &svc(&[("max-size", "-1")]))?, (None, 1));
        let bad = rotation("web", &svc(&[("max-file", "0")]));
        let msg = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("service \"web\"") && msg.contains("max-file"),
            "{msg}"
        );
        assert!(rotation("a", &svc(&[("max-size", "big")])).is_err());
        Ok(())
    }

    #[test]
    fn since_and_until_parse_as_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(
            parse_when("1970-01-01T00:00:05Z", now),
            Some(UNIX_EPOCH + Duration::from_secs(5))
        );
        assert_eq!(
            parse_when("7.5", now),
            Some(UNIX_EPOCH + Duration::from_millis(7500))
        );
        assert_eq!(
            parse_when("1h30m", now),
            Some(UNIX_EPOCH + Duration::from_secs(10_000 - 5400))
        );
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_when("soon", now), None);
        assert_eq!(parse_duration("10x"), None);
    }
}

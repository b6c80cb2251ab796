//! The per-project events journal: one JSON line per container lifecycle step, appended to
//! `<data root>/events/<project>.jsonl`, which `compose events` tails.
//!
//! Who emits what:
//! - the engine's verbs (here): `create`, `start`, `kill`, `stop`, `pause`, `unpause`,
//!   `restart`, `destroy`;
//! - the supervisor (wired at merge): `die` (attribute `exitCode`), `restart` when a restart
//!   policy starts a container again, `health_status: healthy|unhealthy`, by calling
//!   [`emit`] with [`Event::container`] and [`Event::with`].
//!
//! Emitting is one `O_APPEND` write of one line, so concurrent writers (CLI and supervisor)
//! never interleave within a line; it never fails the operation that emits (a journal that
//! cannot be written is logged with `tracing` and skipped).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::store::ContainerRow;

/// One container event, as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// `create`, `start`, `die`, `stop`, `kill`, `pause`, `unpause`, `destroy`, `restart`,
    /// `health_status: healthy`...
    pub action: String,
    /// The container id (64 hex digits).
    pub id: String,
    pub service: String,
    /// `image`, `name`, the container's labels, and per action `exitCode` or `signal`.
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// An event of `row` now: its image, name and labels as attributes.
    pub fn container(row: &ContainerRow, action: &str) -> Event {
        let mut attributes = row.labels.clone();
        attributes.insert("image".into(), row.image.clone());
        attributes.insert("name".into(), row.name.clone());
        Event {
            time: now_nanos(),
            action: action.to_string(),
            id: row.id.clone(),
            service: row.service.clone(),
            attributes,
        }
    }

    /// The same with one more attribute (`exitCode`, `signal`).
    pub fn with(mut self, key: &str, value: impl ToString) -> Event {
        self.attributes.insert(key.to_string(), value.to_string());
        self
    }

    /// The time as a `SystemTime`.
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_nanos(u64::try_from(self.time).unwrap_or(0))
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The journal file of `project` under the data root `root`.
pub fn path(root: &Path, project: &str) -> PathBuf {
    root.join("events").join(format!("{project}.jsonl"))
}

/// Appends `ev` to the project's journal. Never fails: the operation that emits goes on.
pub fn emit(root: &Path, project: &str, ev: &Event) {
    if let Err(e) = try_emit(root, project, ev) {
        tracing::warn!(%project, action = %ev.action, error = %e, "events journal not written");
    }
}

/// The journal's size cap: past it, the next event starts it afresh (followers notice the
/// shorter file and read from its start), so a long-lived project's journal stays small.
const MAX_JOURNAL: u64 = 16 << 20;

fn try_emit(root: &Path, project: &str, ev: &Event) -> std::io::Result<()> {
    try_emit_capped(root, project, ev, MAX_JOURNAL)
}

fn try_emit_capped(root: &Path, project: &str, ev: &Event, cap: u64) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(ev).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let file = path(root, project);
    let open = || {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&file)
    };
    let mut f = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()?
        }
        Err(e) => return Err(e),
    };
    if f.metadata()?.len() >= cap {
        f.set_len(0)?;
    }
    // One write of the whole line: O_APPEND places it atomically at the end.
    f.write_all(&line)
}

/// Reads the whole events after byte `offset` of the journal; returns them and the offset
/// after the last whole line (a line still being written is left for the next read). A
/// missing journal has no events.
pub fn read_from(root: &Path, project: &str, offset: u64) -> std::io::Result<(Vec<Event>, u64)> {
    let mut f = match std::fs::File::open(path(root, project)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    // A journal shorter than where we were was removed and begun again: start over.
    let offset = if len < offset { 0 } else { offset };
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let events = buf[..whole]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    Ok((events, offset + whole as u64))
}

/// The journal's length now: where a live follower starts.
pub fn end(root: &Path, project: &str) -> u64 {
    std::fs::metadata(path(root, project)).map_or(0, |m| m.len())
}

/// Docker's text form: `2026-11-29 14:00:00.000000 container start <id> (image=..., name=...)`.
pub fn text(ev: &Event) -> String {
    let t = compose_runtime::logs::format_time(ev.system_time());
    // `2026-11-29T14:00:00.123456789Z` → `2026-11-29 14:00:00.123456`.
    let t = t.get(..26).unwrap_or(&t).replacen('T', " ", 1);
    let attrs: Vec<String> = ev
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{t} container {} {} ({})",
        ev.action,
        ev.id,
        attrs.join(", ")
    )
}

/// Docker Compose's `events --json` object: time, type, action, id, service, attributes.
pub fn json(ev: &Event) -> serde_json::Value {
    serde_json::json!({
        "time": compose_runtime::logs::format_time(ev.system_time()),
        "type": "container",
        "action": ev.action,
        "id": ev.id,
        "service": ev.service,
        "attributes": ev.attributes,
    })
}

impl Engine {
    /// Journals `action` for `row` (see [`emit`]).
    pub(crate) fn journal(&self, row: &ContainerRow, action: &str) {
        emit(&self.root, &row.project, &Event::container(row, action));
    }

    /// Journals `ev` for `project`.
    pub(crate) fn journal_event(&self, project: &str, ev: &Event) {
        emit(&self.root, project, ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), "p-web-1".to_string());
        attributes.insert("image".to_string(), "busybox".to_string());
        Event {
            time: 1_764_424_800_123_456_789,
            action: action.into(),
            id: "abc".into(),
            service: "web".into(),
            attributes,
        }
    }

    #[test]
    fn journal_appends_and_reads_whole_lines() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(read_from(dir.path(), "p", 0)?.0, Vec::new());
        emit(dir.path(), "p", &ev("create"));
        emit(dir.path(), "p", &ev("start"));
        let (all, off) = read_from(dir.path(), "p", 0)?;
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["create", "start"]
        );
        assert_eq!(off, end(dir.path(), "p"));
        // A half-written line waits for its end.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path(), "p"))?;
        f.write_all(b"{\"time\":1")?;
        let (none, off2) = read_from(dir.path(), "p", off)?;
        assert!(none.is_empty());
        assert_eq!(off2, off);
        Ok(())
    }

    #[test]
    fn a_full_journal_starts_afresh_and_followers_start_over() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        try_emit_capped(dir.path(), "p", &ev("create"), 1)?;
        try_emit_capped(dir.path(), "p", &ev("start"), 1)?;
        let (all, off) = read_from(dir.path(), "p", 0)?;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].action, "start");
        try_emit_capped(dir.path(), "p", &ev("stop"), 1)?;
        // The follower's offset is past the new end: it reads the new journal whole.
        let (next, _) = read_from(dir.path(), "p", off + 1)?;
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].action, "stop");
        Ok(())
    }

    #[test]
    fn emit_never_fails_on_a_bad_root() {
        // A file where the events dir should be: the write fails, quietly.
        let Ok(dir) = tempfile::tempdir() else { return };
        let _ = std::fs::write(dir.path().join("events"), b"x");
        emit(dir.path(), "p", &ev("start"));
        assert!(read_from(dir.path(), "p", 0).is_err() || end(dir.path(), "p") == 0);
    }

    #[test]
    fn text_reads_like_docker_compose() {
        assert_eq!(
            text(&ev("start")),
            "2025-11-29 14:00:00.123456 container start abc (image=busybox, name=p-web-1)"
        );
        let j = json(&ev("stop"));
        assert_eq!(j["type"], "container");
        assert_eq!(j["action"], "stop");
        assert_eq!(j["service"], "web");
        assert_eq!(j["attributes"]["name"], "p-web-1");
        assert_eq!(j["time"], "2025-11-29T14:00:00.123456789Z");
    }
}

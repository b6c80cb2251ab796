//! The container log in CRI format, as the shim writes it: one line per output line,
//! `2026-01-02T03:04:05.123456789Z stdout F text`, `P` instead of `F` for a piece of a
//! longer line (or the last bytes of a stream that ended without a newline). Rotated files
//! are `log.1` (newest) to `log.N`.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Which output a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When the shim read it.
    pub time: SystemTime,
    pub stream: Stream,
    /// A piece of a line: the next line of the same stream continues it.
    pub partial: bool,
    /// The text, without the newline.
    pub bytes: Vec<u8>,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// RFC 3339 in UTC with nanoseconds: `2026-01-02T03:04:05.123456789Z`.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_nanos()
    )
}

/// Parses what [`format_time`] writes (any number of fraction digits, `Z` only).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut dp = date.splitn(3, '-').map(str::parse::<u32>);
    let (y, mo, d) = (dp.next()?.ok()?, dp.next()?.ok()?, dp.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.splitn(3, ':').map(str::parse::<u64>);
    let (h, mi, sec) = (tp.next()?.ok()?, tp.next()?.ok()?, tp.next()?.ok()?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let days = u64::try_from(days_from_civil(i64::from(y), mo, d)).ok()?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Parses one line of the log (without its newline).
pub fn parse_line(line: &[u8]) -> Option<LogLine> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = parse_time(std::str::from_utf8(parts.next()?).ok()?)?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(LogLine {
        time,
        stream,
        partial,
        bytes: parts.next().unwrap_or_default().to_vec(),
    })
}

/// The rotated files of `log` that exist, oldest first.
pub fn rotated(log: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for i in 1.. {
        let p = numbered(log, i);
        if !p.exists() {
            break;
        }
        v.push(p);
    }
    v.reverse();
    v
}

/// Whether rotated file `i` (`log.i`) exists.
pub fn numbered_exists(log: &Path, i: u32) -> bool {
    numbered(log, i).exists()
}

pub(crate) fn numbered(log: &Path, i: u32) -> PathBuf {
    let mut s = log.as_os_str().to_os_string();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

fn bad(path: &Path, line: &[u8]) -> Error {
    Error::BadLogLine {
        path: path.to_path_buf(),
        line: String::from_utf8_lossy(line).into_owned(),
    }
}

/// Every line of the log now, the rotated files' first.
pub fn read_all(log: &Path) -> Result<Vec<LogLine>> {
    let mut out = Vec::new();
    for p in rotated(log)
        .into_iter()
        .chain(std::iter::once(log.to_path_buf()))
    {
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        for l in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.push(parse_line(l).ok_or_else(|| bad(&p, l))?);
        }
    }
    Ok(out)
}

/// Reads the log from its oldest rotated file on, then keeps reading as it grows and
/// across rotation; ends once `done()` (e.g. "the container's exit is recorded", which the
/// shim writes after its last log line) is true and the file is drained.
pub fn follow<F: FnMut() -> bool>(log: &Path, done: F) -> Follow<F> {
    Follow {
        path: log.to_path_buf(),
        old: rotated(log).into(),
        cur: None,
        ino: 0,
        buf: Vec::new(),
        out: VecDeque::new(),
        done,
        done_seen: false,
        finished: false,
        poll: Duration::from_millis(20),
    }
}

/// The iterator [`follow`] returns; `next` blocks while the container runs.
pub struct Follow<F> {
    path: PathBuf,
    old: VecDeque<PathBuf>,
    cur: Option<std::fs::File>,
    ino: u64,
    buf: Vec<u8>,
    out: VecDeque<Result<LogLine>>,
    done: F,
    done_seen: bool,
    finished: bool,
    poll: Duration,
}

impl<F: FnMut() -> bool> Follow<F> {
    /// Queues the complete lines of `buf`.
    fn split(&mut self) {
        let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.buf.split_off(end + 1);
        let whole = std::mem::replace(&mut self.buf, rest);
        for l in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r = parse_line(l).ok_or_else(|| bad(&self.path, l));
            self.out.push_back(r);
        }
    }

    fn read_old(&mut self, p: &Path) {
        match std::fs::read(p) {
            Ok(mut d) => {
                if d.last().is_some_and(|&b| b != b'\n') {
                    d.push(b'\n');
                }
                self.buf = d;
                self.split();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.out.push_back(Err(Error::io("read", p, e))),
        }
    }

    /// One step of reading the current file; false when there is nothing to do but wait.
    fn step(&mut self) -> Result<bool> {
        let Some(f) = &mut self.cur else {
            match std::fs::File::open(&self.path) {
                Ok(f) => {
                    self.ino = f
                        .metadata()
                        .map_err(|e| Error::io("stat", &self.path, e))?
                        .ino();
                    self.cur = Some(f);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(Error::io("open", &self.path, e)),
            }
        };
        let mut chunk = [0u8; 16384];
        let n = f
            .read(&mut chunk)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if n > 0 {
            self.buf.extend_from_slice(&chunk[..n]);
            self.split();
            return Ok(true);
        }
        // At the end: a new file under the name means the shim rotated this one.
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() != self.ino) {
            self.cur = None;
            self.buf.clear();
            return Ok(true);
        }
        Ok(false)
    }
}

impl<F: FnMut() -> bool> Iterator for Follow<F> {
    type Item = Result<LogLine>;

    fn next(&mut self) -> Option<Result<LogLine>> {
        loop {
            if let Some(l) = self.out.pop_front() {
                return Some(l);
            }
            if self.finished {
                return None;
            }
            if let Some(p) = self.old.pop_front() {
                self.read_old(&p);
                continue;
            }
            match self.step() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
            if self.done_seen {
                self.finished = true;
            } else if (self.done)() {
                // One more pass: what was written before the exit record.
                self.done_seen = true;
            } else {
                std::thread::sleep(self.poll);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_767_323_045, 123_456_789);
        let s = format_time(t);
        assert_eq!(s, "2026-01-02T03:04:05.123456789Z");
        assert_eq!(parse_time(&s), Some(t));
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = parse_time("2024-02-29T23:59:59.5Z");
        assert_eq!(
            leap,
            Some(UNIX_EPOCH + Duration::new(1_709_251_199, 500_000_000))
        );
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "x",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_parse() {
        let l = parse_line(b"2026-01-02T03:04:05.000000001Z stderr P a b ").unwrap_or_else(|| {
            panic!("unparsed");
        });
        assert_eq!(
            (l.stream, l.partial, l.bytes.as_slice()),
            (Stream::Stderr, true, &b"a b "[..])
        );
        let empty = parse_line(b"2026-01-02T03:04:05Z stdout F").map(|l| l.bytes);
        assert_eq!(empty, Some(Vec::new()));
        assert!(parse_line(b"2026-01-02T03:04:05Z stdin F x").is_none());
        assert!(parse_line(b"2026-01-02T03:04:05Z stdout X x").is_none());
    }
}

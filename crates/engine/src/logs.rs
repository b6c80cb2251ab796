//! Container logs: CRI lines (`<RFC3339Nano> stdout|stderr F|P <text>`, what the shim
//! writes) joined across partial (`P`) lines; a line in no such form is raw output (what a
//! container writes straight to its log file before the shim lands), taken as stdout.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line, partial lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// RFC 3339 time, when the log holds one.
    pub time: Option<String>,
    pub stream: Stream,
    pub text: String,
}

/// A parsed CRI line: time, stream, whether it ends a line, text.
fn parse_cri(line: &str) -> Option<(&str, Stream, bool, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let looks_like_time = time.len() >= 20
        && time.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && time.as_bytes().get(10) == Some(&b'T')
        && (time.ends_with('Z') || time.contains('+') || time[11..].contains('-'));
    if !looks_like_time {
        return None;
    }
    let (stream, rest) = rest.split_once(' ')?;
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let (tag, text) = match rest.split_once(' ') {
        Some((t, x)) => (t, x),
        None => (rest, ""),
    };
    // Tags may carry more flags after ':' in later CRI versions.
    let full = match tag.split(':').next() {
        Some("F") => true,
        Some("P") => false,
        _ => return None,
    };
    Some((time, stream, full, text))
}

/// Joins raw lines (without their newline) into log lines.
#[derive(Debug, Default)]
pub struct Parser {
    partial: Option<Line>,
}

impl Parser {
    /// Feeds one line of the file; returns a complete log line when there is one.
    pub fn feed(&mut self, raw: &str) -> Option<Line> {
        match parse_cri(raw) {
            Some((time, stream, full, text)) => {
                let mut line = match self.partial.take() {
                    Some(mut p) if p.stream == stream => {
                        p.text.push_str(text);
                        p
                    }
                    _ => Line {
                        time: Some(time.to_string()),
                        stream,
                        text: text.to_string(),
                    },
                };
                if full {
                    Some(line)
                } else {
                    line.time.get_or_insert_with(|| time.to_string());
                    self.partial = Some(line);
                    None
                }
            }
            None => Some(Line {
                time: None,
                stream: Stream::Stdout,
                text: raw.to_string(),
            }),
        }
    }
}

/// Every complete line of the log at `path` (none if it does not exist), the last `tail`
/// only when given, and the offset read up to.
pub fn read(path: &Path, tail: Option<usize>) -> std::io::Result<(Vec<Line>, u64)> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut parser = Parser::default();
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        offset += n as u64;
        let text = String::from_utf8_lossy(&buf[..n - 1]);
        if let Some(l) = parser.feed(&text) {
            out.push(l);
        }
    }
    if let Some(t) = tail
        && out.len() > t
    {
        out.drain(..out.len() - t);
    }
    Ok((out, offset))
}

/// Follows the log from `offset`: calls `emit` for each new complete line, until `done()`
/// says the writer is gone and the file has no more.
pub fn follow(
    path: &Path,
    mut offset: u64,
    mut emit: impl FnMut(Line),
    done: impl Fn() -> bool,
) -> std::io::Result<()> {
    let mut parser = Parser::default();
    let mut pending = Vec::new();
    loop {
        let finished = done();
        if let Ok(mut f) = std::fs::File::open(path) {
            f.seek(SeekFrom::Start(offset))?;
            let mut chunk = Vec::new();
            f.read_to_end(&mut chunk)?;
            offset += chunk.len() as u64;
            pending.extend_from_slice(&chunk);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                if let Some(l) = parser.feed(&text) {
                    emit(l);
                }
            }
        }
        if finished {
            if !pending.is_empty() {
                let text = String::from_utf8_lossy(&pending).into_owned();
                if let Some(l) = parser.feed(&text) {
                    emit(l);
                }
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_and_partials_join() {
        let mut p = Parser::default();
        assert_eq!(
            p.feed("2026-01-02T03:04:05.123456789Z stdout F hello world"),
            Some(Line {
                time: Some("2026-01-02T03:04:05.123456789Z".into()),
                stream: Stream::Stdout,
                text: "hello world".into()
            })
        );
        assert_eq!(p.feed("2026-01-02T03:04:05.1Z stderr P par"), None);
        let l = p.feed("2026-01-02T03:04:06.1Z stderr F tial");
        assert_eq!(
            l,
            Some(Line {
                time: Some("2026-01-02T03:04:05.1Z".into()),
                stream: Stream::Stderr,
                text: "partial".into()
            })
        );
        let empty = p.feed("2026-01-02T03:04:05+01:00 stdout F");
        assert_eq!(empty.map(|l| l.text), Some(String::new()));
    }

    #[test]
    fn raw_lines_are_stdout_without_time() {
        let mut p = Parser::default();
        for raw in [
            "plain text",
            "2026 stdout F x",
            "2026-01-02T03:04:05Z stdin F x",
            "",
        ] {
            let l = p.feed(raw);
            assert_eq!(
                l,
                Some(Line {
                    time: None,
                    stream: Stream::Stdout,
                    text: raw.into()
                }),
                "{raw}"
            );
        }
    }

    #[test]
    fn read_with_tail_and_follow() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("log");
        assert_eq!(read(&p, None)?.0, Vec::new());
        std::fs::write(&p, "a\nb\n2026-01-02T03:04:05Z stdout F c\nhalf")?;
        let (all, off) = read(&p, None)?;
        let texts: Vec<_> = all.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        let (last, _) = read(&p, Some(1))?;
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].text, "c");
        let mut got = Vec::new();
        follow(&p, off, |l| got.push(l.text), || true)?;
        assert_eq!(got, ["half"]);
        Ok(())
    }
}

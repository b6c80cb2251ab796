//! The shim's side of the log: CRI lines appended to the file, rotated by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::logs::{self, Stream};

/// The log file being written.
pub(super) struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    line: Vec<u8>,
}

fn open(path: &PathBuf) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open log", path, e))
}

impl LogWriter {
    pub(super) fn new(path: PathBuf, max_size: Option<u64>, max_files: u32) -> Result<LogWriter> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("mkdir the log dir", parent, e))?;
        }
        let file = open(&path)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        Ok(LogWriter {
            path,
            file,
            size,
            max_size: max_size.filter(|&m| m > 0),
            max_files,
            line: Vec::with_capacity(256),
        })
    }

    /// Appends one line, rotating first if it would take the file past its max size.
    pub(super) fn write(&mut self, stream: Stream, partial: bool, bytes: &[u8]) -> Result<()> {
        self.line.clear();
        self.line
            .extend_from_slice(logs::format_time(SystemTime::now()).as_bytes());
        self.line.push(b' ');
        self.line.extend_from_slice(stream.as_str().as_bytes());
        self.line
            .extend_from_slice(if partial { b" P " } else { b" F " });
        self.line.extend_from_slice(bytes);
        self.line.push(b'\n');
        let len = self.line.len() as u64;
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + len > max
        {
            self.rotate()?;
        }
        // One write per line: a reader never sees half of one unless the disk is full.
        self.file
            .write_all(&self.line)
            .map_err(|e| Error::io("write log", &self.path, e))?;
        self.size += len;
        Ok(())
    }

    /// `log` becomes `log.1`, `log.1` becomes `log.2`..., the oldest beyond `max_files`
    /// goes; then a new `log`.
    fn rotate(&mut self) -> Result<()> {
        let keep = self.max_files.saturating_sub(1);
        if keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(logs::numbered(&self.path, keep));
            for i in (1..keep).rev() {
                let from = logs::numbered(&self.path, i);
                if from.exists() {
                    let to = logs::numbered(&self.path, i + 1);
                    std::fs::rename(&from, &to).map_err(|e| Error::io("rename", &from, e))?;
                }
            }
            let to = logs::numbered(&self.path, 1);
            std::fs::rename(&self.path, &to).map_err(|e| Error::io("rename", &self.path, e))?;
        }
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &std::path::Path) -> Vec<String> {
        crate::logs::read_all(p)
            .unwrap_or_default()
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect()
    }

    #[test]
    fn one_file_only_starts_over() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let p = tmp.path().join("a").join("c.log");
        let mut w = LogWriter::new(p.clone(), Some(100), 1)?;
        for i in 0..10 {
            w.write(Stream::Stdout, false, format!("line {i}").as_bytes())?;
        }
        assert!(!crate::logs::numbered_exists(&p, 1));
        let got = lines(&p);
        assert!(!got.is_empty() && got.len() < 10, "{got:?}");
        assert_eq!(got.last().map(String::as_str), Some("line 9"));
        Ok(())
    }

    #[test]
    fn rotation_keeps_max_files_and_appends_to_an_existing_log() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let p = tmp.path().join("c.log");
        let mut w = LogWriter::new(p.clone(), None, 3)?;
        w.write(Stream::Stderr, true, b"first")?;
        drop(w);
        // A new writer (a restarted container) appends, then rotates.
        let mut w = LogWriter::new(p.clone(), Some(120), 3)?;
        for i in 0..20 {
            w.write(Stream::Stdout, false, format!("n{i}").as_bytes())?;
        }
        let all = crate::logs::read_all(&p)?;
        assert!(crate::logs::numbered_exists(&p, 2) && !crate::logs::numbered_exists(&p, 3));
        assert_eq!(all.last().map(|l| l.bytes.clone()), Some(b"n19".to_vec()));
        assert!(
            all.iter().all(|l| l.bytes != b"first"),
            "the oldest file went"
        );
        Ok(())
    }
}

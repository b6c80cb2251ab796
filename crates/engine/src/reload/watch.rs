//! The project's files under inotify (notify). Their directories are watched, not the files:
//! editors save by writing a new file and renaming it over the old one, which a watch on
//! the old inode would not see; and a file that does not exist yet (`.env`) may be created.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use super::ReloadError;

/// What the loop's channel carries.
pub(super) enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// The watched directories and the files that matter in them.
pub(super) struct Watcher {
    inner: notify::RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
}

impl Watcher {
    pub(super) fn new(tx: mpsc::Sender<Msg>) -> Result<Watcher, ReloadError> {
        let inner = notify::recommended_watcher(move |e| {
            let _ = tx.send(Msg::Fs(e));
        })
        .map_err(|source| ReloadError::Watch {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(Watcher {
            inner,
            dirs: BTreeSet::new(),
            files: BTreeSet::new(),
        })
    }

    /// Watches exactly `files` (their directories), dropping the watches no longer needed.
    pub(super) fn follow(&mut self, files: &[PathBuf]) -> Result<(), ReloadError> {
        // `-` is stdin: nothing to watch.
        self.files = files
            .iter()
            .filter(|f| f.as_os_str() != "-")
            .cloned()
            .collect();
        let dirs: BTreeSet<PathBuf> = self
            .files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .filter(|d| d.is_dir())
            .collect();
        for gone in self.dirs.difference(&dirs) {
            let _ = self.inner.unwatch(gone);
        }
        for d in dirs.difference(&self.dirs) {
            self.inner
                .watch(d, RecursiveMode::NonRecursive)
                .map_err(|source| ReloadError::Watch {
                    path: d.clone(),
                    source,
                })?;
        }
        self.dirs = dirs;
        Ok(())
    }

    /// The project's files named by `e` when it is a change (reads are not).
    fn touched(&self, e: &notify::Event) -> Vec<PathBuf> {
        let change = matches!(
            e.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
        );
        if !change {
            return Vec::new();
        }
        e.paths
            .iter()
            .filter(|p| self.files.contains(*p))
            .cloned()
            .collect()
    }

    /// Waits for a change to the files, then for `quiet` without one (a burst of events is
    /// one change). The files that changed, or `None` when the loop must stop.
    pub(super) fn next_change(
        &self,
        rx: &mpsc::Receiver<Msg>,
        quiet: Duration,
    ) -> Option<Vec<PathBuf>> {
        let mut changed = BTreeSet::new();
        while changed.is_empty() {
            match rx.recv() {
                Ok(Msg::Fs(Ok(e))) => changed.extend(self.touched(&e)),
                Ok(Msg::Fs(Err(err))) => tracing::warn!(?err, "file watch"),
                Ok(Msg::Stop) | Err(_) => return None,
            }
        }
        loop {
            match rx.recv_timeout(quiet) {
                Ok(Msg::Fs(Ok(e))) => changed.extend(self.touched(&e)),
                Ok(Msg::Fs(Err(err))) => tracing::warn!(?err, "file watch"),
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
        Some(changed.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_writes_is_one_change_and_other_files_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("compose.yaml");
        std::fs::write(&file, "a").unwrap();
        let (tx, rx) = mpsc::channel();
        let mut w = Watcher::new(tx.clone()).unwrap();
        w.follow(std::slice::from_ref(&file)).unwrap();
        std::fs::write(d.path().join("other.txt"), "x").unwrap();
        // An editor's save: a temp file renamed over the original, then a touch.
        for i in 0..5 {
            let tmp = d.path().join(format!(".compose.yaml.{i}"));
            std::fs::write(&tmp, format!("v{i}")).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
        }
        let first = w.next_change(&rx, Duration::from_millis(300)).unwrap();
        assert_eq!(first, [file]);
        // Nothing else queued from the burst: the next message is the stop.
        tx.send(Msg::Stop).unwrap();
        assert!(w.next_change(&rx, Duration::from_millis(300)).is_none());
    }

    #[test]
    fn reading_a_file_is_not_a_change() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join(".env");
        std::fs::write(&file, "A=1").unwrap();
        let (tx, rx) = mpsc::channel();
        let mut w = Watcher::new(tx.clone()).unwrap();
        w.follow(std::slice::from_ref(&file)).unwrap();
        let _ = std::fs::read_to_string(&file).unwrap();
        std::fs::write(d.path().join("late.env"), "B=1").unwrap();
        // Followed later: a file created after the watch began.
        w.follow(&[file.clone(), d.path().join("new.env")]).unwrap();
        std::fs::write(d.path().join("new.env"), "C=1").unwrap();
        let got = w.next_change(&rx, Duration::from_millis(300)).unwrap();
        assert_eq!(got, [d.path().join("new.env")]);
    }
}

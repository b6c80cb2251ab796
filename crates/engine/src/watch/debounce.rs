//! Debouncing: changes gather into one batch until the files have been quiet for a moment
//! (an editor's save is several events; a `git checkout` of 1,000 files is thousands), or
//! until the batch has waited long enough, so a busy tree still gets synced.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Changed paths waiting to be acted on.
#[derive(Debug)]
pub struct Batcher {
    /// How long the files must be quiet before the batch goes.
    quiet: Duration,
    /// How long a batch may wait at most, however busy the files.
    longest: Duration,
    paths: BTreeSet<PathBuf>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Batcher {
    pub fn new(quiet: Duration, longest: Duration) -> Batcher {
        Batcher {
            quiet,
            longest,
            paths: BTreeSet::new(),
            first: None,
            last: None,
        }
    }

    /// Notes a change of `path` at `now`.
    pub fn add(&mut self, path: PathBuf, now: Instant) {
        self.paths.insert(path);
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Whether the batch should go at `now`.
    pub fn due(&self, now: Instant) -> bool {
        match (self.first, self.last) {
            (Some(first), Some(last)) => {
                now.duration_since(last) >= self.quiet || now.duration_since(first) >= self.longest
            }
            _ => false,
        }
    }

    /// How long to wait for more events before checking [`Batcher::due`] again (`None`:
    /// nothing pending, wait as long as you like).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let (first, last) = (self.first?, self.last?);
        let by_quiet = (last + self.quiet).saturating_duration_since(now);
        let by_age = (first + self.longest).saturating_duration_since(now);
        Some(by_quiet.min(by_age))
    }

    /// The batch, sorted; the batcher starts empty again.
    pub fn take(&mut self) -> Vec<PathBuf> {
        self.first = None;
        self.last = None;
        std::mem::take(&mut self.paths).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(30);
    const L: Duration = Duration::from_secs(2);

    #[test]
    fn a_burst_is_one_batch() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Q, L);
        assert!(!b.due(t0));
        assert_eq!(b.wait(t0), None);
        // 1,000 files, one every 0.1 ms: never quiet for 30 ms until the end.
        for i in 0..1000u64 {
            let t = t0 + Duration::from_micros(100 * i);
            b.add(PathBuf::from(format!("/p/f{i}")), t);
            assert!(!b.due(t));
        }
        let end = t0 + Duration::from_micros(100 * 999);
        assert!(!b.due(end + Q / 2));
        assert!(b.due(end + Q));
        assert_eq!(b.take().len(), 1000);
        assert!(!b.due(end + Q * 10), "empty after take");
    }

    #[test]
    fn repeated_saves_of_one_file_are_one_path() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Q, L);
        for i in 0..5 {
            b.add(PathBuf::from("/p/a.txt"), t0 + Duration::from_millis(i));
        }
        assert_eq!(b.take(), vec![PathBuf::from("/p/a.txt")]);
    }

    #[test]
    fn a_busy_tree_still_flushes_after_the_longest_wait() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Q, L);
        let mut t = t0;
        while t < t0 + L {
            b.add(PathBuf::from("/p/busy"), t);
            assert!(!b.due(t));
            t += Duration::from_millis(10);
        }
        b.add(PathBuf::from("/p/busy"), t);
        assert!(b.due(t), "waited {:?}", t - t0);
    }

    #[test]
    fn wait_is_the_nearer_deadline() {
        let t0 = Instant::now();
        let mut b = Batcher::new(Q, L);
        b.add(PathBuf::from("/p/a"), t0);
        assert_eq!(b.wait(t0), Some(Q));
        assert_eq!(b.wait(t0 + Q), Some(Duration::ZERO));
        let late = t0 + L - Duration::from_millis(5);
        b.add(PathBuf::from("/p/b"), late);
        assert_eq!(b.wait(late), Some(Duration::from_millis(5)));
    }
}

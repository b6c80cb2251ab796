//! The upstream servers, read from a resolv.conf file and read again when it changes.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// glibc uses at most three `nameserver` lines (MAXNS); so do we.
pub const MAX_SERVERS: usize = 3;

/// The upstream servers named by a resolv.conf file, cached until the file changes.
#[derive(Debug)]
pub struct Upstreams {
    path: PathBuf,
    port: u16,
    cached: Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    stamp: Option<Stamp>,
    servers: Vec<SocketAddr>,
}

/// What tells one version of the file from the next: an edit in place changes the times,
/// a replace by rename changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Upstreams {
    /// Servers from `path`, each asked on `port` (53 but in tests).
    pub fn new(path: impl Into<PathBuf>, port: u16) -> Self {
        Self {
            path: path.into(),
            port,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The file this reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current servers: one `stat` per call, a read only when the file changed. A
    /// missing or unreadable file means no servers (queries then fail with SERVFAIL).
    pub fn servers(&self) -> Vec<SocketAddr> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        });
        let mut cached = match self.cached.lock() {
            Ok(guard) => guard,
            // A panic elsewhere cannot leave this half-written: it holds plain values.
            Err(poisoned) => poisoned.into_inner(),
        };
        if cached.stamp != stamp || stamp.is_none() {
            cached.servers = match std::fs::read_to_string(&self.path) {
                Ok(text) => parse(&text, self.port),
                Err(err) => {
                    tracing::warn!(?err, path = ?self.path, "cannot read upstream servers");
                    Vec::new()
                }
            };
            cached.stamp = stamp;
            tracing::debug!(servers = ?cached.servers, path = ?self.path, "upstream servers");
        }
        cached.servers.clone()
    }
}

/// The first [`MAX_SERVERS`] `nameserver` addresses of resolv.conf text, on `port`.
/// Lines that are not an address (or an IPv6 address with a zone, which needs an
/// interface we do not track) are skipped, as the C library does.
pub fn parse(text: &str, port: u16) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|word| word.parse::<IpAddr>().ok())
        })
        .map(|ip| SocketAddr::new(ip, port))
        .take(MAX_SERVERS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameservers() {
        let text = "# comment\nsearch example.com\nnameserver 10.0.0.1\n; other\n\
                    nameserver fe80::1%eth0\nnameserver  2001:db8::1 \nnameserver bogus\n\
                    nameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        let got = parse(text, 53);
        let want: Vec<SocketAddr> = ["10.0.0.1:53", "[2001:db8::1]:53", "10.0.0.2:53"]
            .iter()
            .map(|s| s.parse().expect("literal"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rereads_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("resolv.conf");
        let up = Upstreams::new(&path, 5353);
        assert!(up.servers().is_empty());
        std::fs::write(&path, "nameserver 127.0.0.1\n").expect("write");
        assert_eq!(
            up.servers(),
            vec!["127.0.0.1:5353".parse().expect("literal")]
        );
        // Replaced by rename, as resolvconf tools do: a new inode, the same size.
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, "nameserver 127.0.0.2\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(
            up.servers(),
            vec!["127.0.0.2:5353".parse().expect("literal")]
        );
    }
}

//! Layer unpacking against the real kernel: run as root (chown, devices, trusted xattrs,
//! overlay mounts). Every test works in its own temp dirs and leaves nothing behind.

// Test helpers outside #[test] fns: a failed setup step should panic right there.
#![allow(clippy::unwrap_used)]

mod hostile;
mod layer;
mod snapshot;
mod whiteout;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use compose_image::unpack::{Compression, UnpackError, UnpackOptions, UnpackStats, unpack_layer};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// A layer tar built entry by entry, names written raw into the header so hostile paths
/// (`..`, absolute) go in unaltered.
pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }
}

pub const MTIME: u64 = 1_600_000_000;

impl Layer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An entry with the raw `name` and `link` bytes (each under 100 bytes).
    pub fn raw(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// An entry through the tar crate's own path handling (long names become GNU records).
    pub fn entry(
        &mut self,
        kind: EntryType,
        name: &str,
        link: Option<&str>,
        f: impl FnOnce(&mut Header),
        data: &[u8],
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        f(&mut h);
        match link {
            Some(l) => self.b.append_link(&mut h, name, l).unwrap(),
            None => self.b.append_data(&mut h, name, data).unwrap(),
        }
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(EntryType::Regular, name, None, |_| {}, data)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(EntryType::Directory, name, None, |_| {}, b"")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Symlink, name, Some(target), |_| {}, b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Link, name, Some(target), |_| {}, b"")
    }

    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    pub fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn diff_id(tar: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(tar)))
}

/// A temp dir that also serves as an unpack root.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("unpack-test-")
        .tempdir()
        .unwrap()
}

/// Unpacks a plain tar into a new `root` under a fresh temp dir.
pub fn unpack(
    tar: &[u8],
    opts: &UnpackOptions,
) -> (tempfile::TempDir, PathBuf, Result<UnpackStats, UnpackError>) {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = unpack_layer(tar, Compression::Detect, &root, opts);
    (tmp, root, r)
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Tests here need root; say so loudly instead of failing obscurely.
#[macro_export]
macro_rules! need_root {
    () => {
        if !$crate::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

pub fn lmeta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Every path under `dir`, for assertions that nothing appeared there.
pub fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if lmeta(&p).is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

pub fn nlink(p: &Path) -> u64 {
    lmeta(p).nlink()
}

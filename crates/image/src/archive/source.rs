//! Where a load reads its files from: an OCI layout directory, or the members of a tar
//! (docker-archive, OCI archive) indexed once and then read in place by offset.
//!
//! A tar's member names are only ever keys of the index: nothing of the archive is written
//! to a path. Absolute names and names with `..` are refused outright; symlink and hardlink
//! members (skopeo's docker-archives link legacy layer paths to the real files) resolve
//! inside the archive's own namespace, never above its root.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::store::{Result, StoreError, io_err};

/// Most hops through link members to reach a file.
const MAX_LINK_HOPS: usize = 16;

/// A readable set of named files.
pub(crate) trait Source {
    /// The archive or layout, for error messages.
    fn name(&self) -> &Path;
    /// Whether a file of this name (relative, `/`-separated) is there.
    fn exists(&self, member: &str) -> bool;
    /// Opens a file and tells its size.
    fn open(&self, member: &str) -> Result<(Box<dyn Read + Send + '_>, u64)>;

    /// Reads a whole small file (a JSON document), refusing more than `limit` bytes.
    fn read_small(&self, member: &str, limit: u64) -> Result<Vec<u8>> {
        let (r, size) = self.open(member)?;
        if size > limit {
            return Err(StoreError::BadArchive {
                archive: self.name().to_owned(),
                reason: format!("{member} is {size} bytes, more than the {limit} allowed"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(limit)
            .read_to_end(&mut buf)
            .map_err(io_err(self.name(), "read member"))?;
        Ok(buf)
    }

    fn missing(&self, what: &str, member: &str) -> StoreError {
        StoreError::MissingMember {
            archive: self.name().to_owned(),
            what: what.to_owned(),
            member: member.to_owned(),
        }
    }
}

/// An OCI image layout on disk.
pub(crate) struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub(crate) fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_owned(),
        }
    }

    fn path(&self, member: &str) -> Result<PathBuf> {
        let clean = normalize_member(member).ok_or_else(|| StoreError::UnsafeMember {
            archive: self.root.clone(),
            member: member.to_owned(),
        })?;
        Ok(self.root.join(clean))
    }
}

impl Source for DirSource {
    fn name(&self) -> &Path {
        &self.root
    }

    fn exists(&self, member: &str) -> bool {
        self.path(member).is_ok_and(|p| p.is_file())
    }

    fn open(&self, member: &str) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        let path = self.path(member)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self.missing("file", member));
            }
            Err(e) => return Err(io_err(&path, "open")(e)),
        };
        let meta = file.metadata().map_err(io_err(&path, "stat"))?;
        if !meta.is_file() {
            return Err(self.missing("regular file", member));
        }
        Ok((Box::new(file), meta.len()))
    }
}

/// The members of a tar file, by normalized name.
pub(crate) struct TarSource {
    name: PathBuf,
    file: File,
    files: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl TarSource {
    /// Indexes the tar: one pass over its headers, seeking over the contents.
    pub(crate) fn index(name: &Path, file: File) -> Result<TarSource> {
        let bad = |reason: String| StoreError::BadArchive {
            archive: name.to_owned(),
            reason,
        };
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        (&file)
            .seek(io::SeekFrom::Start(0))
            .map_err(io_err(name, "seek"))?;
        let mut archive = tar::Archive::new(&file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("bad tar header: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let member = normalize_member(&raw).ok_or_else(|| StoreError::UnsafeMember {
                archive: name.to_owned(),
                member: raw.clone(),
            })?;
            let kind = entry.header().entry_type();
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned());
            let dup = files.contains_key(&member) || links.contains_key(&member);
            if (kind.is_file() || kind.is_symlink() || kind.is_hard_link()) && dup {
                return Err(bad(format!("member {member:?} appears twice")));
            }
            if kind.is_file() {
                files.insert(member, (entry.raw_file_position(), entry.size()));
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = target.ok_or_else(|| bad(format!("link {member:?} has no target")))?;
                // Symlinks are relative to their directory, hardlinks to the archive root.
                let base = if kind.is_symlink() && !target.starts_with('/') {
                    member.rsplit_once('/').map_or("", |(d, _)| d)
                } else {
                    ""
                };
                let resolved =
                    resolve_link(base, &target).ok_or_else(|| StoreError::UnsafeMember {
                        archive: name.to_owned(),
                        member: format!("{raw} -> {target}"),
                    })?;
                links.insert(member, resolved);
            }
        }
        Ok(TarSource {
            name: name.to_owned(),
            file,
            files,
            links,
        })
    }

    fn lookup(&self, member: &str) -> Option<(u64, u64)> {
        let mut name = normalize_member(member)?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&name) {
                return Some(*f);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

impl Source for TarSource {
    fn name(&self) -> &Path {
        &self.name
    }

    fn exists(&self, member: &str) -> bool {
        self.lookup(member).is_some()
    }

    fn open(&self, member: &str) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        let (offset, size) = self
            .lookup(member)
            .ok_or_else(|| self.missing("file", member))?;
        let reader = ReadAt {
            file: &self.file,
            pos: offset,
            end: offset.saturating_add(size),
        };
        Ok((Box::new(reader), size))
    }
}

/// Reads `file` from `pos` to `end` by position: many readers can share one file.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member is cut short",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// `./a//b/` → `a/b`; `None` for absolute names, names with `..`, and empty ones.
pub(crate) fn normalize_member(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A link target taken from `base` (a directory in the archive), `..` allowed while it
/// stays inside the archive; `None` when it would climb out.
fn resolve_link(base: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(normalize_member("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize_member("../../x"), None);
        assert_eq!(normalize_member("a/../b"), None);
        assert_eq!(normalize_member("/etc/passwd"), None);
        assert_eq!(normalize_member("./"), None);
    }

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(resolve_link("abc", "../x.tar").as_deref(), Some("x.tar"));
        assert_eq!(resolve_link("", "../x"), None);
        assert_eq!(resolve_link("a/b", "../../../x"), None);
        assert_eq!(resolve_link("", "/blobs/x").as_deref(), Some("blobs/x"));
    }
}

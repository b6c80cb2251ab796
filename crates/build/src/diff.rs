//! A build step's filesystem change as an image layer: the overlay upper dir of the step
//! written as a tar, with overlay's whiteouts (char device 0:0) turned into `.wh.<name>`
//! files and opaque directories (`trusted.overlay.opaque=y`) into `.wh..wh..opq` entries,
//! as the image spec wants them. Ownership, modes, mtimes, hardlinks (within the layer),
//! symlinks, FIFOs, devices and `security.capability` / `user.*` xattrs are kept; overlay's
//! own `trusted.overlay.*` xattrs are not. Entries come in sorted order, so the same tree
//! gives the same tar.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

/// Why a layer could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the layer from {path}: {op}")]
pub struct DiffError {
    pub path: PathBuf,
    pub op: String,
    #[source]
    pub source: io::Error,
}

type Result<T> = std::result::Result<T, DiffError>;

/// What went into the layer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiffStats {
    pub entries: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Writes the tar of `upper` to `out` (uncompressed), returning what it holds.
pub fn write_layer(upper: &Path, out: impl Write) -> Result<DiffStats> {
    let mut w = Writer::new(out, upper, TreeOptions::layer());
    w.dir_contents(upper, Path::new(""))?;
    w.finish()
}

/// Writes `path` (a file, or a directory with everything under it) into a tar as `name`,
/// for copies in and out of containers: not followed when it is a symlink unless
/// `follow`; entries owned by `owner` when given, else as they are.
pub fn write_tree(
    path: &Path,
    name: &Path,
    follow: bool,
    owner: Option<(u32, u32)>,
    out: impl Write,
) -> Result<DiffStats> {
    let opts = TreeOptions {
        whiteouts: false,
        owner,
        chmod: None,
        skip: None,
    };
    let mut w = Writer::new(out, path, opts);
    let base = name.file_name().unwrap_or(name.as_os_str()).to_owned();
    if name.as_os_str().is_empty() || name == Path::new(".") {
        w.dir_contents(path, Path::new(""))?;
    } else if follow {
        w.entry_followed(path, name, &base)?;
    } else {
        w.entry(path, name, &base)?;
    }
    w.finish()
}

/// Says which entries (by their path in the tar) to leave out.
pub(crate) type Skip<'a> = Box<dyn Fn(&Path) -> bool + 'a>;

/// How a tree goes into a tar.
pub(crate) struct TreeOptions<'a> {
    /// Overlay whiteouts and opaque dirs become `.wh.` entries (a layer diff). Off: a
    /// char device 0:0 is an error (a build context holds none).
    pub whiteouts: bool,
    /// Every entry owned by this uid/gid instead of its own (COPY without --chown: 0:0).
    pub owner: Option<(u32, u32)>,
    /// Every entry's permission bits (COPY --chmod).
    pub chmod: Option<u32>,
    /// Leaves out the entries for which this says true (given the path in the tar).
    pub skip: Option<Skip<'a>>,
}

impl TreeOptions<'_> {
    pub(crate) fn layer() -> Self {
        TreeOptions {
            whiteouts: true,
            owner: None,
            chmod: None,
            skip: None,
        }
    }
}

fn err(path: &Path, op: &str, source: io::Error) -> DiffError {
    DiffError {
        path: path.to_path_buf(),
        op: op.to_string(),
        source,
    }
}

pub(crate) struct Writer<'a, W: Write> {
    pub(crate) tar: tar::Builder<W>,
    upper: PathBuf,
    /// (dev, ino) of regular files with several links → the first name written.
    links: HashMap<(u64, u64), PathBuf>,
    stats: DiffStats,
    opts: TreeOptions<'a>,
}

impl<'a, W: Write> Writer<'a, W> {
    pub(crate) fn new(out: W, base: &Path, opts: TreeOptions<'a>) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        Writer {
            tar,
            upper: base.to_path_buf(),
            links: HashMap::new(),
            stats: DiffStats::default(),
            opts,
        }
    }

    pub(crate) fn set_skip(&mut self, skip: Option<Skip<'a>>) {
        self.opts.skip = skip;
    }

    pub(crate) fn finish(mut self) -> Result<DiffStats> {
        self.tar
            .finish()
            .map_err(|e| err(&self.upper, "finish", e))?;
        Ok(self.stats)
    }

    /// Writes the entries under `dir`, named `rel/<name>` in the tar.
    pub(crate) fn dir_contents(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| err(dir, "read_dir", e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| err(dir, "read_dir", e))?;
        names.sort();
        for name in names {
            self.entry(&dir.join(&name), &rel.join(&name), &name)?;
        }
        Ok(())
    }

    /// Writes `path` as `rel` in the tar (a directory with everything under it).
    pub(crate) fn entry(&mut self, path: &Path, rel: &Path, name: &OsStr) -> Result<()> {
        self.entry_at(path, rel, name, false)
    }

    /// Like [`Writer::entry`], but `path` is followed if it is a symlink: for a source
    /// reached through `/proc/self/fd/N`, whose target was resolved safely already.
    pub(crate) fn entry_followed(&mut self, path: &Path, rel: &Path, name: &OsStr) -> Result<()> {
        self.entry_at(path, rel, name, true)
    }

    fn entry_at(&mut self, path: &Path, rel: &Path, name: &OsStr, follow: bool) -> Result<()> {
        if self.opts.skip.as_ref().is_some_and(|skip| skip(rel)) {
            return Ok(());
        }
        if !self.opts.whiteouts && name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // The unpacker would read it as a deletion of a lower file.
            return Err(err(
                path,
                "copy",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a name starting with .wh. cannot go into an image layer",
                ),
            ));
        }
        let meta = if follow {
            fs::metadata(path).map_err(|e| err(path, "stat", e))?
        } else {
            fs::symlink_metadata(path).map_err(|e| err(path, "lstat", e))?
        };
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 && self.opts.whiteouts {
            // Overlay's whiteout: the lower entry of this name is deleted.
            let mut wh = OsStr::new(WHITEOUT_PREFIX).to_owned();
            wh.push(name);
            let target = rel.with_file_name(wh);
            self.empty_file(&target, &meta)?;
            self.stats.whiteouts += 1;
            return Ok(());
        }
        let xattrs = xattrs(path, follow)?;
        if ft.is_dir() {
            self.header(rel, &meta, EntryType::Directory, &xattrs, None, 0)?;
            if self.opts.whiteouts && opaque(path)? {
                self.empty_file(&rel.join(OPAQUE), &meta)?;
                self.stats.opaque_dirs += 1;
            }
            return self.dir_contents(path, rel);
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| err(path, "readlink", e))?;
            return self.header(rel, &meta, EntryType::Symlink, &xattrs, Some(&target), 0);
        }
        if ft.is_fifo() {
            return self.header(rel, &meta, EntryType::Fifo, &xattrs, None, 0);
        }
        if (ft.is_char_device() || ft.is_block_device()) && !self.opts.whiteouts {
            // A context's device node would land in the image (and 0:0 reads as a
            // whiteout there): refuse it.
            return Err(err(
                path,
                "copy",
                io::Error::new(io::ErrorKind::InvalidInput, "device nodes are not copied"),
            ));
        }
        if ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            };
            return self.header(rel, &meta, kind, &xattrs, None, meta.rdev());
        }
        if ft.is_socket() {
            // Sockets are not part of images.
            return Ok(());
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                return self.header(rel, &meta, EntryType::Link, &xattrs, Some(&first), 0);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        self.file(path, rel, &meta, &xattrs)
    }

    fn empty_file(&mut self, rel: &Path, meta: &Metadata) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        self.stats.entries += 1;
        self.tar
            .append_data(&mut h, rel, io::empty())
            .map_err(|e| err(&self.upper.join(rel), "write whiteout", e))
    }

    fn base_header(&self, meta: &Metadata, kind: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        let mode = match self.opts.chmod {
            Some(bits) if kind != EntryType::Symlink => bits,
            _ => meta.mode() & 0o7777,
        };
        h.set_mode(mode);
        let (uid, gid) = self.opts.owner.unwrap_or((meta.uid(), meta.gid()));
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        h.set_size(0);
        h
    }

    fn pax(&mut self, rel: &Path, xattrs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = xattrs
            .iter()
            .map(|(k, _)| format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)))
            .collect();
        let records = keys
            .iter()
            .zip(xattrs)
            .map(|(k, (_, v))| (k.as_str(), v.as_slice()));
        self.tar
            .append_pax_extensions(records)
            .map_err(|e| err(&self.upper.join(rel), "write xattrs", e))
    }

    fn header(
        &mut self,
        rel: &Path,
        meta: &Metadata,
        kind: EntryType,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        link: Option<&Path>,
        rdev: u64,
    ) -> Result<()> {
        self.pax(rel, xattrs)?;
        let mut h = self.base_header(meta, kind);
        if kind == EntryType::Char || kind == EntryType::Block {
            let (major, minor) = (libc::major(rdev), libc::minor(rdev));
            h.set_device_major(major)
                .map_err(|e| err(rel, "device", e))?;
            h.set_device_minor(minor)
                .map_err(|e| err(rel, "device", e))?;
        }
        self.stats.entries += 1;
        let res = match link {
            Some(target) => self.tar.append_link(&mut h, rel, target),
            None => self.tar.append_data(&mut h, rel, io::empty()),
        };
        res.map_err(|e| err(&self.upper.join(rel), "write entry", e))
    }

    fn file(
        &mut self,
        path: &Path,
        rel: &Path,
        meta: &Metadata,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<()> {
        self.pax(rel, xattrs)?;
        let mut h = self.base_header(meta, EntryType::Regular);
        h.set_size(meta.len());
        let f = File::open(path).map_err(|e| err(path, "open", e))?;
        self.stats.entries += 1;
        self.tar
            .append_data(&mut h, rel, f)
            .map_err(|e| err(path, "write file", e))
    }
}

/// Whether overlay marked the dir opaque (it hides the lower dir's entries).
fn opaque(path: &Path) -> Result<bool> {
    let mut buf = [0u8; 4];
    match rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut buf) {
        Ok(n) => Ok(&buf[..n] == b"y"),
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::NOTSUP => Ok(false),
        Err(e) => Err(err(path, "getxattr trusted.overlay.opaque", e.into())),
    }
}

/// The xattrs an image layer carries: `security.capability` and `user.*`.
fn xattrs(path: &Path, follow: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let listed = if follow {
        rustix::fs::listxattr(path, &mut names)
    } else {
        rustix::fs::llistxattr(path, &mut names)
    };
    let n = match listed {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return Ok(Vec::new()),
        Err(e) => return Err(err(path, "listxattr", e.into())),
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        if name != b"security.capability" && !name.starts_with(b"user.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        let cname = OsStr::from_bytes(name);
        let got = if follow {
            rustix::fs::getxattr(path, cname, &mut value)
        } else {
            rustix::fs::lgetxattr(path, cname, &mut value)
        };
        let len = got.map_err(|e| err(path, "getxattr", e.into()))?;
        value.truncate(len);
        out.push((name.to_vec(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn plain_tree_in_sorted_order_with_hardlinks_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let u = dir.path();
        fs::create_dir_all(u.join("b/sub")).unwrap();
        fs::write(u.join("b/sub/f"), b"data").unwrap();
        fs::write(u.join("a"), b"x").unwrap();
        fs::hard_link(u.join("a"), u.join("c")).unwrap();
        std::os::unix::fs::symlink("../a", u.join("b/link")).unwrap();
        let mut out = Vec::new();
        let stats = write_layer(u, &mut out).unwrap();
        assert_eq!(stats.entries, 6);
        let e = entries(&out);
        let names: Vec<_> = e.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "b/link", "b/sub", "b/sub/f", "c"]);
        assert_eq!(e[5].1, EntryType::Link);
        assert_eq!(e[5].2, "a");
        assert_eq!(e[2].2, "../a");
        // Deterministic.
        let mut again = Vec::new();
        write_layer(u, &mut again).unwrap();
        assert_eq!(out, again);
    }
}

//! One tar entry made on disk under the root, each kind relative to its parent's fd.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, linkat, makedev, mkdirat, mknodat, openat, statat, symlinkat,
};
use rustix::io::Errno;
use tar::EntryType;

use super::error::{Result, UnpackError, fs_err, show};
use super::meta::Meta;
use super::path::{components, join};
use super::root::{Root, remove_all};
use super::{UnpackOptions, UnpackStats};

/// Size of the copy buffer for file content: large reads keep the decompressor and the
/// write path busy with few syscalls.
const COPY_BUF: usize = 1 << 20;

/// Unpacks entries one by one into a root, remembering what must wait for the end.
pub(crate) struct Unpacker<'o> {
    pub(crate) root: Root,
    pub(crate) opts: &'o UnpackOptions,
    buf: Vec<u8>,
    /// Directories' times, set once nothing more is written in them.
    dir_times: Vec<(Vec<u8>, rustix::fs::Timestamps)>,
    /// Paths where this layer made overlay whiteouts; see `whiteout.rs`.
    pub(crate) whiteouts: Vec<Vec<u8>>,
    pub(crate) stats: UnpackStats,
    /// The last entry's parent directory (its path as in the tar, and its fd), reused for
    /// the next entry with the same parent: one openat2 per run of siblings, not per entry.
    /// Sound because an entry only ever makes or replaces the name it is, inside its
    /// parent: nothing done for a child of `P` changes what `P` resolves to; an entry that
    /// replaces `P` or an ancestor of it has another parent, so it resolves afresh.
    parent: Option<(Vec<u8>, OwnedFd)>,
}

/// Retries `make` after clearing `name` when it already exists: a later entry of a layer
/// replaces an earlier one of the same name, whatever either is.
fn replacing<T>(
    dir: BorrowedFd<'_>,
    name: &[u8],
    raw: &[u8],
    op: &'static str,
    mut make: impl FnMut() -> rustix::io::Result<T>,
) -> Result<T> {
    match make() {
        Err(Errno::EXIST) => {
            remove_all(dir, name).map_err(|e| fs_err(raw, "remove existing entry", e))?;
            make().map_err(|e| fs_err(raw, op, e))
        }
        other => other.map_err(|e| fs_err(raw, op, e)),
    }
}

impl<'o> Unpacker<'o> {
    pub(crate) fn new(root: Root, opts: &'o UnpackOptions) -> Self {
        Unpacker {
            root,
            opts,
            buf: vec![0; COPY_BUF],
            dir_times: Vec::new(),
            whiteouts: Vec::new(),
            stats: UnpackStats::default(),
            parent: None,
        }
    }

    /// Makes one entry.
    pub(crate) fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let mut kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        // Old (v7) archives mark directories only by a trailing slash.
        if kind == EntryType::Regular && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let parts = components(&raw).map_err(|reason| UnpackError::Unsafe {
            entry: show(&raw),
            reason: reason.into(),
        })?;
        self.stats.entries += 1;
        let meta = Meta::read(&mut entry, &raw, self.opts)?;
        self.stats.xattrs_skipped += meta.skipped_xattrs;
        let Some((name, parent_parts)) = parts.split_last() else {
            return self.root_entry(kind, &meta, &raw);
        };
        if let Some(target) = name.strip_prefix(b".wh.") {
            return self.whiteout(parent_parts, target, &raw);
        }
        let key = join(parent_parts);
        let parent_fd = match self.parent.take() {
            Some((k, fd)) if k == key => fd,
            _ => self
                .root
                .make_dir_all(parent_parts)
                .map_err(|(op, e)| fs_err(&raw, op, e))?,
        };
        let parent = parent_fd.as_fd();
        let made = match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(parent, name, &mut entry, &meta, &raw)
            }
            EntryType::Directory => self.dir(parent, name, &parts, &meta, &raw),
            EntryType::Symlink => self.symlink(parent, name, &entry, &meta, &raw),
            EntryType::Link => self.hardlink(parent, name, &parts, &entry, &raw),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.special(parent, name, kind, &entry, &meta, &raw)
            }
            other => Err(UnpackError::UnsupportedType {
                entry: show(&raw),
                kind: char::from(other.as_byte()),
            }),
        };
        self.parent = Some((key, parent_fd));
        made
    }

    /// `./` itself: only a directory makes sense; its metadata goes on the root.
    fn root_entry(&mut self, kind: EntryType, meta: &Meta, raw: &[u8]) -> Result<()> {
        if kind != EntryType::Directory {
            return Err(UnpackError::Unsafe {
                entry: show(raw),
                reason: "a non-directory entry for the root".into(),
            });
        }
        meta.apply_fd(self.root.fd(), raw, self.opts)?;
        self.dir_times.push((Vec::new(), meta.times.clone()));
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        raw: &[u8],
    ) -> Result<()> {
        // O_EXCL|O_NOFOLLOW: never write through whatever was there, a symlink least of all.
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd: OwnedFd = replacing(parent, name, raw, "openat (create file)", || {
            openat(parent, name, flags, Mode::from_raw_mode(0o600))
        })?;
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::Read {
                        after: show(raw),
                        source,
                    });
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| UnpackError::Fs {
                    entry: show(raw),
                    op: "write",
                    source,
                })?;
            self.stats.file_bytes += n as u64;
        }
        meta.apply_fd(file.as_fd(), raw, self.opts)?;
        meta.apply_times_fd(file.as_fd(), raw)?;
        self.stats.files += 1;
        Ok(())
    }

    fn dir(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        parts: &[&[u8]],
        meta: &Meta,
        raw: &[u8],
    ) -> Result<()> {
        let mode = Mode::from_raw_mode(0o700);
        match mkdirat(parent, name, mode) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                // A directory already there (made for an earlier entry's path) is kept with
                // its content; anything else is replaced.
                let st = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fs_err(raw, "fstatat", e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    replacing(parent, name, raw, "mkdirat", || mkdirat(parent, name, mode))?;
                }
            }
            Err(e) => return Err(fs_err(raw, "mkdirat", e)),
        }
        let fd = openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fs_err(raw, "openat (directory)", e))?;
        meta.apply_fd(fd.as_fd(), raw, self.opts)?;
        self.dir_times.push((join(parts), meta.times.clone()));
        self.stats.dirs += 1;
        Ok(())
    }

    fn symlink<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        raw: &[u8],
    ) -> Result<()> {
        // The target is data, stored as written: it is resolved later inside the container's
        // root, and inside this root by openat2 when later entries go through it.
        let target = link_name(entry, raw)?;
        replacing(parent, name, raw, "symlinkat", || {
            symlinkat(&target[..], parent, name)
        })?;
        meta.apply_at(parent, name, true, raw, self.opts)?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        parts: &[&[u8]],
        entry: &tar::Entry<'_, R>,
        raw: &[u8],
    ) -> Result<()> {
        let target_raw = link_name(entry, raw)?;
        let unsafe_target = |reason: &str| UnpackError::Unsafe {
            entry: show(raw),
            reason: format!("hardlink target {:?}: {reason}", show(&target_raw)),
        };
        let target = components(&target_raw).map_err(unsafe_target)?;
        let Some((target_name, target_parent)) = target.split_last() else {
            return Err(unsafe_target("is the root"));
        };
        if target == parts {
            return Ok(());
        }
        // The target's directory is resolved inside the root like any path, so a target
        // "through" a symlink pointing out lands inside; linkat never follows the last
        // component, so a symlink target links the symlink itself.
        let target_dir = self
            .root
            .open_dir(target_parent, true)
            .map_err(|e| match e {
                Errno::NOENT | Errno::NOTDIR => unsafe_target("not found in this layer"),
                e => fs_err(raw, "openat2 (hardlink target directory)", e),
            })?;
        let made = replacing(parent, name, raw, "linkat", || {
            linkat(&target_dir, *target_name, parent, name, AtFlags::empty())
        });
        match made {
            Err(UnpackError::Fs { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(unsafe_target("not found in this layer"))
            }
            other => other,
        }?;
        self.stats.hardlinks += 1;
        Ok(())
    }

    fn special<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        raw: &[u8],
    ) -> Result<()> {
        let bad = |e: std::io::Error| UnpackError::BadHeader {
            entry: show(raw),
            reason: format!("device number: {e}"),
        };
        let (file_type, label) = match kind {
            EntryType::Char => (FileType::CharacterDevice, "character"),
            EntryType::Block => (FileType::BlockDevice, "block"),
            _ => (FileType::Fifo, "fifo"),
        };
        let (major, minor) = if kind == EntryType::Fifo {
            (0, 0)
        } else {
            let h = entry.header();
            (
                h.device_major().map_err(bad)?.unwrap_or(0),
                h.device_minor().map_err(bad)?.unwrap_or(0),
            )
        };
        // A char 0:0 is an overlay whiteout (some tools export them as is): harmless.
        let whiteout = kind == EntryType::Char && (major, minor) == (0, 0);
        if kind != EntryType::Fifo && !whiteout && !self.opts.allow_devices {
            return Err(UnpackError::DeviceRefused {
                entry: show(raw),
                kind: label,
                major,
                minor,
            });
        }
        let dev = makedev(major, minor);
        replacing(parent, name, raw, "mknodat", || {
            mknodat(parent, name, file_type, Mode::from_raw_mode(0o600), dev)
        })?;
        meta.apply_at(parent, name, false, raw, self.opts)?;
        self.stats.specials += 1;
        Ok(())
    }

    /// Sets directories' times now that their content is written. A directory replaced by a
    /// later entry is skipped.
    pub(crate) fn set_dir_times(&mut self) -> Result<()> {
        for (path, times) in std::mem::take(&mut self.dir_times) {
            let parts: Vec<&[u8]> = components(&path).unwrap_or_default();
            let fd = match self.root.open_dir(&parts, false) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(fs_err(&path, "openat2 (set directory times)", e)),
            };
            rustix::fs::futimens(&fd, &times).map_err(|e| fs_err(&path, "futimens", e))?;
        }
        Ok(())
    }
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &[u8]) -> Result<Vec<u8>> {
    match entry.link_name_bytes() {
        Some(t) if !t.is_empty() && !t.contains(&0) => Ok(t.into_owned()),
        _ => Err(UnpackError::BadHeader {
            entry: show(raw),
            reason: "link without a usable target".into(),
        }),
    }
}

//! The unpack root: a directory fd under which every path is resolved with openat2
//! `RESOLVE_IN_ROOT`, so `..` and symlinks (absolute or relative) met while resolving stay
//! inside it, as if the root were `/`. Entries are then made relative to their parent's fd.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, mkdirat, openat, openat2, statat, unlinkat,
};
use rustix::io::Errno;

use super::path::join;

/// No magic links (`/proc/self/fd/N`), no crossing into other mounts under the root.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// The directory a layer is unpacked into.
pub(crate) struct Root {
    fd: OwnedFd,
}

/// A failed step: which syscall, and its errno.
pub(crate) type Step<T> = Result<T, (&'static str, Errno)>;

impl Root {
    /// Opens `path`, which the caller trusts (it made it), as the root.
    pub(crate) fn open(path: &Path) -> rustix::io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `parts` (resolved inside the root). Symlinks on the way are
    /// followed inside the root; the last component's only when `follow_last`.
    pub(crate) fn open_dir(
        &self,
        parts: &[&[u8]],
        follow_last: bool,
    ) -> rustix::io::Result<OwnedFd> {
        let mut path = join(parts);
        if path.is_empty() {
            path.push(b'.');
        }
        let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if !follow_last {
            flags |= OFlags::NOFOLLOW;
        }
        loop {
            match openat2(&self.fd, &path, flags, Mode::empty(), RESOLVE) {
                // EAGAIN: a rename raced the resolution (the kernel refuses to guess); retry.
                Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
                other => return other,
            }
        }
    }

    /// Opens the directory at `parts`, making missing directories (0755, owned by the
    /// unpacker: tar entries for them may follow and set their metadata) and replacing
    /// overlay whiteouts this layer made where a directory is needed.
    pub(crate) fn make_dir_all(&self, parts: &[&[u8]]) -> Step<OwnedFd> {
        match self.open_dir(parts, true) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {}
            Err(e) => return Err(("openat2 (parent directory)", e)),
        }
        let mut dir = self
            .open_dir(&[], true)
            .map_err(|e| ("openat2 (root)", e))?;
        for i in 0..parts.len() {
            match self.open_dir(&parts[..=i], true) {
                Ok(fd) => {
                    dir = fd;
                    continue;
                }
                Err(Errno::NOENT) => {}
                Err(Errno::NOTDIR) if is_whiteout(dir.as_fd(), parts[i]) => {
                    unlinkat(&dir, parts[i], AtFlags::empty()).map_err(|e| ("unlinkat", e))?;
                }
                Err(e) => return Err(("openat2 (parent directory)", e)),
            }
            match mkdirat(&dir, parts[i], Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(("mkdirat (parent directory)", e)),
            }
            // ENOENT here: the name is a dangling symlink. Its target is not made: a layer
            // writing through a link that points nowhere is refused, not guessed at.
            dir = self
                .open_dir(&parts[..=i], true)
                .map_err(|e| ("openat2 (parent directory, after mkdirat)", e))?;
        }
        Ok(dir)
    }
}

/// Whether `name` in `dir` is an overlay whiteout (char device 0:0).
pub(crate) fn is_whiteout(dir: BorrowedFd<'_>, name: &[u8]) -> bool {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
        }
        Err(_) => false,
    }
}

/// Removes `name` in `dir` whatever it is, a directory with its content included, never
/// following a symlink.
pub(crate) fn remove_all(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names: Vec<CString> = Vec::new();
    for entry in Dir::read_from(&sub)? {
        let entry = entry?;
        let n = entry.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            names.push(n.to_owned());
        }
    }
    for n in &names {
        remove_all(sub.as_fd(), n.to_bytes())?;
    }
    unlinkat(dir, name, AtFlags::REMOVEDIR)
}

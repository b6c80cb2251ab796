//! Whiteouts, converted to overlayfs's format: each layer is its own snapshot used as an
//! overlay lowerdir, so a whiteout is not applied here but recorded for overlay to apply to
//! the layers below. `.wh.NAME` becomes a char device 0:0 named NAME; `.wh..wh..opq` makes
//! its directory opaque (`trusted.overlay.opaque=y`).
//!
//! The image spec says a whiteout applies to lower layers only, never to entries of its own
//! layer. So a whiteout never removes anything; when its layer also has NAME (before or
//! after the whiteout), NAME is kept, and if it is a directory it is made opaque, since the
//! whiteout removed the lower directory before this layer's one was added.

use std::os::fd::AsFd;

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, XattrFlags, fsetxattr, makedev, mknodat, openat, statat,
};
use rustix::io::Errno;

use super::entry::Unpacker;
use super::error::{Result, UnpackError, fs_err, show};
use super::path::{components, join};

const OPAQUE_MARKER: &[u8] = b".wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

impl Unpacker<'_> {
    /// Handles `parent/.wh.<target>`.
    pub(crate) fn whiteout(
        &mut self,
        parent_parts: &[&[u8]],
        target: &[u8],
        raw: &[u8],
    ) -> Result<()> {
        if target == OPAQUE_MARKER {
            let dir = self
                .root
                .make_dir_all(parent_parts)
                .map_err(|(op, e)| fs_err(raw, op, e))?;
            fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| fs_err(raw, "fsetxattr (opaque)", e))?;
            self.stats.opaque_dirs += 1;
            return Ok(());
        }
        if target.starts_with(b".wh.") {
            // Other `.wh..wh.` names are AUFS bookkeeping (`.wh..wh.plnk`), not content.
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(UnpackError::Unsafe {
                entry: show(raw),
                reason: "whiteout of no usable name".into(),
            });
        }
        let dir = self
            .root
            .make_dir_all(parent_parts)
            .map_err(|(op, e)| fs_err(raw, op, e))?;
        let mut path = parent_parts.to_vec();
        path.push(target);
        match statat(&dir, target, AtFlags::SYMLINK_NOFOLLOW) {
            // The snapshot started empty: what is there came from this layer and stays.
            Ok(st) => {
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    self.make_opaque(&join(&path), raw)?;
                }
            }
            Err(Errno::NOENT) => {
                mknodat(
                    &dir,
                    target,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    makedev(0, 0),
                )
                .map_err(|e| fs_err(raw, "mknodat (whiteout)", e))?;
                self.whiteouts.push(join(&path));
            }
            Err(e) => return Err(fs_err(raw, "fstatat (whiteout)", e)),
        }
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// After the last entry: a whiteout device that a later entry of the layer replaced by
    /// a directory makes that directory opaque.
    pub(crate) fn finish_whiteouts(&mut self) -> Result<()> {
        for path in std::mem::take(&mut self.whiteouts) {
            self.make_opaque(&path, &path)?;
        }
        Ok(())
    }

    /// Marks the directory at `path` opaque; nothing when it is not a directory.
    fn make_opaque(&mut self, path: &[u8], raw: &[u8]) -> Result<()> {
        let parts = components(path).unwrap_or_default();
        let Some((name, parent)) = parts.split_last() else {
            return Ok(());
        };
        let dir = match self.root.open_dir(parent, true) {
            Ok(d) => d,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
            Err(e) => return Err(fs_err(raw, "openat2 (opaque directory)", e)),
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match openat(dir.as_fd(), *name, flags, Mode::empty()) {
            Ok(fd) => {
                fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| fs_err(raw, "fsetxattr (opaque)", e))?;
                self.stats.opaque_dirs += 1;
                Ok(())
            }
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Ok(()),
            Err(e) => Err(fs_err(raw, "openat (opaque directory)", e)),
        }
    }
}

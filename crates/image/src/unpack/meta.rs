//! Entry metadata: ownership, mode, times and xattrs from the tar header and its PAX records,
//! and applying them in the order the kernel needs (chown clears setuid bits and
//! `security.capability`, so: chown, then chmod, then xattrs; times last).

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::fs::{
    AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags, chmodat, chownat, fchmod, fchown,
    fsetxattr, futimens, lsetxattr, utimensat,
};

use super::UnpackOptions;
use super::error::{Result, UnpackError, fs_err, show};

/// What the header and PAX records of one entry say about it.
pub(crate) struct Meta {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) times: Timestamps,
    /// xattrs from `SCHILY.xattr.*`, already filtered by [`xattr_allowed`].
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
    /// xattrs present but not applied.
    pub(crate) skipped_xattrs: u64,
}

impl Meta {
    /// Reads the metadata of `entry` (before its content is read).
    pub(crate) fn read<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
        opts: &UnpackOptions,
    ) -> Result<Meta> {
        let bad = |reason: String| UnpackError::BadHeader {
            entry: show(raw),
            reason,
        };
        let h = entry.header();
        let id = |v: std::io::Result<u64>, what: &str| -> Result<u32> {
            let v = v.map_err(|e| bad(format!("{what}: {e}")))?;
            // u32::MAX is -1 to chown: "leave unchanged".
            u32::try_from(v)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| bad(format!("{what} {v} out of range")))
        };
        let mut uid = id(h.uid(), "uid")?;
        let mut gid = id(h.gid(), "gid")?;
        let mode = h.mode().map_err(|e| bad(format!("mode: {e}")))? & 0o7777;
        let secs = h.mtime().map_err(|e| bad(format!("mtime: {e}")))?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(secs).map_err(|_| bad(format!("mtime {secs} out of range")))?,
            tv_nsec: 0,
        };
        let mut atime = None;
        let mut xattrs = Vec::new();
        let mut skipped_xattrs = 0;
        let pax = entry
            .pax_extensions()
            .map_err(|e| bad(format!("PAX records: {e}")))?;
        for ext in pax.into_iter().flatten() {
            let ext = ext.map_err(|e| bad(format!("PAX record: {e}")))?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            match key {
                "uid" => uid = id(pax_u64(value), "PAX uid")?,
                "gid" => gid = id(pax_u64(value), "PAX gid")?,
                "mtime" => mtime = pax_time(value).ok_or_else(|| bad("PAX mtime".into()))?,
                "atime" => atime = pax_time(value),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        if xattr_allowed(name, opts) {
                            xattrs.push((name.to_owned(), value.to_vec()));
                        } else {
                            tracing::debug!(entry = %show(raw), xattr = name, "xattr not applied");
                            skipped_xattrs += 1;
                        }
                    }
                }
            }
        }
        Ok(Meta {
            uid,
            gid,
            mode,
            times: Timestamps {
                last_access: atime.unwrap_or(mtime),
                last_modification: mtime,
            },
            xattrs,
            skipped_xattrs,
        })
    }

    /// Applies ownership, mode and xattrs to an open regular file or directory.
    pub(crate) fn apply_fd(
        &self,
        fd: BorrowedFd<'_>,
        raw: &[u8],
        opts: &UnpackOptions,
    ) -> Result<()> {
        if opts.preserve_ownership {
            fchown(
                fd,
                Some(Uid::from_raw(self.uid)),
                Some(Gid::from_raw(self.gid)),
            )
            .map_err(|e| fs_err(raw, "fchown", e))?;
        }
        fchmod(fd, Mode::from_raw_mode(self.mode)).map_err(|e| fs_err(raw, "fchmod", e))?;
        for (name, value) in &self.xattrs {
            fsetxattr(fd, name, value, XattrFlags::empty())
                .map_err(|e| fs_err(raw, "fsetxattr", e))?;
        }
        Ok(())
    }

    /// Sets the times of an open regular file (directories get theirs at the end).
    pub(crate) fn apply_times_fd(&self, fd: BorrowedFd<'_>, raw: &[u8]) -> Result<()> {
        futimens(fd, &self.times).map_err(|e| fs_err(raw, "futimens", e))
    }

    /// Applies everything to `name` in `dir` without following it: symlinks, devices, FIFOs
    /// (which cannot be opened for an fd without side effects).
    pub(crate) fn apply_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        symlink: bool,
        raw: &[u8],
        opts: &UnpackOptions,
    ) -> Result<()> {
        if opts.preserve_ownership {
            let (u, g) = (Uid::from_raw(self.uid), Gid::from_raw(self.gid));
            chownat(dir, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fs_err(raw, "fchownat", e))?;
        }
        if !symlink {
            // Not a symlink: we made it just now in a directory only we write to.
            chmodat(dir, name, Mode::from_raw_mode(self.mode), AtFlags::empty())
                .map_err(|e| fs_err(raw, "fchmodat", e))?;
        }
        if !self.xattrs.is_empty() {
            // No *at form of setxattr: name the entry through its parent's fd. lsetxattr does
            // not follow the last component; the parent fd is inside the root.
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(name);
            for (xname, value) in &self.xattrs {
                // The kernel refuses user.* on anything but files and directories.
                if xname.starts_with("user.") {
                    continue;
                }
                lsetxattr(&path, xname, value, XattrFlags::empty())
                    .map_err(|e| fs_err(raw, "lsetxattr", e))?;
            }
        }
        utimensat(dir, name, &self.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fs_err(raw, "utimensat", e))
    }
}

/// Which xattrs of a layer are applied. Overlay's own (`trusted.overlay.*`,
/// `user.overlay.*`) never are: a layer could forge opaque dirs, redirects or metacopy
/// files and change what the merged view shows. Other `trusted.*` only when the options say
/// so; `security.*` other than capabilities (SELinux labels) and `system.*` (ACLs in the
/// kernel's binary form) are host policy, not image content.
pub(crate) fn xattr_allowed(name: &str, opts: &UnpackOptions) -> bool {
    if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
        false
    } else if name.starts_with("user.") || name == "security.capability" {
        true
    } else {
        name.starts_with("trusted.") && opts.allow_trusted_xattrs
    }
}

fn pax_u64(v: &[u8]) -> std::io::Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("not a number"))
}

/// A PAX time: decimal seconds with an optional fraction (`1700000000.123456789`).
pub(crate) fn pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let mut tv_nsec: i64 = digits.parse().ok()?;
    let mut tv_sec = tv_sec;
    if secs.starts_with('-') && tv_nsec > 0 {
        // -1.25 is 1.25 s before the epoch: tv_sec -2, tv_nsec 0.75e9.
        tv_sec -= 1;
        tv_nsec = 1_000_000_000 - tv_nsec;
    }
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        let t = pax_time(b"1.1234567891").unwrap();
        assert_eq!(t.tv_nsec, 123_456_789);
        let t = pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(pax_time(b"x").is_none());
    }

    #[test]
    fn xattr_policy() {
        let mut o = UnpackOptions::default();
        assert!(xattr_allowed("security.capability", &o));
        assert!(xattr_allowed("user.mime", &o));
        assert!(!xattr_allowed("security.selinux", &o));
        assert!(!xattr_allowed("trusted.foo", &o));
        assert!(!xattr_allowed("trusted.overlay.opaque", &o));
        o.allow_trusted_xattrs = true;
        assert!(xattr_allowed("trusted.foo", &o));
        assert!(!xattr_allowed("trusted.overlay.redirect", &o));
        assert!(!xattr_allowed("user.overlay.opaque", &o));
    }
}

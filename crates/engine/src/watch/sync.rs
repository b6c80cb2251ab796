//! Files into a running container, as `sync` rules need them: written, replaced, removed
//! and directories made under the container's root, reached through `/proc/<pid>/root`.
//! Every path is resolved inside that root (openat2 `RESOLVE_IN_ROOT`, as `compose cp`
//! does): a symlink in the container, absolute or full of `..`, stays in the container. Only
//! single names are created or removed, relative to a directory fd so resolved, and never
//! through a final symlink (a file replaces a symlink rather than writing where it points).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, openat2};

/// The root of a running container.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// The root of the process `pid` (a container's init).
    pub fn open(pid: i32) -> io::Result<Root> {
        let fd = rustix::fs::open(
            format!("/proc/{pid}/root"),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// `path` (absolute in the container) resolved inside the root.
    fn resolve(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        Ok(openat2(
            &self.fd,
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )?)
    }

    fn dir(&self, path: &str) -> io::Result<OwnedFd> {
        self.resolve(path, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// Makes the directory `path` and its missing parents; returns it.
    pub fn mkdir_all(&self, path: &str) -> io::Result<OwnedFd> {
        if let Ok(fd) = self.dir(path) {
            return Ok(fd);
        }
        let mut cur = self.dir("/")?;
        let mut prefix = String::new();
        for name in components(path)? {
            prefix.push('/');
            prefix.push_str(name);
            cur = match self.dir(&prefix) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.dir(&prefix)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// Writes the host file `src` at `path` (replacing what is there, a symlink included);
    /// a host symlink is copied as a symlink, a host directory is made.
    pub fn put(&self, src: &Path, path: &str) -> io::Result<()> {
        let meta = std::fs::symlink_metadata(src)?;
        if meta.is_dir() {
            return self.mkdir_all(path).map(drop);
        }
        let (parent, name) = split(path)?;
        let dir = self.mkdir_all(parent)?;
        let tmp = format!(".{name}.compose-sync-{}", std::process::id());
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src)?;
            rustix::fs::symlinkat(target.as_path(), &dir, tmp.as_str())?;
        } else {
            self.write_temp(&dir, &tmp, name, src, &meta)?;
        }
        self.replace(&dir, &tmp, name)
    }

    fn write_temp(
        &self,
        dir: &OwnedFd,
        tmp: &str,
        name: &str,
        src: &Path,
        meta: &std::fs::Metadata,
    ) -> io::Result<()> {
        let mode = Mode::from_raw_mode(meta.permissions().mode() & 0o7777);
        let fd = rustix::fs::openat(
            dir,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )?;
        // A replaced file keeps its owner (the app in the container may run as it).
        if let Ok(old) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            let (uid, gid) = (old.st_uid, old.st_gid);
            rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
        }
        rustix::fs::fchmod(&fd, mode)?;
        let mut out = std::fs::File::from(fd);
        let mut input = std::fs::File::open(src)?;
        if input.metadata()?.ino() != meta.ino() {
            return Err(io::Error::other("the file changed while it was read"));
        }
        io::copy(&mut input, &mut out)?;
        Ok(())
    }

    /// Renames `tmp` over `name` in `dir`; a directory in the way is removed first.
    fn replace(&self, dir: &OwnedFd, tmp: &str, name: &str) -> io::Result<()> {
        match rustix::fs::renameat(dir, tmp, dir, name) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::ISDIR | rustix::io::Errno::NOTEMPTY) => {
                remove_at(dir, name)?;
                Ok(rustix::fs::renameat(dir, tmp, dir, name)?)
            }
            Err(e) => {
                let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
                Err(e.into())
            }
        }
    }

    /// Removes `path` (a file, a symlink itself, or a directory tree); a missing one is
    /// fine.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        let (parent, name) = split(path)?;
        let dir = match self.dir(parent) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        remove_at(&dir, name)
    }

    /// Whether `path` in the container holds exactly the bytes of the host file `src`.
    pub fn same_content(&self, src: &Path, path: &str) -> io::Result<bool> {
        let host = std::fs::read(src)?;
        let fd = match self.resolve(path, OFlags::RDONLY | OFlags::NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(false),
            Err(e) => return Err(e),
        };
        let st = rustix::fs::fstat(&fd)?;
        if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_file()
            || u64::try_from(st.st_size).ok() != Some(host.len() as u64)
        {
            return Ok(false);
        }
        let mut inside = Vec::with_capacity(host.len());
        io::Read::read_to_end(&mut std::fs::File::from(fd), &mut inside)?;
        Ok(inside == host)
    }
}

/// Removes the entry `name` of `dir` without following it; a directory goes with all it
/// holds.
fn remove_at(dir: &impl AsFd, name: &str) -> io::Result<()> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() {
        let sub = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        clear_dir(&sub)?;
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// Removes everything in the directory `dir`.
fn clear_dir(dir: &OwnedFd) -> io::Result<()> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    for name in names {
        remove_at(dir, &name)?;
    }
    Ok(())
}

/// The names of an absolute container path; `..` is refused (targets are clean paths).
fn components(path: &str) -> io::Result<Vec<&str>> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path}: \"..\" in a container path"),
        ));
    }
    Ok(parts)
}

/// The parent and the last name of `path`.
fn split(path: &str) -> io::Result<(&str, &str)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    if name.is_empty() || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path}: not a file path"),
        ));
    }
    components(trimmed)?;
    Ok((if parent.is_empty() { "/" } else { parent }, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test process's own root stands in for a container's: the resolution is the
    /// same, and everything happens under a temp dir reached as a container path.
    fn own(dir: &Path) -> (Root, String) {
        (
            Root::open(std::process::id() as i32).unwrap(),
            dir.display().to_string(),
        )
    }

    #[test]
    fn split_and_components() {
        assert_eq!(split("/a/b/c").unwrap(), ("/a/b", "c"));
        assert_eq!(split("/c/").unwrap(), ("/", "c"));
        assert!(split("/").is_err());
        assert!(split("/a/../b").is_err());
    }

    #[test]
    fn put_makes_parents_replaces_and_removes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src.txt");
        std::fs::write(&src, "one").unwrap();
        let (root, base) = own(t.path());
        let dest = format!("{base}/in/deep/f.txt");
        root.put(&src, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "one");
        assert!(root.same_content(&src, &dest).unwrap());
        std::fs::write(&src, "two!").unwrap();
        assert!(!root.same_content(&src, &dest).unwrap());
        root.put(&src, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "two!");
        root.remove(&format!("{base}/in")).unwrap();
        assert!(!Path::new(&format!("{base}/in")).exists());
        root.remove(&format!("{base}/in/never")).unwrap();
    }

    #[test]
    fn a_symlink_at_the_destination_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("link")).unwrap();
        let src = t.path().join("src");
        std::fs::write(&src, "new").unwrap();
        let (root, base) = own(t.path());
        root.put(&src, &format!("{base}/link")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!t.path().join("link").is_symlink());
    }
}

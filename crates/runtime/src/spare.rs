//! Spare state dirs. `delete` empties a container's state dir and moves it to
//! `<root>/.spare/<slot>`; the next `create` renames a spare into place. It does not make a
//! new directory for each container and then remove it.
//!
//! On ext4 a directory owns a data block from its `mkdir` on. Removing the directory frees
//! that block. On a filesystem mounted with `discard` (usual on cloud VMs, and so on these
//! machines), freeing a block waits for a synchronous discard of it. In a `run /bin/true`
//! that wait was the longest step of `delete`: 0.2–0.4 ms. A rename moves no block.
//!
//! At most [`SLOTS`] spares are kept. A dir that finds no free slot is removed as before.
//! Only a dir this process's user and group own is kept, and only once it is empty. The
//! `.spare` name is never a container id (ids cannot start with a dot).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The spares' dir, under the runtime's root.
pub const DIR: &str = ".spare";
/// How many spares are kept at most.
pub const SLOTS: u32 = 64;
/// Slots tried by one `remove` before it removes the dir instead.
const TRIES: u32 = 4;

fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (from, to) = (cstr(from)?, cstr(to)?);
    // SAFETY: both paths are NUL-terminated; AT_FDCWD with absolute or relative paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn spares(dir: &Path) -> Option<PathBuf> {
    dir.parent().map(|root| root.join(DIR))
}

/// Makes `dir`, the state dir of container `id`: a spare renamed into place if there is
/// one, else a new directory. An existing `dir` is another container of that id.
pub(crate) fn make(dir: &Path, id: &str) -> Result<()> {
    if let Some(entries) = spares(dir).and_then(|s| std::fs::read_dir(s).ok()) {
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match rename_noreplace(&entry.path(), dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::Exists(id.to_string()));
                }
                // Taken by another create meanwhile, or not usable: the next one.
                Err(_) => continue,
            }
        }
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::Exists(id.to_string())),
        Err(e) => Err(Error::io("mkdir", dir, e)),
    }
}

/// Removes state dir `dir`: its contents go, and the emptied dir becomes a spare when a
/// slot is free (else it is removed too).
pub(crate) fn remove(dir: &Path) -> io::Result<()> {
    if empty(dir).is_err() {
        return std::fs::remove_dir_all(dir);
    }
    if ours(dir) && park(dir) {
        return Ok(());
    }
    std::fs::remove_dir(dir)
}

/// Removes everything in `dir`, not following symlinks.
fn empty(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Whether `dir` is a real directory of this process's user and group: nothing another
/// user was given reaches the next container.
fn ours(dir: &Path) -> bool {
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.gid() == gid)
}

/// Moves `dir` to a free slot; false when none of the slots tried is free.
fn park(dir: &Path) -> bool {
    let Some(spares) = spares(dir) else {
        return false;
    };
    // Where to start: spread so that parallel deletes rarely try the same slots.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros())
        % SLOTS;
    let mut made = false;
    let mut i = 0;
    while i < TRIES {
        let slot = spares.join(((start + i) % SLOTS).to_string());
        match rename_noreplace(dir, &slot) {
            Ok(()) => return true,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made => {
                // The first spare under this root: make their dir, then try again.
                made = true;
                if std::fs::create_dir(&spares).is_err() && !spares.is_dir() {
                    return false;
                }
            }
            Err(_) => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    /// A removed state dir is emptied and parked; the next container's dir is that spare.
    #[test]
    fn a_removed_dir_is_parked_then_reused() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", "", e))?;
        let a = root.path().join("a");
        make(&a, "a")?;
        std::fs::write(a.join("state.json"), b"{}").map_err(|e| Error::io("write", &a, e))?;
        std::fs::create_dir_all(a.join("rootfs/x")).map_err(|e| Error::io("mkdir", &a, e))?;
        std::os::unix::fs::symlink("/etc", a.join("link")).map_err(|e| Error::io("ln", &a, e))?;
        let ino = std::fs::metadata(&a).map(|m| m.ino()).unwrap_or(0);
        remove(&a).map_err(|e| Error::io("remove", &a, e))?;
        assert!(!a.exists());
        let spares = root.path().join(DIR);
        assert_eq!(count(&spares), 1, "not parked");
        assert!(Path::new("/etc/hostname").exists(), "followed the symlink");

        let b = root.path().join("b");
        make(&b, "b")?;
        assert_eq!(count(&spares), 0, "the spare was not taken");
        assert_eq!(count(&b), 0, "the spare was not empty");
        let reused = std::fs::metadata(&b).map(|m| m.ino()).unwrap_or(1);
        assert_eq!(reused, ino, "not the parked dir");
        Ok(())
    }

    /// An existing container's dir is never replaced by a spare.
    #[test]
    fn an_existing_dir_is_another_container() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", "", e))?;
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        make(&a, "a")?;
        make(&b, "b")?;
        std::fs::write(b.join("state.json"), b"{}").map_err(|e| Error::io("write", &b, e))?;
        remove(&a).map_err(|e| Error::io("remove", &a, e))?;
        assert!(matches!(make(&b, "b"), Err(Error::Exists(_))));
        assert!(
            b.join("state.json").exists(),
            "the container's dir was replaced"
        );
        assert_eq!(count(&root.path().join(DIR)), 1, "the spare was used up");
        Ok(())
    }

    /// With every slot taken, a dir is removed, not kept: the spares stay bounded.
    #[test]
    fn full_slots_mean_removal() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", "", e))?;
        let spares = root.path().join(DIR);
        for i in 0..SLOTS {
            let s = spares.join(i.to_string());
            std::fs::create_dir_all(&s).map_err(|e| Error::io("mkdir", &s, e))?;
        }
        let a = root.path().join("a");
        make(&a, "a")?;
        // The spare taken for `a` left one slot free: fill it again.
        let missing = (0..SLOTS)
            .map(|i| spares.join(i.to_string()))
            .find(|p| !p.exists());
        if let Some(p) = missing {
            std::fs::create_dir(&p).map_err(|e| Error::io("mkdir", &p, e))?;
        }
        remove(&a).map_err(|e| Error::io("remove", &a, e))?;
        assert!(!a.exists());
        assert_eq!(count(&spares), SLOTS as usize);
        Ok(())
    }
}

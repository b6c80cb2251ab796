//! Named and anonymous volumes: directories under `<root>/volumes/<name>/_data`, made on
//! first use and filled from the image's content at the mount path while empty, as Docker
//! does. Kept by `down`, removed by `down -v`; external volumes are never made or removed.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a volume cannot be made, filled or removed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("external volume {name} not found (create it first)")]
    ExternalMissing { name: String },
    #[error("volume {name}: {op} {}: {source}", path.display())]
    Io {
        name: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume {name}: invalid name (use [A-Za-z0-9][A-Za-z0-9_.-]*)")]
    BadName { name: String },
}

type Result<T> = std::result::Result<T, VolumeError>;

fn io(name: &str, op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let (name, path) = (name.to_string(), path.to_owned());
    move |source| VolumeError::Io {
        name,
        op,
        path,
        source,
    }
}

/// Volume names become directory names: Docker's alphabet only.
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

/// `<root>/volumes/<name>`.
pub fn volume_dir(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name)
}

/// The directory a volume's content lives in (what gets mounted).
pub fn data_dir(root: &Path, name: &str) -> PathBuf {
    volume_dir(root, name).join("_data")
}

/// Makes the volume's dir if missing; true when it was made now.
pub fn ensure(root: &Path, name: &str, external: bool) -> Result<bool> {
    if !valid_name(name) {
        return Err(VolumeError::BadName {
            name: name.to_string(),
        });
    }
    let data = data_dir(root, name);
    if data.is_dir() {
        return Ok(false);
    }
    if external {
        return Err(VolumeError::ExternalMissing {
            name: name.to_string(),
        });
    }
    std::fs::create_dir_all(&data).map_err(io(name, "create", &data))?;
    Ok(true)
}

/// Whether the volume holds nothing.
pub fn is_empty(root: &Path, name: &str) -> Result<bool> {
    let data = data_dir(root, name);
    let mut it = std::fs::read_dir(&data).map_err(io(name, "read", &data))?;
    Ok(it.next().is_none())
}

/// Removes the volume and its content. A missing one is fine.
pub fn remove(root: &Path, name: &str) -> Result<()> {
    if !valid_name(name) {
        return Err(VolumeError::BadName {
            name: name.to_string(),
        });
    }
    let dir = volume_dir(root, name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(name, "remove", &dir)(e)),
    }
}

/// Copies what the image has at `target` (the union of `lowers`, topmost first) into the
/// volume, the lowest layer first so upper layers win; whiteouts remove.
pub fn copy_up(root: &Path, name: &str, lowers: &[PathBuf], target: &str) -> Result<()> {
    let data = data_dir(root, name);
    let rel = target.trim_start_matches('/');
    for layer in lowers.iter().rev() {
        let src = layer.join(rel);
        match std::fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => copy_dir(&src, &data).map_err(io(name, "copy into", &data))?,
            _ => continue,
        }
    }
    Ok(())
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Copies the entries of `src` into the existing dir `dest`: files, dirs, symlinks, with
/// mode and owner; skips device nodes, fifos and sockets.
fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if is_whiteout(&m) {
            remove_any(&to)?;
            continue;
        }
        if ft.is_dir() {
            match std::fs::symlink_metadata(&to) {
                Ok(t) if t.is_dir() => {}
                Ok(_) => {
                    remove_any(&to)?;
                    std::fs::create_dir(&to)?;
                }
                Err(_) => std::fs::create_dir(&to)?,
            }
            copy_dir(&from, &to)?;
        } else if ft.is_symlink() {
            remove_any(&to)?;
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            remove_any(&to)?;
            std::fs::copy(&from, &to)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
    }
    Ok(())
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn names_are_checked() {
        for ok in ["p_data", "a", "a.b-c_1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "_a", "../x", "a/b", ".x", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn made_filled_from_layers_and_removed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("root");
        let low = dir.path().join("low");
        let up = dir.path().join("up");
        std::fs::create_dir_all(low.join("data/sub"))?;
        std::fs::write(low.join("data/a"), "low")?;
        std::fs::write(low.join("data/gone"), "x")?;
        std::fs::write(low.join("data/sub/s"), "s")?;
        std::fs::set_permissions(
            low.join("data/sub/s"),
            std::fs::Permissions::from_mode(0o640),
        )?;
        std::fs::create_dir_all(up.join("data"))?;
        std::fs::write(up.join("data/a"), "up")?;
        std::os::unix::fs::symlink("a", up.join("data/link"))?;
        // An overlay whiteout (char 0/0) in the upper layer hides `gone`.
        let wh = std::ffi::CString::new(up.join("data/gone").as_os_str().as_encoded_bytes())?;
        // SAFETY: wh is NUL-terminated; mknod of a char device 0/0 (we run as root).
        let r = unsafe { libc::mknod(wh.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());

        assert!(ensure(&root, "p_v", false)?);
        assert!(!ensure(&root, "p_v", false)?);
        assert!(is_empty(&root, "p_v")?);
        copy_up(&root, "p_v", &[up.clone(), low.clone()], "/data")?;
        let d = data_dir(&root, "p_v");
        assert_eq!(std::fs::read_to_string(d.join("a"))?, "up");
        assert_eq!(std::fs::read_to_string(d.join("sub/s"))?, "s");
        assert_eq!(std::fs::metadata(d.join("sub/s"))?.mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_link(d.join("link"))?, PathBuf::from("a"));
        assert!(!d.join("gone").exists());
        assert!(!is_empty(&root, "p_v")?);
        copy_up(&root, "p_w", &[up], "/nothing-here").ok();

        assert!(matches!(
            ensure(&root, "ext", true),
            Err(VolumeError::ExternalMissing { .. })
        ));
        remove(&root, "p_v")?;
        assert!(!volume_dir(&root, "p_v").exists());
        remove(&root, "p_v")?;
        assert!(remove(&root, "../etc").is_err());
        Ok(())
    }
}

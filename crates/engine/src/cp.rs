//! `compose cp`: files between a service's running container and the host, as `docker cp`
//! copies them. The container side is reached through `/proc/<init>/root` and every path
//! there is resolved inside the container's root (openat2 `RESOLVE_IN_ROOT`), so a symlink
//! in the container cannot point a copy at the host. Copies go as a tar stream through the
//! image crate's unpacker, which writes nothing outside its destination.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use compose_image::unpack::{Compression, UnpackOptions, unpack_layer};
use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::runner::Live;
use crate::store::ContainerRow;

fn other(what: impl std::fmt::Display) -> Error {
    Error::Other(what.to_string())
}

/// A path in the container, opened inside its root.
struct Inside {
    fd: OwnedFd,
    is_dir: bool,
}

impl Inside {
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

impl Engine {
    /// The running container `index` (1-based) of `service`, and its init's pid.
    pub fn running_container(
        &self,
        project: &str,
        service: &str,
        index: u32,
    ) -> Result<(ContainerRow, i32)> {
        let rows = self.containers(project)?;
        let (row, live) = rows
            .into_iter()
            .find(|(r, _)| r.service == service && r.number == index)
            .ok_or_else(|| other(format!("service \"{service}\" has no container #{index}")))?;
        if !matches!(live, Live::Running) {
            return Err(other(format!("container {} is not running", row.name)));
        }
        let pid = self
            .runner
            .runtime()
            .load(&row.id)
            .map_err(Error::Runtime)?
            .pid();
        Ok((row, pid))
    }

    /// Copies `src` of the container to `dest` on the host. Without `archive`, what is
    /// copied is owned by root.
    pub fn copy_from_container(
        &self,
        project: &str,
        service: &str,
        index: u32,
        src: &str,
        dest: &Path,
        archive: bool,
    ) -> Result<()> {
        let (row, pid) = self.running_container(project, service, index)?;
        let inside =
            open_inside(pid, src, false).map_err(|e| other(format!("{}:{src}: {e}", row.name)))?;
        let (dir, name) = host_target(dest, src, inside.is_dir)?;
        let owner = if archive { None } else { Some((0, 0)) };
        stream(&inside.path(), &name, owner, &dir).map_err(|e| {
            other(format!(
                "copying {}:{src} to {}: {e}",
                row.name,
                dest.display()
            ))
        })
    }

    /// Copies `src` on the host into the container at `dest`. Without `archive`, what is
    /// copied is owned by root in the container.
    pub fn copy_to_container(
        &self,
        project: &str,
        service: &str,
        index: u32,
        src: &Path,
        dest: &str,
        archive: bool,
    ) -> Result<()> {
        let (row, pid) = self.running_container(project, service, index)?;
        let meta =
            std::fs::symlink_metadata(src).map_err(|e| other(format!("{}: {e}", src.display())))?;
        // An existing directory takes the source inside; else `dest` names the copy.
        let (dir, name) = match open_inside(pid, dest, true) {
            Ok(d) if d.is_dir => {
                let base = if src.ends_with(".") {
                    PathBuf::from(".")
                } else {
                    PathBuf::from(src.file_name().unwrap_or_default())
                };
                (d, base)
            }
            _ => {
                let parent = Path::new(dest)
                    .parent()
                    .map(|p| p.display().to_string())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into());
                let d = open_inside(pid, &parent, true)
                    .map_err(|e| other(format!("{}:{parent}: {e}", row.name)))?;
                let base = Path::new(dest)
                    .file_name()
                    .map(PathBuf::from)
                    .ok_or_else(|| other(format!("{}:{dest}: not a file name", row.name)))?;
                (d, base)
            }
        };
        let owner = if archive { None } else { Some((0, 0)) };
        let name = if meta.is_dir() && name.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            name
        };
        stream(src, &name, owner, &dir.path()).map_err(|e| {
            other(format!(
                "copying {} to {}:{dest}: {e}",
                src.display(),
                row.name
            ))
        })
    }
}

/// Opens `path` inside the root of process `pid` (following symlinks only within it).
fn open_inside(pid: i32, path: &str, want_dir: bool) -> std::io::Result<Inside> {
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = if want_dir {
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
    } else {
        OFlags::PATH | OFlags::CLOEXEC
    };
    let fd = openat2(&root, rel, flags, Mode::empty(), ResolveFlags::IN_ROOT)?;
    let st = rustix::fs::fstat(&fd)?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
    Ok(Inside { fd, is_dir })
}

/// Where a copy out lands: into `dest` when it is a directory, else as `dest`.
fn host_target(dest: &Path, src: &str, src_is_dir: bool) -> Result<(PathBuf, PathBuf)> {
    let src_name = Path::new(src.trim_end_matches('/'))
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if src.ends_with("/.") && src_is_dir {
        std::fs::create_dir_all(dest).map_err(|e| other(format!("{}: {e}", dest.display())))?;
        return Ok((dest.to_path_buf(), PathBuf::from(".")));
    }
    if dest.is_dir() {
        return Ok((dest.to_path_buf(), src_name));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(other(format!("{}: no such directory", parent.display())));
    }
    let name = dest
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| other(format!("{}: not a file name", dest.display())))?;
    Ok((parent.to_path_buf(), name))
}

/// Writes `path` as `name` into a tar, laid into `dir` by the unpacker.
fn stream(
    path: &Path,
    name: &Path,
    owner: Option<(u32, u32)>,
    dir: &Path,
) -> std::result::Result<(), String> {
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            compose_build::diff::write_tree(path, name, true, owner, writer)
                .map_err(|e| e.to_string())
        });
        let opts = UnpackOptions {
            preserve_ownership: true,
            ..UnpackOptions::default()
        };
        let unpacked =
            unpack_layer(reader, Compression::None, dir, &opts).map_err(|e| e.to_string());
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err("the copy thread panicked".into()));
        match (produced, unpacked) {
            (Ok(_), Ok(_)) => Ok(()),
            (Err(p), Err(u)) if p.contains("Broken pipe") => Err(u),
            (Err(p), _) => Err(p),
            (Ok(_), Err(u)) => Err(u),
        }
    })
}

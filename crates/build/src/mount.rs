//! Mounts a build step makes for itself (the stage's overlay rootfs), kept out of the host's
//! mount table: the work runs on a thread of its own that first unshares its mount
//! namespace and makes every mount private, so whatever it mounts is seen by it alone and
//! goes away with the thread, even when the step fails or the builder is killed.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_change};
use rustix::thread::{UnshareFlags, unshare_unsafe};

/// Why a private mount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "overlay options for {layers} layers are {len} bytes, over the kernel's one-page limit"
    )]
    TooManyLayers { layers: usize, len: usize },
    #[error("the mount thread panicked")]
    Panicked,
}

fn sys(op: impl Into<String>, e: rustix::io::Errno) -> MountError {
    MountError::Sys {
        op: op.into(),
        source: e.into(),
    }
}

/// Runs `f` on a new thread inside a private mount namespace of its own.
pub fn in_private_namespace<T, E>(f: impl FnOnce() -> Result<T, E> + Send) -> Result<T, E>
where
    T: Send,
    E: From<MountError> + Send,
{
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            // SAFETY: unsharing only the mount namespace (with it, the fs attributes) of
            // this thread; no other thread shares this thread's fs struct assumptions, and
            // the thread ends when `f` returns, taking the namespace with it.
            unsafe { unshare_unsafe(UnshareFlags::NEWNS) }
                .map_err(|e| E::from(sys("unshare(CLONE_NEWNS)", e)))?;
            // Nothing mounted here may reach the host's namespace.
            mount_change(
                "/",
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            )
            .map_err(|e| E::from(sys("make / rprivate", e)))?;
            f()
        });
        handle.join().unwrap_or(Err(E::from(MountError::Panicked)))
    })
}

/// As [`in_private_namespace`], with a channel from `f` back to the calling thread:
/// `on_msg` gets each message as `f` sends it (live output of a step), until `f` ends.
pub fn in_private_namespace_with<T, E, M>(
    f: impl FnOnce(Sender<M>) -> Result<T, E> + Send,
    mut on_msg: impl FnMut(M),
) -> Result<T, E>
where
    T: Send,
    E: From<MountError> + Send,
    M: Send,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let handle = s.spawn(move || in_private_namespace(move || f(tx)));
        // Ends when the sender is dropped: `f` returned (or panicked).
        for m in rx {
            on_msg(m);
        }
        handle.join().unwrap_or(Err(E::from(MountError::Panicked)))
    })
}

/// The layers of an overlay rootfs, bottom first.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// The kernel reads mount options from one page.
const OPTIONS_LIMIT: usize = 4095;

impl Overlay {
    /// Mounts the overlay at `target` (call inside [`in_private_namespace`]). With no
    /// lower layer, `target` becomes a bind of `upper`.
    pub fn mount(&self, target: &Path) -> Result<(), MountError> {
        if self.lowers.is_empty() {
            return mount(&self.upper, target, "", MountFlags::BIND, None)
                .map_err(|e| sys(format!("bind {}", self.upper.display()), e));
        }
        let mut opts = OsString::from("lowerdir=");
        for (i, l) in self.lowers.iter().rev().enumerate() {
            if i > 0 {
                opts.push(":");
            }
            opts.push(l.as_os_str());
        }
        opts.push(",upperdir=");
        opts.push(self.upper.as_os_str());
        opts.push(",workdir=");
        opts.push(self.work.as_os_str());
        if opts.len() > OPTIONS_LIMIT {
            return Err(MountError::TooManyLayers {
                layers: self.lowers.len(),
                len: opts.len(),
            });
        }
        let data =
            std::ffi::CString::new(opts.into_encoded_bytes()).map_err(|_| MountError::Sys {
                op: "overlay options".into(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            })?;
        mount(
            "overlay",
            target,
            "overlay",
            MountFlags::empty(),
            Some(data.as_c_str()),
        )
        .map_err(|e| sys(format!("mount overlay on {}", target.display()), e))
    }
}

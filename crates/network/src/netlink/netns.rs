//! Network namespaces as the caller names them, and netlink sockets opened inside them.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use super::{Netlink, NetlinkError, Result};

/// A network namespace: an open fd, a process whose namespace it is, or a path to a
/// namespace file (`/proc/PID/ns/net`, `/run/netns/NAME`).
#[derive(Debug)]
pub enum NetnsRef {
    Fd(OwnedFd),
    Pid(u32),
    Path(PathBuf),
}

impl NetnsRef {
    /// Opens the namespace file; the fd keeps the namespace alive while we use it.
    pub fn open(&self) -> Result<OwnedFd> {
        let path = match self {
            NetnsRef::Fd(fd) => {
                return fd
                    .try_clone()
                    .map_err(|e| NetlinkError::new("dup netns fd", e));
            }
            NetnsRef::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
            NetnsRef::Path(p) => p.clone(),
        };
        File::open(&path)
            .map(OwnedFd::from)
            .map_err(|e| NetlinkError::new(format!("open netns {}", path.display()), e))
    }
}

impl Netlink {
    /// A socket inside the namespace `ns`. A socket stays bound to the namespace it was
    /// created in, so a short-lived thread enters the namespace, opens it and hands it back;
    /// the calling thread never changes namespace.
    pub fn open_in(ns: BorrowedFd<'_>) -> Result<Self> {
        let fd = ns
            .try_clone_to_owned()
            .map_err(|e| NetlinkError::new("dup netns fd", e))?;
        let socket = std::thread::scope(|s| {
            s.spawn(move || -> io::Result<_> {
                move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Network))?;
                super::open_socket()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
        });
        Self::from_socket(socket)
    }
}

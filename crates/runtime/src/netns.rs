//! A container's fresh network namespace, made by the creating process after the clone,
//! while the init mounts, instead of by `clone3(CLONE_NEWNET)`.
//!
//! A new network namespace costs about 0.5 ms (the kernel sets up its loopback, sysctls
//! and per-net state). In the clone, the parent waits for it; first thing in the init, the
//! init's setup (the longer of the two paths after the clone) does. Here it runs beside
//! that setup: the parent's thread unshares into a new one, opens it, goes back to its own
//! and puts the new one at an fd number reserved before the clone; the init opens it as
//! `/proc/PARENT/fd/N` (the host's /proc is still its view then) just before it mounts
//! sysfs. Not with a user namespace, which must own the network namespace.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::sys::{self, Errno};

/// The fd number the namespace will be at, and this thread's own namespace to go back to.
#[derive(Debug)]
pub(crate) struct Slot {
    slot: OwnedFd,
    own: OwnedFd,
}

fn open(path: &std::ffi::CStr) -> sys::SysResult<OwnedFd> {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Slot {
    /// Before the clone: holds `/dev/null` at the number the namespace will take.
    pub(crate) fn reserve() -> Result<Slot> {
        let slot = open(c"/dev/null").map_err(|e| Error::sys("open /dev/null", e))?;
        let own = open(c"/proc/thread-self/ns/net")
            .map_err(|e| Error::sys("open /proc/thread-self/ns/net", e))?;
        Ok(Slot { slot, own })
    }

    /// Where the init finds the namespace once [`Slot::fill`] is done.
    pub(crate) fn path(&self) -> Result<CString> {
        let p = format!("/proc/{}/fd/{}", std::process::id(), self.slot.as_raw_fd());
        CString::new(p).map_err(|_| Error::Invalid("NUL in a /proc path".into()))
    }

    /// Makes the namespace and puts it in the slot; this thread is back in its own
    /// namespace when this returns, whatever else failed.
    pub(crate) fn fill(&self) -> Result<()> {
        // SAFETY: unshare with a flag; it moves only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            return Err(Error::sys("unshare(CLONE_NEWNET)", Errno::last()));
        }
        let new = open(c"/proc/thread-self/ns/net");
        // SAFETY: setns with our own namespace's open fd.
        if unsafe { libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
            return Err(Error::sys(
                "setns back to the runtime's own network namespace",
                Errno::last(),
            ));
        }
        let new = new.map_err(|e| Error::sys("open the new network namespace", e))?;
        // SAFETY: dup3 onto the slot we own: it atomically becomes the namespace.
        let r = unsafe { libc::dup3(new.as_raw_fd(), self.slot.as_raw_fd(), libc::O_CLOEXEC) };
        if r < 0 {
            return Err(Error::sys("dup3 of the network namespace", Errno::last()));
        }
        Ok(())
    }
}

/// Whether the spec asks for a new network namespace (no path to join).
pub(crate) fn wants_fresh(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Network && n.path().is_none()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(path: &str) -> u64 {
        std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
    }

    /// The slot ends up holding a new namespace, at the path given before, and the
    /// calling thread is back in its own.
    #[test]
    fn fill_puts_a_new_namespace_in_the_slot_and_comes_back() -> Result<()> {
        let before = ino("/proc/thread-self/ns/net");
        let slot = Slot::reserve()?;
        let path = slot.path()?.into_string().unwrap_or_default();
        assert_eq!(ino(&path), ino("/dev/null"));
        slot.fill()?;
        assert_eq!(ino("/proc/thread-self/ns/net"), before, "not back");
        let made = ino(&path);
        assert_ne!(made, before, "not a new namespace");
        assert_ne!(made, ino("/dev/null"), "the slot was not filled");
        Ok(())
    }
}

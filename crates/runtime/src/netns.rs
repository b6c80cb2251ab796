//! A container's fresh network namespace, made on a helper thread while `create` does its
//! other work (state dir, fifo, pipes, plan), and joined by the init with `setns`.
//!
//! Made by `clone3(CLONE_NEWNET)` instead, the namespace costs the clone itself about
//! 0.5 ms (the kernel sets up the namespace's loopback, sysctls and per-net state), all of
//! it on the one thread that everything else waits for. The helper is joined (it has
//! exited) before the raw `clone3`: a clone of a process with another live thread could
//! copy a lock that thread holds.

use std::os::fd::{FromRawFd, OwnedFd};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::sys;

/// A network namespace being made on a helper thread.
#[derive(Debug)]
pub(crate) struct Pending(JoinHandle<sys::SysResult<OwnedFd>>);

impl Pending {
    /// Starts making the namespace; `None` when no thread can be started (the caller
    /// then lets `clone3` make it, as before).
    pub(crate) fn start() -> Option<Pending> {
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(make)
            .ok()
            .map(Pending)
    }

    /// Waits for the helper: an fd of the new namespace, which holds it alive.
    pub(crate) fn finish(self) -> Result<OwnedFd> {
        match self.0.join() {
            Ok(Ok(fd)) => Ok(fd),
            Ok(Err(e)) => Err(Error::sys("making the network namespace", e)),
            Err(_) => Err(Error::Invalid(
                "the thread making the network namespace panicked".into(),
            )),
        }
    }
}

/// On the helper thread: moves this thread alone into a new network namespace and opens
/// it. Raw syscalls only, no allocation (no malloc arena for a thread this short).
fn make() -> sys::SysResult<OwnedFd> {
    // SAFETY: unshare with a flag; it acts on this thread only (threads do not share a
    // network namespace with their process's others once they unshare it).
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(sys::Errno::last());
    }
    // SAFETY: the path is a NUL-terminated literal.
    let fd = unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(sys::Errno::last());
    }
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `create` should make the namespace on a helper: the spec asks for a fresh one
/// (no path, none given by the caller) and no user namespace, which must own it (one made
/// here would belong to the host's).
pub(crate) fn wanted(spec: &oci_spec::runtime::Spec, given: bool) -> bool {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let Some(ns) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return false;
    };
    !given
        && ns
            .iter()
            .any(|n| n.typ() == T::Network && n.path().is_none())
        && !ns.iter().any(|n| n.typ() == T::User)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(path: &str) -> u64 {
        std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
    }

    /// The helper's namespace is a new one, and the calling thread (the one that will
    /// clone) is still in its own: only the helper thread moved.
    #[test]
    fn the_helper_makes_a_new_namespace_and_leaves_the_caller_in_its_own() {
        let before = ino("/proc/thread-self/ns/net");
        let fd = Pending::start()
            .map(Pending::finish)
            .and_then(|r| r.ok())
            .expect("a netns fd");
        let made = std::fs::metadata(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .map(|m| m.ino())
        .unwrap_or(0);
        assert_ne!(made, 0);
        assert_ne!(made, before, "not a new namespace");
        assert_eq!(ino("/proc/thread-self/ns/net"), before, "the caller moved");
    }

    #[test]
    fn wanted_only_for_a_fresh_netns_without_a_user_namespace() {
        let spec = |json: &str| -> oci_spec::runtime::Spec {
            serde_json::from_str(&format!(
                r#"{{"ociVersion":"1.0.2","linux":{{"namespaces":{json}}}}}"#
            ))
            .expect("spec")
        };
        let fresh = spec(r#"[{"type":"mount"},{"type":"network"}]"#);
        assert!(wanted(&fresh, false));
        assert!(!wanted(&fresh, true), "the caller gave one");
        let by_path = spec(r#"[{"type":"mount"},{"type":"network","path":"/run/netns/x"}]"#);
        assert!(!wanted(&by_path, false));
        let host = spec(r#"[{"type":"mount"}]"#);
        assert!(!wanted(&host, false));
        let userns = spec(r#"[{"type":"mount"},{"type":"network"},{"type":"user"}]"#);
        assert!(!wanted(&userns, false), "the user namespace must own it");
    }
}

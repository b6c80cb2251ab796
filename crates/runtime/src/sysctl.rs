//! The spec's `linux.sysctl`: only the sysctls that live in a namespace the container has
//! of its own. Any other would change the host (`kernel.panic`, `vm.*`), so it is refused
//! with the name, never written.
//!
//! The init writes each one through the host's `/proc/sys` before the pivot: these files
//! act on the namespaces of the writing task, and by then it is in the container's.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The namespace a sysctl lives in, as `CLONE_NEW*`.
fn namespace_of(key: &str) -> Option<libc::c_int> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.starts_with("net.") {
        Some(libc::CLONE_NEWNET)
    } else if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(libc::CLONE_NEWIPC)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(libc::CLONE_NEWUTS)
    } else {
        None
    }
}

fn ns_name(ns: libc::c_int) -> &'static str {
    match ns {
        libc::CLONE_NEWNET => "network",
        libc::CLONE_NEWIPC => "IPC",
        _ => "UTS",
    }
}

/// The `/proc/sys` path of a dotted key; dots only, each part a plain name.
fn proc_path(key: &str) -> Result<String> {
    let ok = key
        .split('.')
        .all(|p| !p.is_empty() && !p.contains('/') && p != "..");
    if !ok {
        return Err(Error::Invalid(format!(
            "sysctl {key:?}: not a sysctl name (parts separated by dots)"
        )));
    }
    Ok(format!("/proc/sys/{}", key.replace('.', "/")))
}

/// The sysctls to write, as `(key, /proc/sys path, value)` sorted by key, after checking
/// each against the namespaces the container has (`own_ns`: the `CLONE_NEW*` flags of
/// the namespaces it does not share with the host; a joined network namespace counts).
pub fn plan(sysctls: &HashMap<String, String>, own_ns: libc::c_int) -> Result<Vec<Sysctl>> {
    let mut out = Vec::with_capacity(sysctls.len());
    for (key, value) in sysctls {
        let Some(ns) = namespace_of(key) else {
            return Err(Error::Invalid(format!(
                "sysctl {key}: not namespaced, setting it would change the host; only net.*, \
                 kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname and \
                 kernel.domainname can be set for a container"
            )));
        };
        if own_ns & ns == 0 {
            return Err(Error::Invalid(format!(
                "sysctl {key}: the container shares the host's {} namespace, so it would \
                 change the host",
                ns_name(ns)
            )));
        }
        if value.contains('\0') {
            return Err(Error::Invalid(format!("sysctl {key}: NUL in the value")));
        }
        out.push(Sysctl {
            key: key.clone(),
            path: proc_path(key)?,
            value: value.clone(),
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// One sysctl to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub key: String,
    pub path: String,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> HashMap<String, String> {
        HashMap::from([(k.to_string(), v.to_string())])
    }

    const ALL: libc::c_int = libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;

    #[test]
    fn namespaced_ones_map_to_proc_sys() -> Result<()> {
        let w = plan(&one("net.ipv4.ip_forward", "1"), ALL)?;
        assert_eq!(w[0].path, "/proc/sys/net/ipv4/ip_forward");
        let w = plan(&one("fs.mqueue.msg_max", "20"), libc::CLONE_NEWIPC)?;
        assert_eq!(w[0].path, "/proc/sys/fs/mqueue/msg_max");
        assert!(plan(&one("kernel.shmmax", "1"), libc::CLONE_NEWIPC).is_ok());
        Ok(())
    }

    #[test]
    fn host_wide_ones_are_refused_by_name() {
        for k in [
            "kernel.panic",
            "vm.swappiness",
            "kernel.shmmaxx",
            "fs.file-max",
        ] {
            let e = plan(&one(k, "1"), ALL).map(drop);
            let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(k) && msg.contains("not namespaced"), "{msg}");
        }
    }

    #[test]
    fn a_shared_namespace_is_refused() {
        let e = plan(&one("net.core.somaxconn", "1"), libc::CLONE_NEWIPC);
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("host's network namespace"), "{msg}");
    }

    #[test]
    fn odd_names_are_refused() {
        for k in ["net..x", "net.a/b", "net."] {
            assert!(plan(&one(k, "1"), ALL).is_err(), "{k}");
        }
    }
}

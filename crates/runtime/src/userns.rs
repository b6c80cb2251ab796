//! User namespaces where the spec asks for one: the init is cloned into a new user
//! namespace together with its others (so they belong to it), and the parent, still
//! privileged on the host, writes its uid and gid maps from `linux.uidMappings` and
//! `linux.gidMappings` before letting it go on. Root in the container is then an
//! unprivileged uid on the host.

use std::path::PathBuf;

use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::error::{Error, Result};

/// The text of `/proc/PID/uid_map` and `gid_map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Maps {
    pub uid: String,
    pub gid: String,
}

/// The kernel takes at most this many lines per map.
const MAX_LINES: usize = 340;

fn text(which: &str, m: &[LinuxIdMapping]) -> Result<String> {
    if m.is_empty() {
        return Err(Error::Invalid(format!(
            "a user namespace needs linux.{which} (none given: no id would be mapped)"
        )));
    }
    if m.len() > MAX_LINES {
        return Err(Error::Invalid(format!(
            "linux.{which}: {} ranges, the kernel takes at most {MAX_LINES}",
            m.len()
        )));
    }
    let mut out = String::new();
    for r in m {
        if r.size() == 0 {
            return Err(Error::Invalid(format!("linux.{which}: a range of size 0")));
        }
        out.push_str(&format!(
            "{} {} {}\n",
            r.container_id(),
            r.host_id(),
            r.size()
        ));
    }
    Ok(out)
}

/// The maps of a spec that asks for a new user namespace.
pub(crate) fn maps(linux: Option<&Linux>) -> Result<Maps> {
    let empty = Vec::new();
    let uid = linux
        .and_then(|l| l.uid_mappings().as_ref())
        .unwrap_or(&empty);
    let gid = linux
        .and_then(|l| l.gid_mappings().as_ref())
        .unwrap_or(&empty);
    Ok(Maps {
        uid: text("uidMappings", uid)?,
        gid: text("gidMappings", gid)?,
    })
}

/// The host ids of the namespace's root (what container id 0 maps to).
pub(crate) fn host_root(linux: Option<&Linux>) -> Option<(u32, u32)> {
    let find = |m: Option<&Vec<LinuxIdMapping>>| {
        m?.iter()
            .find(|r| r.container_id() == 0 && r.size() > 0)
            .map(|r| r.host_id())
    };
    let l = linux?;
    Some((
        find(l.uid_mappings().as_ref())?,
        find(l.gid_mappings().as_ref())?,
    ))
}

/// Writes the maps of the process `pid` (our child, waiting for them).
pub(crate) fn write(pid: i32, maps: &Maps) -> Result<()> {
    for (file, data) in [("uid_map", &maps.uid), ("gid_map", &maps.gid)] {
        let p = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&p, data).map_err(|e| Error::io("write", &p, e))?;
    }
    Ok(())
}

fn ns_ino(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Whether process `pid` is in another user namespace than this one (so that `exec`
/// must join it too: joining one's own is an error).
pub(crate) fn differs(pid: i32) -> bool {
    let theirs = ns_ino(&format!("/proc/{pid}/ns/user"));
    theirs.is_some() && theirs != ns_ino("/proc/self/ns/user")
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxIdMappingBuilder};

    fn range(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap_or_default()
    }

    #[test]
    fn maps_are_the_kernel_s_lines() -> Result<()> {
        let l = LinuxBuilder::default()
            .uid_mappings(vec![range(0, 100000, 65536)])
            .gid_mappings(vec![range(0, 200000, 1), range(1, 300000, 10)])
            .build()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let m = maps(Some(&l))?;
        assert_eq!(m.uid, "0 100000 65536\n");
        assert_eq!(m.gid, "0 200000 1\n1 300000 10\n");
        Ok(())
    }

    #[test]
    fn a_user_namespace_without_maps_is_refused() {
        let e = maps(None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("uidMappings"), "{e}");
    }
}

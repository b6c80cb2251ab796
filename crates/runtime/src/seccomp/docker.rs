//! Docker's seccomp profile files: the OCI form plus `archMap`, `name` (one call), and
//! `includes`/`excludes` that select rules by the container's capabilities, the arch and
//! the kernel version. Turned into a plain OCI `LinuxSeccomp` for one container.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSyscall,
};
use serde::Deserialize;

use super::{Error, Result, host_arch, is_known_anywhere};
use crate::caps;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<Arch>>,
    arch_map: Option<Vec<ArchMap>>,
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    listener_path: Option<PathBuf>,
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    names: Option<Vec<String>>,
    name: Option<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// What a rule's `includes`/`excludes` are matched against.
struct Host {
    caps: u64,
    arch: &'static str,
    kernel: (u32, u32),
}

/// Reads a Docker seccomp profile for a container whose capability bounding set is `caps`.
pub fn load_docker_profile(path: &Path, caps: &HashSet<Capability>) -> Result<LinuxSeccomp> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, caps, path)
}

/// [`load_docker_profile`] on a profile's text.
pub fn parse_docker_profile(text: &str, caps: &HashSet<Capability>) -> Result<LinuxSeccomp> {
    parse(text, caps, Path::new("(inline)"))
}

/// The profile a `security_opt` of `seccomp=VALUE` (or Docker's older `seccomp:VALUE`)
/// asks for, given its VALUE: `unconfined` is no filter (`None`); `builtin` or `default` is
/// [`super::default_profile`]; anything else is the path of a Docker profile file.
pub fn from_security_opt(value: &str, caps: &HashSet<Capability>) -> Result<Option<LinuxSeccomp>> {
    match value {
        "unconfined" => Ok(None),
        "builtin" | "default" => Ok(Some(super::default_profile(caps))),
        path => load_docker_profile(Path::new(path), caps).map(Some),
    }
}

fn parse(text: &str, caps: &HashSet<Capability>, path: &Path) -> Result<LinuxSeccomp> {
    let err = |message: String| Error::Parse {
        path: path.to_path_buf(),
        message,
    };
    let p: Profile = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    if p.listener_path.is_some() {
        return Err(err("listenerPath (a seccomp agent) is not supported".into()));
    }
    let host = Host {
        caps: cap_mask(caps.iter().map(|c| c.to_string())),
        arch: host_arch()?.docker_name(),
        kernel: kernel_version(),
    };
    let mut rules = Vec::new();
    for s in p.syscalls.unwrap_or_default() {
        let mut names = s.names.clone().unwrap_or_default();
        names.extend(s.name.clone());
        if let Some(bad) = names.iter().find(|n| !is_known_anywhere(n)) {
            return Err(err(format!(
                "unknown syscall {bad:?} (not a syscall of any arch we know)"
            )));
        }
        if names.is_empty() || !applies(&s, &host).map_err(err)? {
            continue;
        }
        let mut r = LinuxSyscall::default();
        r.set_names(names);
        r.set_action(s.action);
        r.set_errno_ret(s.errno_ret);
        r.set_args(s.args);
        rules.push(r);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(p.default_action);
    out.set_default_errno_ret(p.default_errno_ret);
    out.set_architectures(architectures(p.architectures, p.arch_map));
    out.set_flags(p.flags);
    out.set_syscalls(Some(rules));
    Ok(out)
}

/// `architectures`, or from `archMap` every arch with its sub-arches.
fn architectures(list: Option<Vec<Arch>>, map: Option<Vec<ArchMap>>) -> Option<Vec<Arch>> {
    let mut out = list.unwrap_or_default();
    for m in map.into_iter().flatten() {
        out.push(m.architecture);
        out.extend(m.sub_architectures.into_iter().flatten());
    }
    (!out.is_empty()).then_some(out)
}

fn cap_mask(names: impl IntoIterator<Item = String>) -> u64 {
    names
        .into_iter()
        .filter_map(|n| caps::number(&n))
        .fold(0, |m, c| m | (1u64 << c))
}

/// Whether a rule's `includes` all hold and none of its `excludes` does.
fn applies(s: &Syscall, host: &Host) -> std::result::Result<bool, String> {
    let inc = &s.includes;
    if let Some(c) = &inc.caps {
        let want = known_caps(c)?;
        if want & host.caps != want {
            return Ok(false);
        }
    }
    if let Some(a) = &inc.arches
        && !a.iter().any(|a| a == host.arch)
    {
        return Ok(false);
    }
    if let Some(k) = &inc.min_kernel
        && host.kernel < parse_kernel(k)?
    {
        return Ok(false);
    }
    let exc = &s.excludes;
    if let Some(c) = &exc.caps
        && known_caps(c)? & host.caps != 0
    {
        return Ok(false);
    }
    if let Some(a) = &exc.arches
        && a.iter().any(|a| a == host.arch)
    {
        return Ok(false);
    }
    Ok(true)
}

fn known_caps(names: &[String]) -> std::result::Result<u64, String> {
    caps::mask_of(names.iter().map(|s| s.as_str())).map_err(|e| e.to_string())
}

fn parse_kernel(v: &str) -> std::result::Result<(u32, u32), String> {
    let mut it = v.split(['.', '-']).map(|p| p.parse::<u32>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
        _ => Err(format!("minKernel {v:?} is not MAJOR.MINOR")),
    }
}

/// This kernel's major.minor; (0, 0) when unknown, so `minKernel` rules are left out.
fn kernel_version() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|s| parse_kernel(s.trim()).ok())
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "syscalls": [
            {"names": ["read", "write", "_llseek"], "action": "SCMP_ACT_ALLOW"},
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": null},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "comment": "no namespaces"},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
             "includes": {"minKernel": "4.8"}},
            {"names": ["reboot"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["s390x"]}}
        ]
    }"#;

    fn names(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn rules_are_selected_by_caps_arch_and_kernel() {
        let p = parse_docker_profile(PROFILE, &HashSet::new()).unwrap();
        let n = names(&p);
        assert!(n.contains(&"mkdir".to_string()));
        assert!(n.contains(&"clone".to_string()));
        assert!(n.contains(&"ptrace".to_string()));
        assert!(!n.contains(&"mount".to_string()));
        assert!(!n.contains(&"reboot".to_string()));
        assert_eq!(p.architectures().as_ref().map(|a| a.len()), Some(3));
        let admin = [Capability::SysAdmin].into_iter().collect();
        let n = names(&parse_docker_profile(PROFILE, &admin).unwrap());
        assert!(n.contains(&"mount".to_string()));
        assert!(!n.contains(&"clone".to_string()));
        assert!(super::super::compile(&p).is_ok());
    }

    #[test]
    fn security_opt_values() {
        let caps = HashSet::new();
        assert!(from_security_opt("unconfined", &caps).unwrap().is_none());
        assert!(from_security_opt("builtin", &caps).unwrap().is_some());
        let err = from_security_opt("/nonexistent/p.json", &caps)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/p.json"), "{err}");
    }

    #[test]
    fn an_unknown_syscall_is_named() {
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read", "mkdri"], "action": "SCMP_ACT_ERRNO"}]}"#;
        let err = parse_docker_profile(text, &HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"mkdri\""), "{err}");
    }

    #[test]
    fn bad_json_and_unknown_caps_are_errors() {
        assert!(parse_docker_profile("{", &HashSet::new()).is_err());
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_NOPE"]}}]}"#;
        let err = parse_docker_profile(text, &HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("CAP_NOPE"), "{err}");
    }
}

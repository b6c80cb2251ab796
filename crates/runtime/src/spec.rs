//! A spec with Docker's defaults, for callers (and tests) to start from.

use std::collections::HashSet;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
};

use crate::caps::DOCKER_DEFAULT;
use crate::error::{Error, Result};

/// Docker's masked paths.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))
}

/// The standard mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only).
pub fn default_mounts() -> Result<Vec<Mount>> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
    ])
}

/// Docker's 14 default capabilities as an oci-spec set.
pub fn default_capabilities() -> HashSet<Capability> {
    DOCKER_DEFAULT
        .iter()
        .filter_map(|n| n.trim_start_matches("CAP_").parse().ok())
        .collect()
}

/// A spec running `args` as root with Docker's defaults: its namespaces (pid, ipc, uts,
/// mount, network, cgroup), mounts, capabilities, masked and read-only paths, its seccomp
/// profile (made for the default capabilities: a caller that changes them should set
/// `linux.seccomp` to [`crate::seccomp::default_profile`] of the new set, or `None` for
/// `seccomp=unconfined`), and `no_new_privs`.
pub fn docker_default(args: &[&str]) -> Result<Spec> {
    let err = |e: oci_spec::OciSpecError| Error::Invalid(e.to_string());
    let caps = default_capabilities();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(err)?;
    let process = ProcessBuilder::default()
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ])
        .cwd("/")
        .capabilities(capabilities)
        .no_new_privileges(true)
        .rlimits(Vec::new())
        .build()
        .map_err(err)?;
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .map(|t| LinuxNamespaceBuilder::default().typ(t).build().map_err(err))
    .collect::<Result<Vec<_>>>()?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .seccomp(crate::seccomp::default_profile(&default_capabilities()))
        .masked_paths(
            MASKED_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .readonly_paths(
            READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(err)?;
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .map_err(err)?,
        )
        .process(process)
        .hostname("container")
        .mounts(default_mounts()?)
        .linux(linux)
        .build()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_has_docker_caps() -> Result<()> {
        assert_eq!(default_capabilities().len(), 14);
        let s = docker_default(&["true"])?;
        let caps = s.process().as_ref().and_then(|p| p.capabilities().clone());
        let eff = caps.and_then(|c| c.effective().clone()).unwrap_or_default();
        assert_eq!(
            crate::caps::mask_of_set(&eff)?,
            crate::caps::docker_default_mask()
        );
        Ok(())
    }
}

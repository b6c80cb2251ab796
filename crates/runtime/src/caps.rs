//! Capability names and numbers, Docker's default set, and the host's bounding set.

use std::collections::HashSet;

use oci_spec::runtime::Capability;

use crate::error::{Error, Result};

/// Every capability Linux knows, by number.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capabilities.
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The number of a capability given by name (`CAP_CHOWN` or `chown`).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The name of capability `n`.
pub fn name(n: u32) -> String {
    NAMES
        .get(n as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("CAP_{n}"))
}

/// A bit mask of capability names.
pub fn mask_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<u64> {
    let mut m = 0;
    for n in names {
        let c = number(n).ok_or_else(|| Error::UnknownCapability(n.to_string()))?;
        m |= 1u64 << c;
    }
    Ok(m)
}

/// The mask of an oci-spec capability set.
pub fn mask_of_set(set: &HashSet<Capability>) -> Result<u64> {
    let names: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    mask_of(names.iter().map(|s| s.as_str()))
}

/// Docker's 14 default capabilities as a mask.
pub fn docker_default_mask() -> u64 {
    DOCKER_DEFAULT
        .iter()
        .filter_map(|n| number(n))
        .fold(0, |m, c| m | (1u64 << c))
}

/// The names of the capabilities in a mask.
pub fn names_of(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|c| mask & (1u64 << c) != 0)
        .map(name)
        .collect()
}

/// One line of `/proc/self/status` as a hex mask (`CapBnd`, `CapEff`...).
pub fn own_status_mask(field: &str) -> Result<u64> {
    let status = crate::sys::read_small("/proc/self/status").map_err(|source| Error::Io {
        what: "read".into(),
        path: "/proc/self/status".into(),
        source,
    })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| Error::Invalid(format!("no {field} line in /proc/self/status")))
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    crate::sys::read_small("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Fails, naming them, when some requested capabilities are not in the host's bounding set:
/// a container can't be given what its runtime doesn't have.
pub fn check_grantable(requested: u64, host_bounding: u64) -> Result<()> {
    let missing = requested & !host_bounding;
    if missing == 0 {
        return Ok(());
    }
    Err(Error::CapabilityUnavailable(names_of(missing).join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_are_fourteen_known_caps() {
        let m = docker_default_mask();
        assert_eq!(m.count_ones(), 14);
        assert_eq!(m, 0x00000000a80425fb);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(number("chown"), Some(0));
        assert_eq!(number("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(name(24), "CAP_SYS_RESOURCE");
        assert!(number("CAP_NOPE").is_none());
    }

    #[test]
    fn ungrantable_caps_are_named() {
        let host = !(1u64 << 24);
        let err = check_grantable(1 << 24 | 1, host).unwrap_err().to_string();
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
        assert!(check_grantable(docker_default_mask(), host).is_ok());
    }
}

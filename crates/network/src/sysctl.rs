//! The few `/proc/sys/net` switches a bridge network needs.

use std::path::PathBuf;

use crate::error::{Error, Result};

fn write(path: PathBuf, value: &str) -> Result<()> {
    // Reading first avoids a write (and its netlink event) when the value is already set.
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|source| Error::Sysctl { path, source })
}

/// Turns on IPv4 forwarding: containers of non-internal networks reach out through the
/// host. It is never turned off again (other software may rely on it by then).
pub fn enable_ip_forward() -> Result<()> {
    write(PathBuf::from("/proc/sys/net/ipv4/ip_forward"), "1")
}

/// Lets packets to 127.0.0.0/8 be routed out of `bridge` once DNAT has rewritten them:
/// this is what makes a published port answer on 127.0.0.1.
pub fn enable_route_localnet(bridge: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    write(PathBuf::from(path), "1")
}

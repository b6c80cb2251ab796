//! The crate's error: one variant per concern, each with the context a user needs.

use std::io;
use std::path::PathBuf;

use crate::firewall::FirewallError;
use crate::ipam::IpamError;
use crate::netlink::NetlinkError;
use crate::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("write {path}: {source}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid mac_address '{0}': expected six hex bytes like 02:42:ac:11:00:02")]
    Mac(String),
    #[error(
        "network '{network}' exists with subnet {has}, but the file asks for {wanted}; \
         remove it (down) to change it"
    )]
    Mismatch {
        network: String,
        has: crate::cidr::Ipv4Cidr,
        wanted: crate::cidr::Ipv4Cidr,
    },
    #[error("network '{network}': driver '{driver}' is not supported (bridge only)")]
    Driver { network: String, driver: String },
    #[error(
        "network '{network}': enable_ipv6 is not supported (IPv4 only); remove it or set it to false"
    )]
    Ipv6 { network: String },
    #[error("network '{network}': invalid MTU '{value}' in driver_opts")]
    Mtu { network: String, value: String },
    #[error("external network '{network}' not found (no bridge {bridge} on this host)")]
    ExternalMissing { network: String, bridge: String },
    /// A teardown step's thread panicked (a bug): what it was doing.
    #[error("{0}: a thread panicked")]
    Panicked(&'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Every failure of a teardown that kept going: the teardown did all it could, and these
/// are what is left.
#[derive(Debug, thiserror::Error)]
#[error("teardown left {} problem(s): {}", .0.len(), list(.0))]
pub struct TeardownErrors(pub Vec<Error>);

fn list(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl TeardownErrors {
    /// `Ok(())` when nothing failed.
    pub fn into_result(self) -> std::result::Result<(), TeardownErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

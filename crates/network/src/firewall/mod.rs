//! nftables: one table per project, `inet compose_<project>`, replaced as a whole in one
//! atomic `nft -f -` transaction every time the project's networks or ports change, and
//! deleted on `down`.
//!
//! What the table does:
//! - forward: drops traffic between one of our bridges and any other compose bridge
//!   (`cbr-*`, isolation between networks and projects); for an internal network drops
//!   everything that does not stay on its bridge; accepts the rest of our bridges' traffic.
//! - nat: DNAT of published ports for packets to a local address, both arriving
//!   (prerouting) and made on the host (output, which is how 127.0.0.1 works together with
//!   `route_localnet`); masquerade of egress, of 127.0.0.0/8 sources sent to a bridge, and
//!   of hairpin traffic (a container to its own network through a published port).
//!
//! Each nftables base chain votes on its own: our `accept` cannot overrule a `drop` in
//! another table, such as the `FORWARD` policy DROP a host running Docker has in
//! `ip filter`. For that case [`apply`] calls [`forward_allow`], which adds accept rules for our bridges to that
//! chain through the `iptables` tool (Docker's `DOCKER-USER` chain if present), tagged with
//! the project so teardown removes them.

mod apply;
mod iptables;
pub mod nfnl;
mod published;
mod render;

pub use apply::{apply, remove, table_exists};
pub use iptables::{forward_allow, forward_revoke};
pub use published::published_on_host;
pub use render::{FirewallSpec, FwNetwork, FwPort, render, table_name};

/// A failed `nft` or `iptables` run.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("run {tool}: {source} (is the nftables package installed?)")]
    Spawn {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} {what} failed: {stderr}")]
    Failed {
        tool: &'static str,
        what: String,
        stderr: String,
    },
    #[error("nft -j output: {0}")]
    Json(String),
}

//! Bridge networks for projects: IPAM, netlink links and addresses, nftables rules, and the
//! `/etc/hosts` and `/etc/resolv.conf` a container gets. Knows nothing of processes.
//!
//! The engine owns all state; this crate takes it in as plain data and hands back what it
//! made. The order of calls for `up`:
//! 1. per network: [`bridge::create_network`] (or [`bridge::check_external`]);
//! 2. per container: [`ports::reserve`] for its `ports:` (with
//!    [`firewall::published_on_host`] as `taken`; hold [`lock::HostLock`] from there until
//!    step 3 so two projects cannot pick one port; [`bridge::create_network`] takes the same
//!    lock, so do not call it while holding one) before anything is made, then
//!    [`ipam::allocate_address`] and [`endpoint::attach`] per network (or
//!    [`endpoint::loopback_up`] for `network_mode: none`);
//! 3. [`firewall::apply`] with all the project's networks and ports (again whenever they
//!    change: it replaces the table atomically);
//! 4. [`files`] for `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
//!
//! Removing one container: [`endpoint::detach`] per network, then
//! [`conntrack::forget_flows`] with its addresses, then [`firewall::apply`] without its ports.
//!
//! `down`: [`teardown::teardown`], which keeps going after errors and can be repeated.

pub mod bridge;
pub mod cidr;
pub mod conntrack;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod lock;
pub mod mode;
pub mod names;
pub mod netlink;
pub mod ports;
pub mod sysctl;
pub mod teardown;

pub use error::{Error, Result, TeardownErrors};

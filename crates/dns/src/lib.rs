//! The embedded DNS server of a project (hickory): per-network views of service names,
//! aliases and replicas, and forwarding of other names. Knows nothing of the rest.
//!
//! What it answers (details in [`zone`]):
//! - project names (service name = every running replica, shuffled; container name;
//!   hostname; aliases; `links` aliases for the linking container only), plain and with
//!   each configured search domain, any case, TTL 0; AAAA with no IPv6 is NOERROR and
//!   empty; PTR for container addresses;
//! - by the query's source address: a container sees the networks it is on; the host (a
//!   listening gateway address) sees all; anyone else sees no project name;
//! - other names go to the upstream servers of resolv.conf (re-read when it changes; at
//!   most 3; UDP, then TCP when truncated; SERVFAIL when none answers), except for a
//!   client only on `internal` networks (NXDOMAIN), and single-label or search-domain
//!   names, which are local by nature (NXDOMAIN, never leaked upstream).
//!
//! How: UDP queries are taken in batches by our own loop on each socket (`udp`): plain A
//! and AAAA queries for project names are answered straight in wire format, every other
//! query by the hickory-based handler on the spot, and only forwarded queries the cache
//! cannot answer wait on a task. TCP is hickory-server's loop with the same handler.
//!
//! The supervisor starts one [`Server`] per project inside its tokio runtime, listening on
//! each network's gateway (port 53, UDP and TCP), keeps its [`Records`] in step with the
//! containers, and calls [`Server::shutdown`] on `down`:
//!
//! ```no_run
//! # async fn run() -> compose_dns::Result<()> {
//! use compose_dns::{Config, ContainerRecord, NetworkSettings, Server};
//! let mut server = Server::start(Config {
//!     listen: vec!["10.89.0.1:53".parse().expect("literal")],
//!     search_domains: vec!["dns.compose".into()],
//!     ..Config::default()
//! })
//! .await?;
//! let records = server.records();
//! records.set_network("proj_default", NetworkSettings { internal: false });
//! records.update_container(ContainerRecord {
//!     id: "3f2a".into(),
//!     network: "proj_default".into(),
//!     ipv4: "10.89.0.2".parse().expect("literal"),
//!     ipv6: None,
//!     names: vec!["proj-web-1".into(), "web".into()],
//!     links: vec![],
//! })?;
//! records.remove_container("3f2a");
//! server.shutdown().await
//! # }
//! ```

mod cache;
pub mod error;
mod forward;
mod handler;
pub mod names;
mod records;
pub mod resolv;
mod server;
mod sockets;
mod udp;
pub mod zone;

pub use error::{Error, Result};
pub use records::Records;
pub use server::{Config, Server};
pub use zone::{ContainerRecord, Link, NetworkSettings, QueryKind, Resolution, Zone};

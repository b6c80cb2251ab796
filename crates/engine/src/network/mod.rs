//! The project's networks, from the engine's side: bridges made (intent recorded first)
//! and removed, each container's addresses, endpoints and `/etc` files, published ports and
//! the project's firewall table. The kernel work is `compose_network`'s; this module decides
//! what to ask for and records it in the store.
//!
//! - [`networks`]: `up` makes the networks the selected services use; `down` tears down.
//! - [`endpoints`]: per container, before the runtime creates it (addresses, files, which
//!   netns to join) and after (veths into its netns).
//! - [`ports`]: published ports reserved before any container exists, then the firewall.

pub(crate) mod endpoints;
pub(crate) mod networks;
pub(crate) mod ports;
pub(crate) use endpoints::{Batched, Released};

use compose_network::mode::NetworkMode;

use crate::engine::Project;
use crate::error::{Error, Result};

/// Why the network side failed, with the network or service it concerns.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network {network}: {source}")]
    Network {
        network: String,
        #[source]
        source: compose_network::Error,
    },
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("{0}")]
    Ports(String),
}

impl From<NetError> for Error {
    fn from(e: NetError) -> Error {
        Error::Other(e.to_string())
    }
}

pub(crate) fn service_err(service: &str, message: impl std::fmt::Display) -> Error {
    NetError::Service {
        service: service.to_string(),
        message: message.to_string(),
    }
    .into()
}

/// The service's `network_mode`, parsed.
pub(crate) fn mode(p: &Project<'_>, service: &str) -> Result<NetworkMode> {
    let svc = p.service(service)?;
    NetworkMode::parse(&svc.network_mode).map_err(|e| service_err(service, e))
}

/// The full name of the project's network `key`: its `name:`, else `<project>_<key>`.
pub(crate) fn full_name(p: &Project<'_>, key: &str) -> String {
    match p.model.networks.get(key) {
        Some(n) if !n.name.is_empty() => n.name.clone(),
        _ => compose_network::names::network_name(p.name, key),
    }
}

/// The service's networks in interface order: `priority` (highest first), then name.
pub(crate) fn service_networks<'a>(
    p: &'a Project<'_>,
    service: &str,
) -> Result<
    Vec<(
        &'a str,
        Option<&'a compose::model::networks::ServiceNetwork>,
    )>,
> {
    let svc = p.service(service)?;
    let mut nets: Vec<_> = svc
        .networks
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_ref()))
        .collect();
    nets.sort_by(|a, b| {
        let pa = a.1.map_or(0, |n| n.priority);
        let pb = b.1.map_or(0, |n| n.priority);
        pb.cmp(&pa).then(a.0.cmp(b.0))
    });
    Ok(nets)
}

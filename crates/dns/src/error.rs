//! The one error type of the DNS crate.

use std::net::SocketAddr;

/// What went wrong while starting, changing or stopping the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container was recorded on a network the server was not told of.
    #[error("DNS: container {container} is on network {network}, which has no DNS settings yet")]
    UnknownNetwork { container: String, network: String },
    /// A name that cannot be put on the wire as a DNS name.
    #[error("DNS: container {container} has name {name:?}, which is not a valid DNS name")]
    InvalidName { container: String, name: String },
    /// A search domain that cannot be put on the wire as a DNS name.
    #[error("DNS: search domain {0:?} is not a valid DNS name")]
    InvalidSearchDomain(String),
    /// Binding a listening socket failed (address not on this host, port taken...).
    #[error("DNS: cannot listen on {proto} {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The server loop of one listening address ended with an error at shutdown.
    #[error("DNS: server on {addr} stopped with an error: {message}")]
    Stopped { addr: SocketAddr, message: String },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

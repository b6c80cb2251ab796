//! The server: on each listening address our UDP loop ([`crate::udp`]) and hickory's TCP
//! loop, sharing one handler (zone, cache, forwarder).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::forward::Forwarder;
use crate::handler::Handler;
use crate::records::Records;
use crate::resolv::Upstreams;
use crate::zone::Zone;

/// How many times an ephemeral port is tried for UDP and TCP both (tests ask for port 0,
/// and the port the kernel picks for UDP may be taken for TCP).
const PORT_TRIES: usize = 16;

/// Answers bigger than this wait for the client; hickory's own tests use 32.
const TCP_RESPONSE_BUFFER: usize = 32;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to answer on from the start (each network's gateway, port 53). More can
    /// be added with [`Server::listen`].
    pub listen: Vec<SocketAddr>,
    /// The file naming the upstream servers; read again whenever it changes.
    pub resolv_conf: PathBuf,
    /// The port upstream servers are asked on (53; tests run a stub elsewhere).
    pub upstream_port: u16,
    /// Suffixes under which every name also answers (`web` and `web.<domain>`).
    pub search_domains: Vec<String>,
    /// TTL of our own answers: 0, containers come and go.
    pub ttl: u32,
    /// How long one exchange with one upstream server may take.
    pub upstream_timeout: Duration,
    /// How long an idle TCP client connection is kept.
    pub tcp_idle_timeout: Duration,
    /// Forwarded queries waiting on upstream at once; past it, SERVFAIL at once. Each holds
    /// a socket: a flood against a slow upstream must not run us out of descriptors.
    pub max_forwards_in_flight: usize,
    /// How many forwarded answers are kept (honoring their TTLs); 0 keeps none.
    pub cache_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            upstream_port: 53,
            search_domains: Vec::new(),
            ttl: 0,
            upstream_timeout: Duration::from_secs(2),
            tcp_idle_timeout: Duration::from_secs(5),
            max_forwards_in_flight: 1024,
            cache_size: 4096,
        }
    }
}

/// A running DNS server. Must be started inside a tokio runtime; dropping it stops every
/// loop too, [`Server::shutdown`] does so and reports errors.
pub struct Server {
    records: Records,
    handler: Handler,
    tcp_idle_timeout: Duration,
    /// Bound address -> its running loops.
    listeners: BTreeMap<SocketAddr, Listener>,
}

struct Listener {
    bound: SocketAddr,
    /// hickory's TCP loop.
    loops: hickory_server::Server<Handler>,
    /// Our UDP loop; dropping the set aborts it (and its forwards).
    udp: JoinSet<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listening", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every address of `config.listen` (UDP and TCP) and starts answering. Nothing
    /// is left listening when one address fails.
    pub async fn start(config: Config) -> Result<Self> {
        let zone = Arc::new(RwLock::new(Zone::new(&config.search_domains)?));
        let upstreams = Upstreams::new(&config.resolv_conf, config.upstream_port);
        let handler = Handler {
            zone: Arc::clone(&zone),
            forwarder: Arc::new(Forwarder::new(
                upstreams,
                config.upstream_timeout,
                config.max_forwards_in_flight,
            )),
            cache: Arc::new(Cache::new(config.cache_size)),
            ttl: config.ttl,
        };
        let mut server = Self {
            records: Records::new(zone),
            handler,
            tcp_idle_timeout: config.tcp_idle_timeout,
            listeners: BTreeMap::new(),
        };
        for addr in &config.listen {
            server.listen(*addr).await?;
        }
        Ok(server)
    }

    /// Starts answering on `addr` too (a network created after start); returns the bound
    /// address (its port is chosen when `addr` has port 0). Queries from the address's IP
    /// (the host side of that network) see every network's names.
    pub async fn listen(&mut self, addr: SocketAddr) -> Result<SocketAddr> {
        if addr.port() != 0 && self.listeners.contains_key(&addr) {
            return Ok(addr);
        }
        let (udp, tcp, bound) = bind_both(addr).await?;
        let mut loops = hickory_server::Server::new(self.handler.clone());
        loops.register_listener(tcp, self.tcp_idle_timeout, TCP_RESPONSE_BUFFER);
        let mut udp_loop = JoinSet::new();
        udp_loop.spawn(crate::udp::serve(udp, self.handler.clone()));
        self.records.add_host_address(bound.ip());
        self.listeners.insert(
            bound,
            Listener {
                bound,
                loops,
                udp: udp_loop,
            },
        );
        self.handler.forwarder.set_own_addrs(self.local_addrs());
        tracing::debug!(%bound, "DNS listening");
        Ok(bound)
    }

    /// Stops answering on `addr`, a bound address (as [`Server::listen`] and
    /// [`Server::local_addrs`] return it).
    pub async fn unlisten(&mut self, addr: SocketAddr) -> Result<()> {
        let Some(mut listener) = self.listeners.remove(&addr) else {
            return Ok(());
        };
        if !self
            .listeners
            .values()
            .any(|l| l.bound.ip() == listener.bound.ip())
        {
            self.records.remove_host_address(listener.bound.ip());
        }
        self.handler.forwarder.set_own_addrs(self.local_addrs());
        stop(&mut listener).await
    }

    /// The addresses answered on, with the ports actually bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.values().map(|l| l.bound).collect()
    }

    /// How many queries were forwarded upstream (or refused for it) since start.
    pub fn forwarded_queries(&self) -> u64 {
        self.handler.forwarder.count()
    }

    /// How many forwarded queries were answered from the cache since start.
    pub fn cache_hits(&self) -> u64 {
        self.handler.cache.hits()
    }

    /// The live records: changes through it are answered from the very next query.
    pub fn records(&self) -> Records {
        self.records.clone()
    }

    /// Stops every loop and waits for them; in-flight TCP connections are dropped.
    /// Every listener is stopped even when one fails; the first error is returned.
    pub async fn shutdown(mut self) -> Result<()> {
        let mut first = None;
        for (_, mut listener) in std::mem::take(&mut self.listeners) {
            if let Err(err) = stop(&mut listener).await {
                tracing::warn!(%err, "DNS listener stopped with an error");
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

async fn stop(listener: &mut Listener) -> Result<()> {
    listener.udp.abort_all();
    while listener.udp.join_next().await.is_some() {}
    listener
        .loops
        .shutdown_gracefully()
        .await
        .map_err(|err| Error::Stopped {
            addr: listener.bound,
            message: err.to_string(),
        })
}

/// UDP and TCP sockets on the same address and port.
async fn bind_both(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr)> {
    let tries = if addr.port() == 0 { PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr).await.map_err(|source| Error::Bind {
            proto: "UDP",
            addr,
            source,
        })?;
        let bound = udp.local_addr().map_err(|source| Error::Bind {
            proto: "UDP",
            addr,
            source,
        })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(source) => {
                last = Some(Error::Bind {
                    proto: "TCP",
                    addr: bound,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or(Error::Bind {
        proto: "TCP",
        addr,
        source: std::io::ErrorKind::AddrInUse.into(),
    }))
}

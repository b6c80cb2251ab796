//! Connected UDP sockets to the upstream servers, each kept for a few queries.
//!
//! A socket per query costs five system calls beyond the exchange itself (socket,
//! connect, two epoll_ctl, close): a fifth of the CPU of forwarding. Reusing one for a few
//! dozen queries keeps most of that away while ports still change often; every socket
//! still gets a random port from the kernel, concurrent queries use different ones, and
//! a socket that saw an error or a timeout is never reused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::UdpSocket;

/// Queries one socket serves before it is closed (and its port given up).
const MAX_USES: u32 = 32;
/// Idle sockets kept per server; more are closed.
const MAX_IDLE: usize = 64;

/// One connected socket and how many queries it has served.
#[derive(Debug)]
pub(crate) struct Pooled {
    pub socket: UdpSocket,
    uses: u32,
}

/// The idle sockets of each upstream server.
#[derive(Debug, Default)]
pub(crate) struct SocketPool {
    idle: Mutex<HashMap<SocketAddr, Vec<Pooled>>>,
}

impl SocketPool {
    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Vec<Pooled>>> {
        // Plain containers: nothing half-done survives a panic elsewhere.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle socket connected to `server`, or a new one. Connected, so an ICMP "port
    /// unreachable" fails the exchange at once instead of after the timeout.
    pub async fn take(&self, server: SocketAddr) -> std::io::Result<Pooled> {
        if let Some(pooled) = self.idle().get_mut(&server).and_then(Vec::pop) {
            return Ok(pooled);
        }
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        Ok(Pooled { socket, uses: 0 })
    }

    /// Returns a socket after a clean exchange; it is closed when worn out or in excess.
    pub fn give_back(&self, server: SocketAddr, mut pooled: Pooled) {
        pooled.uses += 1;
        if pooled.uses >= MAX_USES {
            return;
        }
        let mut idle = self.idle();
        let sockets = idle.entry(server).or_default();
        if sockets.len() < MAX_IDLE {
            sockets.push(pooled);
        }
    }

    /// Closes the idle sockets of servers no longer in use (resolv.conf changed).
    pub fn keep_only(&self, servers: &[SocketAddr]) {
        let mut idle = self.idle();
        if idle.keys().any(|s| !servers.contains(s)) {
            idle.retain(|s, _| servers.contains(s));
        }
    }
}

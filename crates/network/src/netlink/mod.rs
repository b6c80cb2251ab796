//! A thin synchronous rtnetlink client: one socket bound to one network namespace, one
//! request at a time, answered by an ack or a dump. Synchronous so that the engine can call
//! it from any thread without an async runtime.

mod address;
mod link;
mod netns;
mod route;

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

pub use link::{LinkSummary, VethSpec};
pub use netns::NetnsRef;

/// A netlink request that failed: what we were doing, and the kernel's answer.
#[derive(Debug, thiserror::Error)]
#[error("netlink: {op}: {source}")]
pub struct NetlinkError {
    pub op: String,
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    fn new(op: impl Into<String>, source: io::Error) -> Self {
        Self {
            op: op.into(),
            source,
        }
    }

    /// The errno the kernel answered with, if it was one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub type Result<T> = std::result::Result<T, NetlinkError>;

/// A route netlink socket. Each socket acts in the network namespace it was opened in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket on the caller's (the host's) network namespace.
    pub fn open() -> Result<Self> {
        Self::from_socket(open_socket())
    }

    fn from_socket(socket: io::Result<Socket>) -> Result<Self> {
        let socket = socket.map_err(|e| NetlinkError::new("open socket", e))?;
        Ok(Self { socket, seq: 0 })
    }

    /// Sends `msg` and waits for the kernel's ack.
    fn ack(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags)
            .map(drop)
            .map_err(|e| NetlinkError::new(op, e))
    }

    /// Sends a dump request and collects every answer.
    fn dump(&mut self, op: &str, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP)
            .map_err(|e| NetlinkError::new(op, e))
    }

    /// Sends a request that answers with one message (a `get` by name or index).
    fn get(&mut self, op: &str, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_REQUEST)
            .map_err(|e| NetlinkError::new(op, e))
    }

    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        // A dump ends with DONE, an acked request with the ack; a plain get answers with
        // one message (or an error).
        self.receive(flags & NLM_F_DUMP == NLM_F_DUMP)
    }

    /// Reads answers to the current sequence number until an ack, an error, the end of a
    /// dump, or (for a plain get) the first message.
    fn receive(&mut self, until_done: bool) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut out = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                let ours = msg.header.sequence_number == self.seq;
                match msg.payload {
                    _ if !ours => {}
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(inner) => {
                        out.push(inner);
                        if !until_done && msg.header.flags & NLM_F_MULTIPART == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }
}

fn open_socket() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // The kernel answers at once; a bound on the wait turns a lost answer into an error
    // instead of a hung `up`.
    let fd = std::os::fd::AsFd::as_fd(&socket);
    rustix::net::sockopt::set_socket_timeout(
        fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(std::time::Duration::from_secs(10)),
    )?;
    // Extended acks make the kernel's error messages (e.g. a refused MTU) specific.
    let _ = socket.set_ext_ack(true);
    Ok(socket)
}

/// True for "no such device/address/route": what a teardown of a missing object sees.
pub fn is_missing(err: &NetlinkError) -> bool {
    matches!(
        err.errno(),
        Some(libc::ENODEV) | Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::EADDRNOTAVAIL)
    )
}

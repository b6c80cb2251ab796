//! Forwarding of outside names to the upstream servers: UDP first, TCP when the UDP
//! answer comes back truncated, the next server on a timeout or a failure.

use std::net::SocketAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::resolv::Upstreams;
use crate::sockets::SocketPool;

/// The UDP payload we offer upstream: the DNS Flag Day 2020 size, safe from fragmentation.
const UDP_PAYLOAD: u16 = 1232;

/// The receive buffer for UDP answers: room for any answer within the payload we offer.
/// A datagram that fills it may have been cut, and is asked again over TCP. (A 64 KiB
/// buffer per query cost a third of the CPU in page faults and memset.)
const UDP_BUFFER: usize = 4096;

/// Why a forwarded query got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// resolv.conf names no server (or is missing).
    #[error("no upstream DNS server in {0}")]
    NoServers(String),
    /// Every server timed out, refused the connection or sent garbage.
    #[error("no upstream DNS server answered ({0})")]
    NoAnswer(String),
    /// The most queries allowed are already waiting on upstream servers.
    #[error("too many forwarded queries in flight")]
    Busy,
}

/// One exchange with one server that failed.
#[derive(Debug, thiserror::Error)]
enum TryError {
    #[error("{0}: timed out")]
    Timeout(SocketAddr),
    #[error("{server}: {source}")]
    Io {
        server: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{server}: {message}")]
    Bad { server: SocketAddr, message: String },
}

/// Sends outside names upstream.
#[derive(Debug)]
pub struct Forwarder {
    upstreams: Upstreams,
    try_timeout: Duration,
    in_flight: Semaphore,
    /// Our own listening addresses: never upstream servers, or a query would loop
    /// through us forever (a resolv.conf naming a gateway of ours).
    own: RwLock<Vec<SocketAddr>>,
    /// Queries taken for forwarding, for [`crate::Server::forwarded_queries`].
    count: AtomicU64,
    sockets: SocketPool,
}

impl Forwarder {
    /// Forwards to the servers of `upstreams`, giving each exchange (UDP or TCP) at most
    /// `try_timeout`, with at most `max_in_flight` queries waiting at once.
    pub fn new(upstreams: Upstreams, try_timeout: Duration, max_in_flight: usize) -> Self {
        Self {
            upstreams,
            try_timeout,
            in_flight: Semaphore::new(max_in_flight),
            own: RwLock::new(Vec::new()),
            count: AtomicU64::new(0),
            sockets: SocketPool::default(),
        }
    }

    /// How many queries were taken for forwarding since start.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records the addresses we answer on, so that they are never forwarded to.
    pub fn set_own_addrs(&self, addrs: Vec<SocketAddr>) {
        *self.own.write().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    /// The upstream servers, less our own addresses.
    fn servers(&self) -> Vec<SocketAddr> {
        let own = self.own.read().unwrap_or_else(|p| p.into_inner());
        let mut servers = self.upstreams.servers();
        servers.retain(|s| !own.contains(s));
        self.sockets.keep_only(&servers);
        servers
    }

    /// Asks the servers in turn; the first answer that is not SERVFAIL or REFUSED wins,
    /// else the last such answer, else an error (the caller answers SERVFAIL).
    pub async fn forward(
        &self,
        query: &Query,
        recursion_desired: bool,
        dnssec_ok: bool,
    ) -> Result<Message, ForwardError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(ForwardError::Busy);
        };
        let servers = self.servers();
        if servers.is_empty() {
            return Err(ForwardError::NoServers(
                self.upstreams.path().display().to_string(),
            ));
        }
        let mut failures = Vec::new();
        let mut fallback = None;
        for server in servers {
            match self.ask(server, query, recursion_desired, dnssec_ok).await {
                Ok(answer) if is_server_failure(&answer) => fallback = Some(answer),
                Ok(answer) => return Ok(answer),
                Err(err) => {
                    tracing::debug!(%err, "upstream try failed");
                    failures.push(err.to_string());
                }
            }
        }
        fallback.ok_or_else(|| ForwardError::NoAnswer(failures.join("; ")))
    }

    /// One server: UDP, then TCP if the answer did not fit (TC set, or a datagram as big
    /// as our buffer).
    async fn ask(
        &self,
        server: SocketAddr,
        query: &Query,
        recursion_desired: bool,
        dnssec_ok: bool,
    ) -> Result<Message, TryError> {
        let request = build_request(query, recursion_desired, dnssec_ok);
        let bytes = request.to_vec().map_err(|e| TryError::Bad {
            server,
            message: e.to_string(),
        })?;
        if let Some(answer) = self.over_udp(server, &bytes, &request).await?
            && !answer.metadata.truncation
        {
            return Ok(answer);
        }
        tracing::debug!(%server, "truncated UDP answer, asking again over TCP");
        self.over_tcp(server, &bytes, &request).await
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        bytes: &[u8],
        request: &Message,
    ) -> Result<Option<Message>, TryError> {
        let io = |source| TryError::Io { server, source };
        let pooled = self.sockets.take(server).await.map_err(io)?;
        let exchange = async {
            pooled.socket.send(bytes).await.map_err(io)?;
            let mut buf = vec![0u8; UDP_BUFFER];
            loop {
                let n = pooled.socket.recv(&mut buf).await.map_err(io)?;
                if n == buf.len() {
                    return Ok(None);
                }
                // Stray, late or spoofed datagrams are dropped; keep waiting for ours.
                if let Some(answer) = matching_answer(&buf[..n], request) {
                    return Ok(Some(answer));
                }
            }
        };
        let outcome = timeout(self.try_timeout, exchange)
            .await
            .map_err(|_| TryError::Timeout(server))?;
        // Only a socket that saw a clean exchange is used again; on an error or a timeout
        // it is dropped here, with whatever may still arrive on it.
        if outcome.is_ok() {
            self.sockets.give_back(server, pooled);
        }
        outcome
    }

    async fn over_tcp(
        &self,
        server: SocketAddr,
        bytes: &[u8],
        request: &Message,
    ) -> Result<Message, TryError> {
        let io = |source| TryError::Io { server, source };
        let exchange = async {
            let mut stream = TcpStream::connect(server).await.map_err(io)?;
            let len = u16::try_from(bytes.len()).map_err(|_| TryError::Bad {
                server,
                message: "query too long".into(),
            })?;
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(bytes);
            stream.write_all(&framed).await.map_err(io)?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.map_err(io)?;
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut buf).await.map_err(io)?;
            matching_answer(&buf, request).ok_or_else(|| TryError::Bad {
                server,
                message: "answer over TCP does not match the query".into(),
            })
        };
        timeout(self.try_timeout, exchange)
            .await
            .map_err(|_| TryError::Timeout(server))?
    }
}

fn build_request(query: &Query, recursion_desired: bool, dnssec_ok: bool) -> Message {
    let mut request = Message::query();
    request.metadata.recursion_desired = recursion_desired;
    request.add_query(query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    edns.set_dnssec_ok(dnssec_ok);
    request.set_edns(edns);
    request
}

/// The answer in `bytes` if it answers `request`: same id, a response, the same question.
fn matching_answer(bytes: &[u8], request: &Message) -> Option<Message> {
    let answer = Message::from_vec(bytes).ok()?;
    let same_question = match (answer.queries.first(), request.queries.first()) {
        (Some(a), Some(q)) => {
            a.query_type() == q.query_type()
                && a.query_class() == q.query_class()
                && a.name() == q.name()
        }
        _ => false,
    };
    (answer.metadata.id == request.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.metadata.op_code == OpCode::Query
        && same_question)
        .then_some(answer)
}

fn is_server_failure(answer: &Message) -> bool {
    matches!(
        answer.metadata.response_code,
        ResponseCode::ServFail | ResponseCode::Refused
    )
}

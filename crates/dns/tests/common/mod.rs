//! Test helpers: a DNS client bound to a chosen loopback source address, a stub upstream
//! server on loopback that counts what reaches it, and a server harness with its own
//! resolv.conf. Nothing here talks to anything but 127.0.0.0/8.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use compose_dns::{Config, ContainerRecord, Link, NetworkSettings, Records, Server};
use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// How long a test client waits for an answer before calling it lost.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

/// A loopback address of its own for each test file's clients, so parallel runs never
/// share one by chance (all of 127/8 is local on Linux).
pub fn loopback(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Asks `server` for `name`/`rtype` from source address `from`.
pub async fn query(
    from: IpAddr,
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    transport: Transport,
) -> anyhow::Result<Message> {
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(Name::from_ascii(name)?, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    request.set_edns(edns);
    let bytes = request.to_vec()?;
    let answer = match transport {
        Transport::Udp => udp_exchange(from, server, &bytes).await?,
        Transport::Tcp => tcp_exchange(from, server, &bytes).await?,
    };
    let answer = Message::from_vec(&answer)?;
    if answer.metadata.id != request.metadata.id {
        bail!(
            "answer id {} for query id {}",
            answer.metadata.id,
            request.metadata.id
        );
    }
    Ok(answer)
}

async fn udp_exchange(from: IpAddr, server: SocketAddr, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0))
        .await
        .context("bind client")?;
    socket.connect(server).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(CLIENT_TIMEOUT, socket.recv(&mut buf))
        .await
        .context("no UDP answer")??;
    buf.truncate(n);
    Ok(buf)
}

async fn tcp_exchange(from: IpAddr, server: SocketAddr, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let mut stream = socket.connect(server).await.context("connect")?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        anyhow::Ok(buf)
    };
    tokio::time::timeout(CLIENT_TIMEOUT, read)
        .await
        .context("no TCP answer")?
}

/// The A addresses of an answer, sorted.
pub fn a_records(answer: &Message) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// A and AAAA addresses in answer order.
pub fn ordered(answer: &Message) -> Vec<IpAddr> {
    answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

pub fn rcode(answer: &Message) -> ResponseCode {
    answer.metadata.response_code
}

/// How the stub upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubMode {
    /// Every A query answers `answer` (over UDP and TCP).
    Answer(Ipv4Addr),
    /// UDP answers are empty with TC set; TCP answers carry `count` A records.
    TruncateUdp { count: u8 },
    /// UDP and TCP answers both carry `count` A records, TC never set: over UDP the
    /// datagram can be bigger than the client's buffer.
    Oversize { count: u8 },
    /// `n<K>.<anything>` answers 198.51.100.K: each name its own answer.
    Numbered,
    /// Never answers.
    Silent,
    /// Every A query answers `addr` with TTL `ttl`.
    AnswerTtl { addr: Ipv4Addr, ttl: u32 },
    /// NXDOMAIN, with an SOA (its TTL, its MINIMUM) in the authority section if given.
    NxDomain { soa: Option<(u32, u32)> },
    /// SERVFAIL to everything.
    ServFail,
}

/// A hand-made upstream DNS server on loopback, counting the queries that reach it.
pub struct Stub {
    pub addr: SocketAddr,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Stub {
    /// On 127.0.0.1, a port of the kernel's choosing free for UDP and TCP.
    pub async fn start(mode: StubMode) -> anyhow::Result<Self> {
        for _ in 0..16 {
            let udp = UdpSocket::bind("127.0.0.1:0").await?;
            let addr = udp.local_addr()?;
            if let Ok(tcp) = TcpListener::bind(addr).await {
                return Ok(Self::serve(udp, tcp, mode));
            }
        }
        bail!("no port free for both UDP and TCP")
    }

    /// On `ip:port` exactly (port 0: one the kernel picks, the same for UDP and TCP).
    pub async fn start_on(ip: IpAddr, port: u16, mode: StubMode) -> anyhow::Result<Self> {
        let udp = UdpSocket::bind((ip, port)).await?;
        let tcp = TcpListener::bind(udp.local_addr()?).await?;
        Ok(Self::serve(udp, tcp, mode))
    }

    pub fn queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst) + self.tcp_queries.load(Ordering::SeqCst)
    }

    fn serve(udp: UdpSocket, tcp: TcpListener, mode: StubMode) -> Self {
        let addr = udp.local_addr().expect("bound socket has an address");
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let udp_task = tokio::spawn(serve_udp(udp, mode, Arc::clone(&udp_queries)));
        let tcp_task = tokio::spawn(serve_tcp(tcp, mode, Arc::clone(&tcp_queries)));
        Self {
            addr,
            udp_queries,
            tcp_queries,
            tasks: vec![udp_task, tcp_task],
        }
    }
}

async fn serve_udp(socket: UdpSocket, mode: StubMode, count: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 65535];
    while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
        count.fetch_add(1, Ordering::SeqCst);
        if let Some(reply) = stub_reply(&buf[..n], mode, false) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, mode: StubMode, count: Arc<AtomicUsize>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let count = Arc::clone(&count);
        tokio::spawn(async move {
            let mut len = [0u8; 2];
            while stream.read_exact(&mut len).await.is_ok() {
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let Some(reply) = stub_reply(&buf, mode, true) else {
                    continue;
                };
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The stub's whole logic: an answer for every question, per `mode`.
fn stub_reply(bytes: &[u8], mode: StubMode, tcp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(bytes).ok()?;
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(request.queries.clone());
    let question = request.queries.first()?;
    let owner = question.name().clone();
    let is_a = question.query_type() == RecordType::A;
    match mode {
        StubMode::Silent => return None,
        StubMode::Answer(addr) => {
            if is_a {
                reply.add_answer(Record::from_rdata(owner, 30, RData::A(A(addr))));
            }
        }
        StubMode::TruncateUdp { count } => {
            if !tcp {
                reply.metadata.truncation = true;
            } else if is_a {
                add_many(&mut reply, &owner, count);
            }
        }
        StubMode::Numbered => {
            let label = owner
                .iter()
                .next()
                .map(|l| String::from_utf8_lossy(l).into_owned());
            let k = label
                .as_deref()
                .and_then(|l| l.strip_prefix('n'))
                .and_then(|k| k.parse().ok());
            if let (true, Some(k)) = (is_a, k) {
                let addr = Ipv4Addr::new(198, 51, 100, k);
                reply.add_answer(Record::from_rdata(owner, 30, RData::A(A(addr))));
            }
        }
        StubMode::AnswerTtl { addr, ttl } => {
            if is_a {
                reply.add_answer(Record::from_rdata(owner, ttl, RData::A(A(addr))));
            }
        }
        StubMode::NxDomain { soa } => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            if let Some((ttl, minimum)) = soa {
                let zone = Name::from_ascii("example.test.").ok()?;
                let rdata = SOA::new(
                    Name::from_ascii("ns.example.test.").ok()?,
                    Name::from_ascii("admin.example.test.").ok()?,
                    1,
                    3600,
                    600,
                    86400,
                    minimum,
                );
                reply.add_authority(Record::from_rdata(zone, ttl, RData::SOA(rdata)));
            }
        }
        StubMode::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        StubMode::Oversize { count } => {
            if is_a {
                add_many(&mut reply, &owner, count);
            }
        }
    }
    reply.to_vec().ok()
}

fn add_many(reply: &mut Message, owner: &Name, count: u8) {
    for i in 1..=count {
        let addr = Ipv4Addr::new(198, 51, 100, i);
        reply.add_answer(Record::from_rdata(owner.clone(), 30, RData::A(A(addr))));
    }
}

/// A server on 127.0.0.1 (port of its own) forwarding to `upstream_port` on the servers
/// of its own resolv.conf.
pub struct Harness {
    pub server: Server,
    pub addr: SocketAddr,
    pub records: Records,
    pub resolv_conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(resolv_conf_text: &str, upstream_port: u16) -> anyhow::Result<Self> {
        Self::start_with(resolv_conf_text, upstream_port, |_| {}).await
    }

    pub async fn start_with(
        resolv_conf_text: &str,
        upstream_port: u16,
        tweak: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let resolv_conf = dir.path().join("resolv.conf");
        std::fs::write(&resolv_conf, resolv_conf_text)?;
        let mut config = Config {
            listen: vec!["127.0.0.1:0".parse()?],
            resolv_conf: resolv_conf.clone(),
            upstream_port,
            search_domains: vec!["proj.internal".into()],
            upstream_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        tweak(&mut config);
        let server = Server::start(config).await?;
        let addr = *server.local_addrs().first().context("no listener")?;
        let records = server.records();
        Ok(Self {
            server,
            addr,
            records,
            resolv_conf,
            _dir: dir,
        })
    }

    /// Puts a container on `network` (created with `internal` if new).
    pub fn container(&self, id: &str, network: &str, ipv4: IpAddr, names: &[&str]) {
        self.container_with(id, network, ipv4, names, &[]);
    }

    pub fn container_with(
        &self,
        id: &str,
        network: &str,
        ipv4: IpAddr,
        names: &[&str],
        links: &[(&str, &str)],
    ) {
        let IpAddr::V4(ipv4) = ipv4 else {
            panic!("IPv4 expected")
        };
        self.records
            .update_container(ContainerRecord {
                id: id.into(),
                network: network.into(),
                ipv4,
                ipv6: None,
                names: names.iter().map(|s| (*s).to_owned()).collect(),
                links: links
                    .iter()
                    .map(|(target, alias)| Link {
                        alias: (*alias).into(),
                        target: (*target).into(),
                    })
                    .collect(),
            })
            .expect("valid record");
    }

    pub fn network(&self, name: &str, internal: bool) {
        self.records.set_network(name, NetworkSettings { internal });
    }

    pub async fn ask(&self, from: IpAddr, name: &str, rtype: RecordType) -> Message {
        query(from, self.addr, name, rtype, Transport::Udp)
            .await
            .unwrap_or_else(|err| panic!("{name} {rtype} from {from}: {err:#}"))
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port() -> anyhow::Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    Ok(socket.local_addr()?.port())
}

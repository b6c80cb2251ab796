//! The UDP loop answers exactly as hickory's own UDP loop with the same handler: a table
//! of queries goes to both, from the same client address, and the answers must be the
//! same bytes (or, where replicas come shuffled, the same message once sorted).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::cache::Cache;
use crate::forward::Forwarder;
use crate::handler::Handler;
use crate::resolv::Upstreams;
use crate::zone::{ContainerRecord, Link, NetworkSettings, Zone};

/// The client: a container on `front` and `back` (a loopback address of this file's own).
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 10);
/// A container only on the internal network `back`.
const INSIDER: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 11);
const WAIT: Duration = Duration::from_secs(5);

/// Both loops on the same handler, and the stub upstream they forward to.
struct Pair {
    fast: SocketAddr,
    full: SocketAddr,
    _hickory: hickory_server::Server<Handler>,
    _ours: JoinSet<()>,
    _stub: JoinSet<()>,
    _dir: tempfile::TempDir,
}

fn record(id: &str, network: &str, ip: [u8; 4], names: &[&str]) -> ContainerRecord {
    ContainerRecord {
        id: id.into(),
        network: network.into(),
        ipv4: Ipv4Addr::from(ip),
        ipv6: None,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        links: Vec::new(),
    }
}

fn zone() -> Zone {
    let mut zone = Zone::new(&["dns.compose".into()]).expect("valid domain");
    zone.set_network("front", NetworkSettings::default());
    zone.set_network("back", NetworkSettings { internal: true });
    let mut records = vec![
        record("w1", "front", [10, 1, 0, 2], &["proj-web-1", "web", "www"]),
        record("w2", "front", [10, 1, 0, 3], &["proj-web-2", "web"]),
        record("w3", "front", [10, 1, 0, 4], &["proj-web-3", "web"]),
        record("d1", "back", [10, 2, 0, 2], &["proj-db-1", "db"]),
        record("h1", "other", [10, 3, 0, 2], &["hidden"]),
        record("in", "back", INSIDER.octets(), &["insider"]),
    ];
    records[3].ipv6 = Some("fd00::2".parse().expect("literal"));
    for n in 0..60u8 {
        records.push(record(
            &format!("b{n}"),
            "front",
            [10, 1, 1, n + 2],
            &[&format!("proj-big-{n}"), "big"],
        ));
    }
    let mut client = record("c", "front", CLIENT.octets(), &["proj-client-1", "client"]);
    client.links = vec![Link {
        alias: "database".into(),
        target: "db".into(),
    }];
    let mut client_back = client.clone();
    client_back.network = "back".into();
    records.push(client);
    records.push(client_back);
    zone.set_network("other", NetworkSettings::default());
    zone.update_containers(records).expect("valid records");
    zone
}

fn handler(resolv: &std::path::Path, upstream_port: u16) -> Handler {
    Handler {
        zone: Arc::new(RwLock::new(zone())),
        forwarder: Arc::new(Forwarder::new(
            Upstreams::new(resolv, upstream_port),
            Duration::from_secs(2),
            64,
        )),
        cache: Arc::new(Cache::new(64)),
        ttl: 0,
    }
}

impl Pair {
    async fn start() -> Self {
        let mut stub = JoinSet::new();
        let upstream = UdpSocket::bind("127.0.0.1:0").await.expect("bind stub");
        let upstream_port = upstream.local_addr().expect("bound").port();
        stub.spawn(serve_stub(upstream));
        let dir = tempfile::tempdir().expect("temp dir");
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("write resolv.conf");
        let handler = handler(&resolv, upstream_port);
        let full_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let full = full_socket.local_addr().expect("bound");
        let mut hickory = hickory_server::Server::new(handler.clone());
        hickory.register_socket(full_socket);
        let fast_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let fast = fast_socket.local_addr().expect("bound");
        let mut ours = JoinSet::new();
        ours.spawn(super::serve(fast_socket, handler));
        Self {
            fast,
            full,
            _hickory: hickory,
            _ours: ours,
            _stub: stub,
            _dir: dir,
        }
    }
}

/// The stub upstream: `big.example.test` has 40 A records, `nx.*` is NXDOMAIN with an
/// SOA, everything else one A record; TTL 300.
async fn serve_stub(socket: UdpSocket) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let Some(question) = query.queries.first().cloned() else {
            continue;
        };
        let mut answer = Message::response(query.metadata.id, OpCode::Query);
        answer.metadata.recursion_desired = query.metadata.recursion_desired;
        answer.metadata.recursion_available = true;
        let name = question.name().clone();
        let text = name.to_ascii().to_ascii_lowercase();
        if text.starts_with("nx.") {
            answer.metadata.response_code = ResponseCode::NXDomain;
            let zone = Name::from_ascii("example.test.").expect("literal");
            let soa = SOA::new(zone.clone(), zone.clone(), 1, 60, 60, 60, 120);
            answer.add_authority(Record::from_rdata(zone, 120, RData::SOA(soa)));
        } else if question.query_type() == RecordType::A {
            let count = if text.starts_with("big.") { 40 } else { 1 };
            for i in 0..count {
                let ip = Ipv4Addr::new(198, 51, 100, i + 7);
                answer.add_answer(Record::from_rdata(name.clone(), 300, RData::A(A(ip))));
            }
        }
        answer.add_query(question);
        if let Some(edns) = &query.edns {
            let mut ours = Edns::new();
            ours.set_max_payload(edns.max_payload());
            answer.set_edns(ours);
        }
        if let Ok(bytes) = answer.to_vec() {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

/// One query of the table.
#[derive(Debug, Clone)]
struct Ask {
    name: &'static str,
    rtype: RecordType,
    class: DNSClass,
    /// EDNS payload size and DO bit; `None`: no OPT record.
    edns: Option<(u16, bool)>,
    rd: bool,
    cd: bool,
    op_code: OpCode,
    from: Ipv4Addr,
}

fn ask(name: &'static str, rtype: RecordType) -> Ask {
    Ask {
        name,
        rtype,
        class: DNSClass::IN,
        edns: Some((1232, false)),
        rd: true,
        cd: false,
        op_code: OpCode::Query,
        from: CLIENT,
    }
}

fn no_edns(mut a: Ask) -> Ask {
    a.edns = None;
    a
}

fn bytes_of(a: &Ask, id: u16) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = a.rd;
    message.metadata.checking_disabled = a.cd;
    message.metadata.op_code = a.op_code;
    let mut query = Query::query(Name::from_ascii(a.name).expect("literal name"), a.rtype);
    query.set_query_class(a.class);
    message.add_query(query);
    if let Some((payload, dnssec_ok)) = a.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        edns.set_dnssec_ok(dnssec_ok);
        message.set_edns(edns);
    }
    message.to_vec().expect("encodable query")
}

/// Sends `bytes` from `from` to `server`; the answer, or `None` after `wait`.
async fn exchange(
    from: Ipv4Addr,
    server: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((IpAddr::V4(from), 0))
        .await
        .expect("bind client");
    socket.connect(server).await.expect("connect");
    socket.send(bytes).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The answer in a form where the order of answer records does not count, nor, in a
/// truncated answer, which of the shuffled replicas made it in (only how many).
fn sorted(bytes: &[u8]) -> Option<Message> {
    let mut message = Message::from_vec(bytes).ok()?;
    if message.metadata.truncation {
        for record in &mut message.answers {
            if let RData::A(_) = record.data {
                record.data = RData::A(A(Ipv4Addr::UNSPECIFIED));
            }
        }
    }
    message.answers.sort_by_key(|r| r.data.to_string());
    Some(message)
}

/// Whether the two loops answer `bytes` alike: the same bytes, or the same message with
/// its answers sorted (replicas come shuffled).
async fn same(pair: &Pair, from: Ipv4Addr, bytes: &[u8]) -> Result<(), String> {
    // A cached answer's TTLs drop by a second between two asks now and then: try again.
    let mut last = String::new();
    for _ in 0..3 {
        let full = exchange(from, pair.full, bytes, WAIT).await;
        let fast = exchange(from, pair.fast, bytes, WAIT).await;
        match (&full, &fast) {
            (Some(a), Some(b)) if a == b => return Ok(()),
            (Some(a), Some(b)) if sorted(a).is_some() && sorted(a) == sorted(b) => return Ok(()),
            _ => {
                last = format!(
                    "hickory: {:?}\nours:    {:?}",
                    full.as_deref().map(Message::from_vec),
                    fast.as_deref().map(Message::from_vec)
                )
            }
        }
    }
    Err(last)
}

#[tokio::test]
async fn every_answer_equals_hickorys_own_loop() {
    let pair = Pair::start().await;
    let mut table = vec![
        ask("web", RecordType::A),
        ask("WeB.Dns.Compose.", RecordType::A),
        ask("proj-web-1", RecordType::A),
        ask("www", RecordType::A),
        ask("db", RecordType::AAAA),
        ask("web", RecordType::AAAA),
        ask("web", RecordType::ANY),
        ask("web", RecordType::TXT),
        ask("database", RecordType::A),
        ask("2.0.1.10.in-addr.arpa", RecordType::PTR),
        ask("9.9.9.10.in-addr.arpa", RecordType::PTR),
        ask("hidden", RecordType::A),
        ask("nosuchname", RecordType::A),
        ask("nosuch.dns.compose", RecordType::A),
        ask("fwd.example.test", RecordType::A),
        ask("FWD.Example.Test", RecordType::A),
        ask("nx.example.test", RecordType::A),
        ask("big.example.test", RecordType::A),
        no_edns(ask("big.example.test", RecordType::A)),
        no_edns(ask("web", RecordType::A)),
        no_edns(ask("big", RecordType::A)),
        ask("big", RecordType::A),
    ];
    let mut small = ask("big", RecordType::A);
    small.edns = Some((100, false));
    table.push(small);
    let mut dnssec = ask("fwd.example.test", RecordType::A);
    dnssec.edns = Some((4096, true));
    table.push(dnssec);
    let mut local_dnssec = ask("web", RecordType::A);
    local_dnssec.edns = Some((4096, true));
    table.push(local_dnssec);
    let mut tiny = ask("web", RecordType::A);
    tiny.edns = Some((0, false));
    table.push(tiny);
    let mut flags = ask("web", RecordType::A);
    flags.rd = false;
    flags.cd = true;
    table.push(flags);
    let mut chaos = ask("version.bind", RecordType::TXT);
    chaos.class = DNSClass::CH;
    table.push(chaos);
    let mut status = ask("web", RecordType::A);
    status.op_code = OpCode::Status;
    table.push(status);
    let mut insider = ask("outside.example.test", RecordType::A);
    insider.from = INSIDER;
    table.push(insider);
    let mut stranger = ask("web", RecordType::A);
    stranger.from = Ipv4Addr::new(127, 77, 0, 99);
    table.push(stranger);

    let mut failures = Vec::new();
    for (i, a) in table.iter().enumerate() {
        let id = 0x4000 + u16::try_from(i).expect("small table");
        if let Err(diff) = same(&pair, a.from, &bytes_of(a, id)).await {
            failures.push(format!("{a:?}\n{diff}"));
        }
    }
    assert!(
        failures.is_empty(),
        "answers differ:\n{}",
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn malformed_queries_are_answered_alike() {
    let pair = Pair::start().await;
    let valid = bytes_of(&ask("web", RecordType::A), 0x5151);
    // A header that promises a question, then nothing: FORMERR.
    let mut cut = valid[..12].to_vec();
    cut[5] = 1;
    // Two questions: FORMERR (we answer exactly one).
    let mut message = Message::from_vec(&valid).expect("valid");
    message.add_query(Query::query(
        Name::from_ascii("db").expect("literal"),
        RecordType::A,
    ));
    let two_questions = message.to_vec().expect("encodable");
    for bytes in [cut, two_questions, valid[..valid.len() - 3].to_vec()] {
        if let Err(diff) = same(&pair, CLIENT, &bytes).await {
            panic!("{bytes:?}\n{diff}");
        }
    }
}

#[tokio::test]
async fn responses_and_scraps_get_no_answer_from_either() {
    let pair = Pair::start().await;
    let mut response = bytes_of(&ask("web", RecordType::A), 0x6161);
    response[2] |= 0x80;
    let short = vec![0x61u8, 0x61, 0x01];
    for bytes in [response, short] {
        let wait = Duration::from_millis(300);
        assert_eq!(exchange(CLIENT, pair.full, &bytes, wait).await, None);
        assert_eq!(exchange(CLIENT, pair.fast, &bytes, wait).await, None);
    }
    // And the loop still answers after them.
    same(&pair, CLIENT, &bytes_of(&ask("web", RecordType::A), 0x6162))
        .await
        .expect("same answers");
}

/// An OPT record of version 1, or with an option (a cookie), after a query for `web`.
fn with_odd_opt(id: u16, version: u8, option: bool) -> Vec<u8> {
    let mut bytes = bytes_of(&no_edns(ask("web", RecordType::A)), id);
    bytes[11] = 1;
    bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, version, 0, 0]);
    if option {
        bytes.extend_from_slice(&[0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    } else {
        bytes.extend_from_slice(&[0, 0]);
    }
    bytes
}

#[tokio::test]
async fn odd_edns_is_answered_alike() {
    let pair = Pair::start().await;
    for (i, (version, option)) in [(1, false), (0, true)].into_iter().enumerate() {
        let bytes = with_odd_opt(0x7000 + i as u16, version, option);
        if let Err(diff) = same(&pair, CLIENT, &bytes).await {
            panic!("version {version}, option {option}:\n{diff}");
        }
    }
}

/// The table above covers the quick path: these take it, the others do not.
#[test]
fn the_quick_path_takes_plain_address_queries_of_our_names_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let handler = handler(&dir.path().join("resolv.conf"), 53);
    let src = SocketAddr::new(IpAddr::V4(CLIENT), 40000);
    let quick =
        |a: &Ask| super::wire::quick_answer(&handler, &bytes_of(a, 7), src, &mut None).is_some();
    for a in [
        ask("web", RecordType::A),
        ask("WeB.Dns.Compose.", RecordType::A),
        ask("db", RecordType::AAAA),
        ask("web", RecordType::AAAA),
        ask("big", RecordType::A),
        no_edns(ask("web", RecordType::A)),
    ] {
        assert!(quick(&a), "{a:?} should take the quick path");
    }
    let mut status = ask("web", RecordType::A);
    status.op_code = OpCode::Status;
    let mut chaos = ask("web", RecordType::A);
    chaos.class = DNSClass::CH;
    for a in [
        ask("2.0.1.10.in-addr.arpa", RecordType::PTR),
        ask("web", RecordType::TXT),
        ask("hidden", RecordType::A),
        ask("nosuchname", RecordType::A),
        ask("fwd.example.test", RecordType::A),
        no_edns(ask("big", RecordType::A)),
        status,
        chaos,
    ] {
        assert!(!quick(&a), "{a:?} should take the full path");
    }
    for (version, option) in [(1, false), (0, true)] {
        let bytes = with_odd_opt(9, version, option);
        assert!(super::wire::quick_answer(&handler, &bytes, src, &mut None).is_none());
    }
}

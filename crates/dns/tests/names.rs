//! Project names over real UDP and TCP on loopback: each client binds its own loopback
//! address, registered as a container address, so the server's views see it as that
//! container.

mod common;

use std::collections::HashSet;

use common::{Harness, Stub, StubMode, Transport, a_records, ip, ordered, query, rcode};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

/// front: web-1..3 (service web), app-1; back: db-1 (service db, alias database).
async fn project() -> (Harness, Stub) {
    let stub = Stub::start(StubMode::Answer("198.51.100.7".parse().expect("literal")))
        .await
        .expect("stub");
    let h = Harness::start("nameserver 127.0.0.1\n", stub.addr.port())
        .await
        .expect("server");
    h.network("front", false);
    h.network("back", false);
    h.container(
        "w1",
        "front",
        ip("127.0.1.2"),
        &["proj-web-1", "web", "web-host"],
    );
    h.container("w2", "front", ip("127.0.1.3"), &["proj-web-2", "web"]);
    h.container("w3", "front", ip("127.0.1.4"), &["proj-web-3", "web"]);
    h.container("a1", "front", ip("127.0.1.10"), &["proj-app-1", "app"]);
    h.container(
        "d1",
        "back",
        ip("127.0.2.2"),
        &["proj-db-1", "db", "database"],
    );
    (h, stub)
}

const APP: &str = "127.0.1.10";
const DB: &str = "127.0.2.2";

#[tokio::test]
async fn service_name_returns_every_replica() {
    let (h, stub) = project().await;
    let answer = h.ask(ip(APP), "web.", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(
        a_records(&answer),
        vec![ip("127.0.1.2"), ip("127.0.1.3"), ip("127.0.1.4")]
    );
    assert!(
        answer.answers.iter().all(|r| r.ttl == 0),
        "TTL 0: containers come and go"
    );
    assert_eq!(stub.queries(), 0, "project names are never forwarded");
}

#[tokio::test]
async fn replica_order_is_shuffled() {
    let (h, _stub) = project().await;
    let mut orders = HashSet::new();
    for _ in 0..60 {
        let answer = h.ask(ip(APP), "web", RecordType::A).await;
        orders.insert(ordered(&answer));
    }
    // 3 replicas: 6 orders, each 1/6. All 60 alike would be a 6 * (1/6)^60 chance.
    assert!(orders.len() > 1, "always the same order: {orders:?}");
}

#[tokio::test]
async fn container_name_alias_and_hostname_resolve() {
    let (h, _stub) = project().await;
    for (name, want) in [
        ("proj-web-2", "127.0.1.3"),
        ("web-host", "127.0.1.2"),
        ("proj-app-1", APP),
    ] {
        let answer = h.ask(ip(APP), name, RecordType::A).await;
        assert_eq!(a_records(&answer), vec![ip(want)], "{name}");
    }
    let answer = h.ask(ip(DB), "database", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(DB)]);
}

#[tokio::test]
async fn names_are_case_insensitive() {
    let (h, _stub) = project().await;
    let answer = h.ask(ip(APP), "PROJ-Web-2.", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("127.0.1.3")]);
    // The owner name is echoed as asked (0x20 resolvers check it).
    assert_eq!(answer.answers[0].name.to_ascii(), "PROJ-Web-2.");
}

#[tokio::test]
async fn search_domain_suffix_resolves_too() {
    let (h, _stub) = project().await;
    let answer = h
        .ask(ip(APP), "proj-web-1.Proj.Internal.", RecordType::A)
        .await;
    assert_eq!(a_records(&answer), vec![ip("127.0.1.2")]);
    let answer = h.ask(ip(APP), "nosuch.proj.internal.", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
}

#[tokio::test]
async fn aaaa_without_ipv6_is_empty_noerror() {
    let (h, stub) = project().await;
    let answer = h.ask(ip(APP), "web", RecordType::AAAA).await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    // With an IPv6 address, AAAA answers it.
    h.records
        .update_container(compose_dns::ContainerRecord {
            id: "w6".into(),
            network: "front".into(),
            ipv4: "127.0.1.6".parse().expect("literal"),
            ipv6: Some("fd00::6".parse().expect("literal")),
            names: vec!["proj-web-6".into(), "web".into()],
            links: vec![],
        })
        .expect("valid");
    let answer = h.ask(ip(APP), "web", RecordType::AAAA).await;
    assert_eq!(a_records(&answer), vec![ip("fd00::6")]);
    assert_eq!(stub.queries(), 0);
}

#[tokio::test]
async fn ptr_names_container_addresses() {
    let (h, _stub) = project().await;
    let answer = h
        .ask(ip(APP), "3.1.0.127.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    let names: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec!["proj-web-2.proj.internal.".to_owned()]);
    // db's address is on a network app is not on.
    let answer = h
        .ask(ip(APP), "2.2.0.127.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
}

#[tokio::test]
async fn clients_see_only_their_networks() {
    let (h, stub) = project().await;
    // db (back only) cannot see front's names, nor front db's.
    for (from, name) in [
        (DB, "web"),
        (DB, "proj-app-1"),
        (APP, "db"),
        (APP, "database"),
    ] {
        let answer = h.ask(ip(from), name, RecordType::A).await;
        assert_eq!(rcode(&answer), ResponseCode::NXDomain, "{name} from {from}");
    }
    // A container of another project (an address we do not know) sees none of ours.
    let answer = h.ask(ip("127.0.9.9"), "web", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
    assert_eq!(stub.queries(), 0, "hidden names are not forwarded either");
    // Attaching db to front as well shows it front's names.
    h.container("d1", "front", ip("127.0.1.20"), &["proj-db-1", "db"]);
    let answer = h.ask(ip(DB), "web", RecordType::A).await;
    assert_eq!(a_records(&answer).len(), 3);
}

#[tokio::test]
async fn the_host_side_sees_every_network() {
    let (h, _stub) = project().await;
    // 127.0.0.1 is the listening (gateway) address: the host, trusted with all names.
    let answer = h.ask(ip("127.0.0.1"), "db", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(DB)]);
    let answer = h.ask(ip("127.0.0.1"), "web", RecordType::A).await;
    assert_eq!(a_records(&answer).len(), 3);
}

#[tokio::test]
async fn links_aliases_are_private_to_the_linking_container() {
    let (h, _stub) = project().await;
    h.container_with(
        "a1",
        "front",
        ip(APP),
        &["proj-app-1", "app"],
        &[("web", "frontend")],
    );
    let answer = h.ask(ip(APP), "frontend", RecordType::A).await;
    assert_eq!(a_records(&answer).len(), 3);
    let answer = h.ask(ip("127.0.1.2"), "frontend", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
}

#[tokio::test]
async fn a_removed_container_disappears_at_once() {
    let (h, _stub) = project().await;
    assert!(h.records.remove_container("w2"));
    let answer = h.ask(ip(APP), "web", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("127.0.1.2"), ip("127.0.1.4")]);
    let answer = h.ask(ip(APP), "proj-web-2", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
    // And a started one appears at once.
    h.container("w5", "front", ip("127.0.1.5"), &["proj-web-5", "web"]);
    let answer = h.ask(ip(APP), "web", RecordType::A).await;
    assert_eq!(a_records(&answer).len(), 3);
    // A removed network takes its names along.
    h.records.remove_network("back");
    let answer = h.ask(ip("127.0.0.1"), "db", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
}

#[tokio::test]
async fn tcp_queries_work() {
    let (h, _stub) = project().await;
    let answer = query(ip(APP), h.addr, "web", RecordType::A, Transport::Tcp)
        .await
        .expect("TCP answer");
    assert_eq!(a_records(&answer).len(), 3);
    let answer = query(ip(DB), h.addr, "web", RecordType::A, Transport::Tcp)
        .await
        .expect("TCP answer");
    assert_eq!(
        rcode(&answer),
        ResponseCode::NXDomain,
        "views hold over TCP too"
    );
}

#[tokio::test]
async fn many_replicas_over_udp_without_edns_truncate_then_tcp_has_all() {
    let (h, _stub) = project().await;
    for i in 30..90u8 {
        h.container(
            &format!("r{i}"),
            "front",
            ip(&format!("127.0.3.{i}")),
            &["many"],
        );
    }
    // A plain 512-byte client gets TC set; over TCP it gets all 60.
    let raw = plain_udp_query(ip(APP), h.addr, "many").await;
    assert!(
        raw.metadata.truncation,
        "60 A records do not fit in 512 bytes"
    );
    let answer = query(ip(APP), h.addr, "many", RecordType::A, Transport::Tcp)
        .await
        .expect("TCP answer");
    assert_eq!(a_records(&answer).len(), 60);
}

/// A query without EDNS (512-byte UDP limit), as old stub resolvers send.
async fn plain_udp_query(
    from: std::net::IpAddr,
    server: std::net::SocketAddr,
    name: &str,
) -> hickory_proto::op::Message {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::Name;
    let mut request = Message::query();
    request.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    let socket = tokio::net::UdpSocket::bind((from, 0)).await.expect("bind");
    socket
        .send_to(&request.to_vec().expect("encode"), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(common::CLIENT_TIMEOUT, socket.recv(&mut buf))
        .await
        .expect("answer in time")
        .expect("recv");
    assert!(n <= 512, "{n} bytes over plain UDP");
    Message::from_vec(&buf[..n]).expect("decode")
}

#[tokio::test]
async fn records_on_unknown_networks_are_refused_with_a_clear_error() {
    let (h, _stub) = project().await;
    let err = h
        .records
        .update_container(compose_dns::ContainerRecord {
            id: "x".into(),
            network: "nope".into(),
            ipv4: "127.0.4.2".parse().expect("literal"),
            ipv6: None,
            names: vec!["x".into()],
            links: vec![],
        })
        .expect_err("unknown network");
    assert!(
        err.to_string().contains("nope") && err.to_string().contains('x'),
        "{err}"
    );
}

#[tokio::test]
async fn other_classes_and_opcodes_get_clear_errors() {
    use hickory_proto::op::{Message, OpCode, Query};
    use hickory_proto::rr::{DNSClass, Name};
    let (h, stub) = project().await;
    let socket = tokio::net::UdpSocket::bind((ip(APP), 0))
        .await
        .expect("bind");
    let mut buf = vec![0u8; 4096];
    let mut ask = async |request: Message| {
        socket
            .send_to(&request.to_vec().expect("encode"), h.addr)
            .await
            .expect("send");
        let n = tokio::time::timeout(common::CLIENT_TIMEOUT, socket.recv(&mut buf))
            .await
            .expect("answer in time")
            .expect("recv");
        Message::from_vec(&buf[..n]).expect("decode")
    };
    let mut chaos = Message::query();
    let mut q = Query::query(
        Name::from_ascii("version.bind.").expect("name"),
        RecordType::TXT,
    );
    q.set_query_class(DNSClass::CH);
    chaos.add_query(q);
    assert_eq!(rcode(&ask(chaos).await), ResponseCode::Refused);
    let mut status = Message::query();
    status.metadata.op_code = OpCode::Status;
    status.add_query(Query::query(
        Name::from_ascii("web.").expect("name"),
        RecordType::A,
    ));
    assert_eq!(rcode(&ask(status).await), ResponseCode::NotImp);
    assert_eq!(stub.queries(), 0);
}

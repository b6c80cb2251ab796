//! Outside names: forwarded to a stub upstream of the test's own on loopback (never the
//! host's resolver), which counts what reaches it.

mod common;

use std::time::Duration;

use common::{Harness, Stub, StubMode, Transport, a_records, closed_port, ip, query, rcode};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const STUB_ANSWER: &str = "198.51.100.7";
const CLIENT: &str = "127.0.1.10";
const INTERNAL_CLIENT: &str = "127.0.2.2";

async fn answering_stub() -> Stub {
    Stub::start(StubMode::Answer(STUB_ANSWER.parse().expect("literal")))
        .await
        .expect("stub")
}

/// One client on a normal network, one on an internal network.
async fn harness(stub_port: u16) -> Harness {
    let h = Harness::start("nameserver 127.0.0.1\n", stub_port)
        .await
        .expect("server");
    h.network("front", false);
    h.network("sealed", true);
    h.container("a1", "front", ip(CLIENT), &["proj-app-1", "app"]);
    h.container(
        "s1",
        "sealed",
        ip(INTERNAL_CLIENT),
        &["proj-vault-1", "vault"],
    );
    h
}

#[tokio::test]
async fn outside_names_are_answered_via_upstream() {
    let stub = answering_stub().await;
    let h = harness(stub.addr.port()).await;
    let answer = h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    assert!(answer.metadata.recursion_available);
    assert_eq!(stub.queries(), 1);
    // Over TCP from the client too (another name: the first one is cached now).
    let answer = query(
        ip(CLIENT),
        h.addr,
        "www2.example.test",
        RecordType::A,
        Transport::Tcp,
    )
    .await
    .expect("TCP answer");
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    assert_eq!(stub.queries(), 2);
}

#[tokio::test]
async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let stub = Stub::start(StubMode::TruncateUdp { count: 40 })
        .await
        .expect("stub");
    let h = harness(stub.addr.port()).await;
    let answer = h.ask(ip(CLIENT), "big.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert_eq!(
        a_records(&answer).len(),
        40,
        "the full TCP answer is relayed"
    );
    assert!(!answer.metadata.truncation);
    assert_eq!(
        stub.udp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        stub.tcp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn internal_networks_get_nxdomain_and_nothing_reaches_upstream() {
    let stub = answering_stub().await;
    let h = harness(stub.addr.port()).await;
    for name in ["www.example.test", "8.8.8.8.in-addr.arpa"] {
        let rtype = if name.ends_with("arpa") {
            RecordType::PTR
        } else {
            RecordType::A
        };
        let answer = h.ask(ip(INTERNAL_CLIENT), name, rtype).await;
        assert_eq!(rcode(&answer), ResponseCode::NXDomain, "{name}");
    }
    // Its own network's names still resolve.
    let answer = h.ask(ip(INTERNAL_CLIENT), "vault", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(INTERNAL_CLIENT)]);
    assert_eq!(stub.queries(), 0);
    // Once also attached to a network with a way out, it is forwarded.
    h.container("s1", "front", ip("127.0.1.11"), &["proj-vault-1", "vault"]);
    let answer = h
        .ask(ip(INTERNAL_CLIENT), "www.example.test", RecordType::A)
        .await;
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    assert_eq!(stub.queries(), 1);
}

#[tokio::test]
async fn an_unreachable_upstream_gives_servfail() {
    let port = closed_port().await.expect("port");
    let h = harness(port).await;
    let answer = h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::ServFail);
}

#[tokio::test]
async fn a_silent_upstream_gives_servfail_after_the_try_timeout() {
    let stub = Stub::start(StubMode::Silent).await.expect("stub");
    let h = Harness::start_with("nameserver 127.0.0.1\n", stub.addr.port(), |c| {
        c.upstream_timeout = Duration::from_millis(200);
    })
    .await
    .expect("server");
    h.network("front", false);
    h.container("a1", "front", ip(CLIENT), &["app"]);
    let answer = h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::ServFail);
    assert_eq!(stub.queries(), 1);
}

#[tokio::test]
async fn no_servers_in_resolv_conf_gives_servfail() {
    let h = Harness::start("# nothing here\n", 53)
        .await
        .expect("server");
    let answer = h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::ServFail);
}

#[tokio::test]
async fn the_next_server_is_tried_when_one_fails() {
    // The first server (127.0.0.1 on a port of the silent stub) never answers; the second
    // (another loopback address, same port) does.
    let silent = Stub::start(StubMode::Silent).await.expect("stub");
    let port = silent.addr.port();
    let second = ip(&format!(
        "127.{}.{}.{}",
        100 + fastrand::u8(..100),
        fastrand::u8(..),
        fastrand::u8(1..250)
    ));
    let answering = Stub::start_on(
        second,
        port,
        StubMode::Answer(STUB_ANSWER.parse().expect("literal")),
    )
    .await
    .expect("second stub");
    let text = format!("nameserver 127.0.0.1\nnameserver {second}\n");
    let h = Harness::start_with(&text, port, |c| {
        c.upstream_timeout = Duration::from_millis(200)
    })
    .await
    .expect("server");
    let answer = h
        .ask(ip("127.0.0.1"), "www.example.test", RecordType::A)
        .await;
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    assert_eq!((silent.queries(), answering.queries()), (1, 1));
}

#[tokio::test]
async fn a_changed_resolv_conf_is_picked_up() {
    let first = answering_stub().await;
    let port = first.addr.port();
    let other = ip(&format!(
        "127.{}.{}.{}",
        100 + fastrand::u8(..100),
        fastrand::u8(..),
        fastrand::u8(1..250)
    ));
    let second = Stub::start_on(
        other,
        port,
        StubMode::Answer("198.51.100.8".parse().expect("literal")),
    )
    .await
    .expect("second stub");
    let h = harness(port).await;
    let answer = h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    // Replaced by rename, as resolvconf and NetworkManager do.
    let tmp = h.resolv_conf.with_extension("new");
    std::fs::write(&tmp, format!("nameserver {other}\n")).expect("write");
    std::fs::rename(&tmp, &h.resolv_conf).expect("rename");
    // Another name: the first one's answer is cached, and rightly so.
    let answer = h.ask(ip(CLIENT), "www2.example.test", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("198.51.100.8")]);
    assert_eq!((first.queries(), second.queries()), (1, 1));
}

#[tokio::test]
async fn upstream_nxdomain_is_relayed() {
    let stub = answering_stub().await;
    let h = harness(stub.addr.port()).await;
    // The stub answers AAAA with no records: NOERROR, empty, relayed as is.
    let answer = h
        .ask(ip(CLIENT), "www.example.test", RecordType::AAAA)
        .await;
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    // Single-label and search-domain names are local: NXDOMAIN without asking upstream.
    for name in ["nosuch", "nosuch.proj.internal"] {
        let answer = h.ask(ip(CLIENT), name, RecordType::A).await;
        assert_eq!(rcode(&answer), ResponseCode::NXDomain, "{name}");
    }
    assert_eq!(stub.queries(), 1);
}

#[tokio::test]
async fn shutdown_stops_answering_and_frees_the_port() {
    let stub = answering_stub().await;
    let h = harness(stub.addr.port()).await;
    let addr = h.addr;
    let answer = h.ask(ip(CLIENT), "app", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(CLIENT)]);
    h.server.shutdown().await.expect("clean shutdown");
    // The same address binds again, UDP and TCP: nothing of ours holds it.
    let udp = tokio::net::UdpSocket::bind(addr)
        .await
        .expect("UDP port free");
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .expect("TCP port free");
    drop((udp, tcp));
}

#[tokio::test]
async fn listeners_can_be_added_and_removed() {
    let stub = answering_stub().await;
    let mut h = harness(stub.addr.port()).await;
    let extra = h
        .server
        .listen("127.0.0.1:0".parse().expect("literal"))
        .await
        .expect("second listener");
    let answer = query(ip(CLIENT), extra, "app", RecordType::A, Transport::Udp)
        .await
        .expect("answer on the new listener");
    assert_eq!(a_records(&answer), vec![ip(CLIENT)]);
    assert_eq!(h.server.local_addrs().len(), 2);
    h.server.unlisten(extra).await.expect("unlisten");
    assert_eq!(h.server.local_addrs(), vec![h.addr]);
    // The first listener still answers; the host address stays trusted while one is left.
    let answer = h.ask(ip("127.0.0.1"), "vault", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip(INTERNAL_CLIENT)]);
    let _free = tokio::net::TcpListener::bind(extra)
        .await
        .expect("port freed");
}

#[tokio::test]
async fn our_own_address_in_resolv_conf_is_skipped_not_looped_through() {
    // A stub on some loopback address and port P; our server on 127.0.0.1:P, with a
    // resolv.conf naming first 127.0.0.1 (ourselves on P), then the stub. Asking
    // ourselves would recurse (until the in-flight bound answers SERVFAIL).
    let other = ip(&format!(
        "127.{}.{}.{}",
        100 + fastrand::u8(..100),
        fastrand::u8(..),
        fastrand::u8(1..250)
    ));
    let stub = Stub::start_on(
        other,
        0,
        StubMode::Answer(STUB_ANSWER.parse().expect("literal")),
    )
    .await
    .expect("stub");
    let port = stub.addr.port();
    let text = format!("nameserver 127.0.0.1\nnameserver {other}\n");
    let h = Harness::start_with(&text, port, |c| {
        c.listen = vec![std::net::SocketAddr::new(ip("127.0.0.1"), port)];
        c.upstream_timeout = Duration::from_secs(30);
    })
    .await
    .expect("server on the stub's port");
    let answer = h
        .ask(ip("127.0.0.1"), "www.example.test", RecordType::A)
        .await;
    assert_eq!(a_records(&answer), vec![ip(STUB_ANSWER)]);
    assert_eq!(stub.queries(), 1);
    assert_eq!(
        h.server.forwarded_queries(),
        1,
        "the query went through us once"
    );
}

#[tokio::test]
async fn past_the_in_flight_bound_queries_fail_at_once() {
    let stub = Stub::start(StubMode::Silent).await.expect("stub");
    let h = Harness::start_with("nameserver 127.0.0.1\n", stub.addr.port(), |c| {
        c.max_forwards_in_flight = 2;
        c.upstream_timeout = Duration::from_secs(3);
    })
    .await
    .expect("server");
    let addr = h.addr;
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            tokio::spawn(async move {
                let name = format!("slow-{i}.example.test");
                query(ip("127.0.0.1"), addr, &name, RecordType::A, Transport::Udp).await
            })
        })
        .collect();
    // Both are with the (silent) upstream before the third is asked.
    while stub.queries() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answer = h
        .ask(ip("127.0.0.1"), "third.example.test", RecordType::A)
        .await;
    assert_eq!(rcode(&answer), ResponseCode::ServFail);
    assert_eq!(stub.queries(), 2, "the third never reached upstream");
    for task in waiting {
        let answer = task
            .await
            .expect("task")
            .expect("answer after the try timeout");
        assert_eq!(rcode(&answer), ResponseCode::ServFail);
    }
}

#[tokio::test]
async fn an_oversized_udp_answer_without_tc_is_asked_again_over_tcp() {
    // 255 A records of a long name (over 4 KiB) do not fit the forwarder's UDP buffer;
    // the stub sends them anyway, TC unset, as a broken upstream might.
    let stub = Stub::start(StubMode::Oversize { count: 255 })
        .await
        .expect("stub");
    let h = harness(stub.addr.port()).await;
    let name = format!("{}.example.test", "x".repeat(60));
    let answer = query(ip(CLIENT), h.addr, &name, RecordType::A, Transport::Tcp)
        .await
        .expect("TCP answer");
    assert_eq!(rcode(&answer), ResponseCode::NoError);
    assert_eq!(a_records(&answer).len(), 255);
    assert_eq!(
        stub.udp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        stub.tcp_queries.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn concurrent_forwarded_queries_each_get_their_own_answer() {
    // Upstream sockets are reused across queries: answers must never cross.
    let stub = Stub::start(StubMode::Numbered).await.expect("stub");
    let h = harness(stub.addr.port()).await;
    let addr = h.addr;
    for round in 0..3 {
        let tasks: Vec<_> = (1..=60u8)
            .map(|k| {
                tokio::spawn(async move {
                    // A name per round: a repeated one would be answered from the cache.
                    let name = format!("n{k}.r{round}.example.test");
                    let answer =
                        query(ip(CLIENT), addr, &name, RecordType::A, Transport::Udp).await;
                    (k, answer)
                })
            })
            .collect();
        for task in tasks {
            let (k, answer) = task.await.expect("task");
            let answer = answer.expect("answer");
            assert_eq!(a_records(&answer), vec![ip(&format!("198.51.100.{k}"))]);
        }
    }
    assert_eq!(stub.queries(), 180);
}

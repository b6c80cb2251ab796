//! The cache of forwarded answers, against a stub upstream on loopback that counts the
//! queries reaching it: a hit never reaches it, TTLs age, expired answers are asked
//! again, negative answers live for the SOA minimum, failures are never kept, and
//! project names always come from the zone.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{Harness, Stub, StubMode, Transport, a_records, ip, query, rcode};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const CLIENT: &str = "127.0.5.10";
const ANSWER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

async fn harness(stub: &Stub) -> Harness {
    let h = Harness::start("nameserver 127.0.0.1\n", stub.addr.port())
        .await
        .expect("server");
    h.network("front", false);
    h.container("c1", "front", ip(CLIENT), &["proj-app-1", "app"]);
    h
}

async fn stub(mode: StubMode) -> Stub {
    Stub::start(mode).await.expect("stub")
}

/// Past `secs` whole seconds from now (the cache counts TTLs in whole seconds).
async fn wait_past(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(150)).await;
}

#[tokio::test]
async fn a_cached_answer_does_not_reach_the_upstream_again() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 300,
    })
    .await;
    let h = harness(&stub).await;
    for (n, name) in ["www.example.test", "WWW.Example.TEST", "www.example.test."]
        .into_iter()
        .enumerate()
    {
        let answer = h.ask(ip(CLIENT), name, RecordType::A).await;
        assert_eq!(a_records(&answer), vec![ip("198.51.100.9")], "{name}");
        assert_eq!(answer.answers[0].name.to_string(), {
            let mut n = name.to_owned();
            if !n.ends_with('.') {
                n.push('.');
            }
            n
        });
        assert_eq!(
            stub.queries(),
            1,
            "ask {n}: only the first reached upstream"
        );
    }
    // Over TCP too: one cache for both transports.
    let answer = query(
        ip(CLIENT),
        h.addr,
        "www.example.test",
        RecordType::A,
        Transport::Tcp,
    )
    .await
    .expect("TCP answer");
    assert_eq!(a_records(&answer), vec![ip("198.51.100.9")]);
    assert_eq!(stub.queries(), 1);
    assert_eq!(h.server.cache_hits(), 3);
    // Another type of the same name is its own entry.
    h.ask(ip(CLIENT), "www.example.test", RecordType::AAAA)
        .await;
    assert_eq!(stub.queries(), 2);
}

#[tokio::test]
async fn a_cached_answer_carries_its_remaining_ttl() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 30,
    })
    .await;
    let h = harness(&stub).await;
    let first = h.ask(ip(CLIENT), "ttl.example.test", RecordType::A).await;
    assert_eq!(first.answers[0].ttl, 30);
    wait_past(2).await;
    let later = h.ask(ip(CLIENT), "ttl.example.test", RecordType::A).await;
    assert_eq!(stub.queries(), 1);
    let ttl = later.answers[0].ttl;
    assert!((1..=28).contains(&ttl), "TTL {ttl} after 2 s in the cache");
}

#[tokio::test]
async fn an_expired_answer_is_asked_again() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 1,
    })
    .await;
    let h = harness(&stub).await;
    h.ask(ip(CLIENT), "short.example.test", RecordType::A).await;
    h.ask(ip(CLIENT), "short.example.test", RecordType::A).await;
    assert_eq!(stub.queries(), 1, "cached while its TTL lasts");
    wait_past(1).await;
    let answer = h.ask(ip(CLIENT), "short.example.test", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("198.51.100.9")]);
    assert_eq!(stub.queries(), 2, "expired, so asked again");
}

#[tokio::test]
async fn a_zero_ttl_answer_is_never_cached() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 0,
    })
    .await;
    let h = harness(&stub).await;
    for _ in 0..3 {
        h.ask(ip(CLIENT), "zero.example.test", RecordType::A).await;
    }
    assert_eq!(stub.queries(), 3);
}

#[tokio::test]
async fn negative_answers_are_cached_for_the_soa_minimum() {
    // SOA TTL 300 but MINIMUM 1: the answer lives 1 s (RFC 2308 §5).
    let stub = stub(StubMode::NxDomain {
        soa: Some((300, 1)),
    })
    .await;
    let h = harness(&stub).await;
    for _ in 0..3 {
        let answer = h.ask(ip(CLIENT), "gone.example.test", RecordType::A).await;
        assert_eq!(rcode(&answer), ResponseCode::NXDomain);
    }
    assert_eq!(stub.queries(), 1);
    wait_past(1).await;
    let answer = h.ask(ip(CLIENT), "gone.example.test", RecordType::A).await;
    assert_eq!(rcode(&answer), ResponseCode::NXDomain);
    assert_eq!(stub.queries(), 2, "asked again after the SOA minimum");
}

#[tokio::test]
async fn negative_answers_without_soa_are_not_cached() {
    let stub = stub(StubMode::NxDomain { soa: None }).await;
    let h = harness(&stub).await;
    for _ in 0..3 {
        let answer = h.ask(ip(CLIENT), "nosoa.example.test", RecordType::A).await;
        assert_eq!(rcode(&answer), ResponseCode::NXDomain);
    }
    assert_eq!(stub.queries(), 3);
}

#[tokio::test]
async fn servfail_is_never_cached() {
    let stub = stub(StubMode::ServFail).await;
    let h = harness(&stub).await;
    for _ in 0..3 {
        let answer = h
            .ask(ip(CLIENT), "broken.example.test", RecordType::A)
            .await;
        assert_eq!(rcode(&answer), ResponseCode::ServFail);
    }
    assert_eq!(stub.queries(), 3);
}

#[tokio::test]
async fn a_project_name_wins_over_a_cached_upstream_answer() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 300,
    })
    .await;
    let h = harness(&stub).await;
    let answer = h.ask(ip(CLIENT), "db.example.test", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("198.51.100.9")]);
    // A container now answers to that name: the zone's answer, not the cached one.
    h.container("d1", "front", ip("127.0.5.11"), &["db.example.test"]);
    let answer = h.ask(ip(CLIENT), "db.example.test", RecordType::A).await;
    assert_eq!(a_records(&answer), vec![ip("127.0.5.11")]);
    assert_eq!(answer.answers[0].ttl, 0);
    assert_eq!(stub.queries(), 1);
    assert_eq!(h.server.cache_hits(), 0);
}

#[tokio::test]
async fn a_disabled_cache_forwards_every_query() {
    let stub = stub(StubMode::AnswerTtl {
        addr: ANSWER,
        ttl: 300,
    })
    .await;
    let h = Harness::start_with("nameserver 127.0.0.1\n", stub.addr.port(), |c| {
        c.cache_size = 0;
    })
    .await
    .expect("server");
    h.network("front", false);
    h.container("c1", "front", ip(CLIENT), &["app"]);
    for _ in 0..3 {
        h.ask(ip(CLIENT), "www.example.test", RecordType::A).await;
    }
    assert_eq!(stub.queries(), 3);
}

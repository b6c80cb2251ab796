use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{Cache, Key, cacheable_ttl};

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("literal name")
}

fn key(n: &str) -> Key {
    Key::new(&Query::query(name(n), RecordType::A), false, true)
}

fn a_answer(n: &str, ttl: u32) -> Message {
    let mut m = Message::query();
    m.metadata.response_code = ResponseCode::NoError;
    m.add_answer(Record::from_rdata(
        name(n),
        ttl,
        RData::A(A(Ipv4Addr::new(198, 51, 100, 1))),
    ));
    m
}

fn soa(ttl: u32, minimum: u32) -> Record {
    Record::from_rdata(
        name("example.test."),
        ttl,
        RData::SOA(SOA::new(
            name("ns.example.test."),
            name("admin.example.test."),
            1,
            3600,
            600,
            86400,
            minimum,
        )),
    )
}

fn negative(code: ResponseCode, soa_record: Option<Record>) -> Message {
    let mut m = Message::query();
    m.metadata.response_code = code;
    if let Some(r) = soa_record {
        m.add_authority(r);
    }
    m
}

#[test]
fn positive_answers_live_for_their_smallest_ttl() {
    let mut m = a_answer("a.example.test.", 300);
    m.add_additional(Record::from_rdata(
        name("ns.example.test."),
        40,
        RData::A(A(Ipv4Addr::LOCALHOST)),
    ));
    assert_eq!(cacheable_ttl(&m), Some(40));
    assert_eq!(cacheable_ttl(&a_answer("a.", 0)), None, "TTL 0 is not kept");
    assert_eq!(cacheable_ttl(&a_answer("a.", u32::MAX)), Some(86_400));
}

#[test]
fn negative_answers_live_for_the_soa_minimum() {
    let nx = negative(ResponseCode::NXDomain, Some(soa(900, 60)));
    assert_eq!(cacheable_ttl(&nx), Some(60));
    let nodata = negative(ResponseCode::NoError, Some(soa(30, 60)));
    assert_eq!(
        cacheable_ttl(&nodata),
        Some(30),
        "the SOA's own TTL caps it"
    );
    assert_eq!(
        cacheable_ttl(&negative(ResponseCode::NXDomain, None)),
        None,
        "no SOA, no negative caching"
    );
}

#[test]
fn failures_and_truncated_answers_are_never_kept() {
    for code in [
        ResponseCode::ServFail,
        ResponseCode::Refused,
        ResponseCode::FormErr,
    ] {
        assert_eq!(cacheable_ttl(&negative(code, Some(soa(900, 60)))), None);
    }
    let mut m = a_answer("a.", 300);
    m.metadata.truncation = true;
    assert_eq!(cacheable_ttl(&m), None);
}

#[test]
fn hits_age_their_ttls_and_expire() {
    let cache = Cache::new(16);
    let t0 = Instant::now();
    cache.put(key("a.example.test"), &a_answer("a.example.test.", 10), t0);
    let hit = cache
        .get(&key("A.Example.Test."), t0 + Duration::from_millis(3500))
        .expect("a hit, any case, with or without the root dot");
    assert_eq!(hit.answers[0].ttl, 7, "3 whole seconds spent in the cache");
    assert!(
        cache
            .get(&key("a.example.test"), t0 + Duration::from_secs(10))
            .is_none()
    );
    assert_eq!(cache.hits(), 1);
}

#[test]
fn the_do_and_rd_bits_are_part_of_the_key() {
    let cache = Cache::new(16);
    let t0 = Instant::now();
    let q = Query::query(name("a.example.test."), RecordType::A);
    cache.put(
        Key::new(&q, false, true),
        &a_answer("a.example.test.", 60),
        t0,
    );
    assert!(cache.get(&Key::new(&q, true, true), t0).is_none());
    assert!(cache.get(&Key::new(&q, false, false), t0).is_none());
    let aaaa = Query::query(name("a.example.test."), RecordType::AAAA);
    assert!(cache.get(&Key::new(&aaaa, false, true), t0).is_none());
    assert!(cache.get(&Key::new(&q, false, true), t0).is_some());
}

#[test]
fn the_cache_is_bounded_and_keeps_what_is_used() {
    let cache = Cache::new(8);
    let t0 = Instant::now();
    cache.put(key("hot.test"), &a_answer("hot.test.", 60), t0);
    for i in 0..100 {
        let n = format!("n{i}.test");
        cache.put(key(&n), &a_answer(&n, 60), t0);
        assert!(cache.get(&key("hot.test"), t0).is_some(), "used, so kept");
        let gens = cache.inner.lock().expect("lock");
        assert!(gens.young.len() + gens.old.len() <= 8);
    }
    assert!(
        cache.get(&key("n0.test"), t0).is_none(),
        "unused, so dropped"
    );
    assert!(cache.get(&key("n99.test"), t0).is_some());
}

#[test]
fn a_zero_size_cache_keeps_nothing() {
    let cache = Cache::new(0);
    let t0 = Instant::now();
    cache.put(key("a.test"), &a_answer("a.test.", 60), t0);
    assert!(cache.get(&key("a.test"), t0).is_none());
}

//! The answer cache for forwarded queries: what an upstream server said, kept for as long
//! as its TTLs allow, so that a repeated outside name costs no round trip.
//!
//! - Keyed by (name, type, class, DO bit, RD bit): a DNSSEC-aware client never gets an
//!   answer stripped for another, nor a non-recursive one the recursive answer.
//! - Positive answers live for their smallest TTL; a hit hands out every TTL decremented by
//!   the time spent in here, so no downstream cache keeps a record past its upstream life.
//! - Negative answers (NXDOMAIN, or NOERROR with no answer) live for the SOA minimum of the
//!   authority section, capped by the SOA record's own TTL (RFC 2308 §5); without an SOA
//!   they are not cached (RFC 2308 §5: SHOULD NOT).
//! - SERVFAIL, REFUSED and every other failure are never cached: an upstream that comes
//!   back is asked again at once. Truncated answers are not cached either.
//! - Only names the zone sent upstream ever reach this cache (the handler asks it after the
//!   zone said "forward"), so a project name is always answered from the zone, even when
//!   an upstream server once answered the same name.
//! - Bounded by entry count, LRU-ish: two generations; a hit in the old one moves the entry
//!   to the new one, and when the new one is full the old one is dropped whole. Every
//!   operation is O(1), and whatever was used within the last generation survives.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// No answer is kept longer than a day, whatever its TTL (dnsmasq and unbound cap too).
const MAX_TTL: u32 = 86_400;

/// Negative answers are kept at most 3 hours (RFC 2308 §5 suggests 1 to 3 hours).
const MAX_NEGATIVE_TTL: u32 = 10_800;

/// What a cached answer is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    name: Name,
    rtype: RecordType,
    class: DNSClass,
    dnssec_ok: bool,
    recursion_desired: bool,
}

impl Key {
    pub(crate) fn new(query: &Query, dnssec_ok: bool, recursion_desired: bool) -> Self {
        Self {
            // Name compares and hashes without case, but its FQDN flag counts: make it one.
            name: {
                let mut name = query.name().to_lowercase();
                name.set_fqdn(true);
                name
            },
            rtype: query.query_type(),
            class: query.query_class(),
            dnssec_ok,
            recursion_desired,
        }
    }
}

/// An upstream answer as the cache hands it out: its TTLs already decremented.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub response_code: ResponseCode,
    pub authoritative: bool,
    pub authentic_data: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl From<Message> for Answer {
    fn from(message: Message) -> Self {
        Self {
            response_code: message.metadata.response_code,
            authoritative: message.metadata.authoritative,
            authentic_data: message.metadata.authentic_data,
            answers: message.answers,
            authorities: message.authorities,
            additionals: message.additionals,
        }
    }
}

impl Answer {
    fn from_message(message: &Message) -> Self {
        Self {
            response_code: message.metadata.response_code,
            authoritative: message.metadata.authoritative,
            authentic_data: message.metadata.authentic_data,
            answers: message.answers.clone(),
            authorities: message.authorities.clone(),
            additionals: message.additionals.clone(),
        }
    }

    /// The same answer `elapsed` seconds later.
    fn aged(&self, elapsed: u32) -> Self {
        let age = |records: &[Record]| {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.decrement_ttl(elapsed);
                    r
                })
                .collect()
        };
        Self {
            response_code: self.response_code,
            authoritative: self.authoritative,
            authentic_data: self.authentic_data,
            answers: age(&self.answers),
            authorities: age(&self.authorities),
            additionals: age(&self.additionals),
        }
    }
}

#[derive(Debug)]
struct Entry {
    answer: Answer,
    stored: Instant,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Key, Entry>,
    old: HashMap<Key, Entry>,
}

/// The cache; shared by every server loop of a project.
#[derive(Debug)]
pub(crate) struct Cache {
    /// Entries per generation: the cache holds at most twice this many.
    generation: usize,
    inner: Mutex<Generations>,
    hits: std::sync::atomic::AtomicU64,
}

impl Cache {
    /// A cache of at most `capacity` answers (0: caches nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            generation: capacity / 2,
            inner: Mutex::new(Generations::default()),
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many queries were answered from the cache since start.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The live answer for `key`, aged, if there is one at `now`.
    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<Answer> {
        if self.generation == 0 {
            return None;
        }
        let mut gens = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let aged = match gens.young.get(key) {
            Some(entry) if entry.expires > now => Some(age_of(entry, now)),
            Some(_) => {
                gens.young.remove(key);
                None
            }
            None => {
                let entry = gens.old.remove(key)?;
                if entry.expires <= now {
                    return None;
                }
                let aged = age_of(&entry, now);
                insert(&mut gens, self.generation, key.clone(), entry);
                Some(aged)
            }
        };
        drop(gens);
        if aged.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        aged
    }

    /// Keeps `message`, the upstream answer to `key`, for as long as it may be kept.
    pub(crate) fn put(&self, key: Key, message: &Message, now: Instant) {
        if self.generation == 0 {
            return;
        }
        let Some(ttl) = cacheable_ttl(message) else {
            return;
        };
        let entry = Entry {
            answer: Answer::from_message(message),
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
        };
        let mut gens = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        gens.old.remove(&key);
        insert(&mut gens, self.generation, key, entry);
    }
}

fn age_of(entry: &Entry, now: Instant) -> Answer {
    let elapsed = now.saturating_duration_since(entry.stored).as_secs();
    entry
        .answer
        .aged(u32::try_from(elapsed).unwrap_or(u32::MAX))
}

/// Into the young generation; a full one becomes the old one (the old one is dropped).
fn insert(gens: &mut Generations, generation: usize, key: Key, entry: Entry) {
    if gens.young.len() >= generation && !gens.young.contains_key(&key) {
        gens.old = std::mem::take(&mut gens.young);
    }
    gens.young.insert(key, entry);
}

/// How long `message` may be kept, in seconds; `None` when it may not (or only for 0 s).
pub(crate) fn cacheable_ttl(message: &Message) -> Option<u32> {
    if message.metadata.truncation {
        return None;
    }
    let ttl = match message.metadata.response_code {
        ResponseCode::NoError if !message.answers.is_empty() => positive_ttl(message)?,
        ResponseCode::NoError | ResponseCode::NXDomain => negative_ttl(message)?,
        _ => return None,
    };
    (ttl > 0).then_some(ttl)
}

/// The smallest TTL of the answer (every section: glue and DNSSEC records age too).
fn positive_ttl(message: &Message) -> Option<u32> {
    let ttl = message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
        .map(|r| r.ttl)
        .min()?;
    Some(ttl.min(MAX_TTL))
}

/// RFC 2308 §5: the TTL of a negative answer is the smaller of the SOA's own TTL and its
/// MINIMUM field.
fn negative_ttl(message: &Message) -> Option<u32> {
    message
        .authorities
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        })
        .map(|ttl| ttl.min(MAX_NEGATIVE_TTL))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;

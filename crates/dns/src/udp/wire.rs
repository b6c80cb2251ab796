//! The quickest answers, written straight in wire format: A and AAAA queries for our own
//! names, the bulk of what containers ask. The question is parsed by hickory-proto; the
//! answer is the bytes hickory would have written for it (header, the question as it came,
//! each address behind a pointer to the question's name, our OPT record), which the tests
//! in `same_answers_tests.rs` hold it to. Anything else (other types, names not ours, EDNS
//! options, answers that would not fit) returns `None` and takes the full path.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Query;
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::handler::{Handler, query_text};
use crate::zone::{QueryKind, Resolution};

const HEADER: usize = 12;
/// An OPT record without options: root name, type, class (payload), TTL (flags), rdlength.
const OPT_LEN: usize = 1 + 2 + 2 + 4 + 2;
/// Pointer to the question's name, type, class, TTL, rdlength.
const RECORD_FIXED: usize = 2 + 2 + 2 + 4 + 2;
const TYPE_OPT: u16 = 41;

/// What the wire-format path made of a datagram.
pub(crate) enum Quick {
    /// The answer, ready to send.
    Answer(Vec<u8>),
    /// A question it asked the zone about, but cannot answer itself: the zone's answer,
    /// so that the full path does not ask again.
    Resolved(Resolution),
    /// Not its kind of query.
    Skip,
}

/// The request's EDNS, as far as the answer depends on it.
struct Opt {
    payload: u16,
    dnssec_ok: bool,
}

/// The answer to `bytes` from `src` when it is a plain A or AAAA query for one of our
/// names that fits in one datagram; else what the full path can reuse.
pub(crate) fn quick(handler: &Handler, bytes: &[u8], src: SocketAddr) -> Quick {
    let mut known = None;
    match quick_answer(handler, bytes, src, &mut known) {
        Some(answer) => Quick::Answer(answer),
        None => known.map_or(Quick::Skip, Quick::Resolved),
    }
}

/// The answer, if this path can give it; `known` gets the zone's answer once asked.
pub(crate) fn quick_answer(
    handler: &Handler,
    bytes: &[u8],
    src: SocketAddr,
    known: &mut Option<Resolution>,
) -> Option<Vec<u8>> {
    let header = bytes.get(..HEADER)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    // A query (QR 0), opcode QUERY, one question, nothing else but maybe an OPT record.
    let counts = [
        &header[4..6],
        &header[6..8],
        &header[8..10],
        &header[10..12],
    ]
    .map(|c| u16::from_be_bytes([c[0], c[1]]));
    if flags & 0xf800 != 0 || counts[0] != 1 || counts[1] != 0 || counts[2] != 0 || counts[3] > 1 {
        return None;
    }
    let mut decoder = BinDecoder::new(bytes);
    decoder.read_slice(HEADER).ok()?;
    let query = Query::read(&mut decoder).ok()?;
    let question_end = decoder.index();
    let opt = match counts[3] {
        1 => Some(read_opt(bytes.get(question_end..)?)?),
        _ if question_end == bytes.len() => None,
        _ => return None,
    };
    if query.query_class() != DNSClass::IN {
        return None;
    }
    let kind = match query.query_type() {
        RecordType::A => QueryKind::A,
        RecordType::AAAA => QueryKind::Aaaa,
        _ => return None,
    };
    let name = query_text(query.name());
    let resolution = {
        let zone = handler.zone.read().unwrap_or_else(|p| p.into_inner());
        zone.resolve(src.ip().to_canonical(), &name, kind)
    };
    let Resolution::Addresses(ips) = &resolution else {
        *known = Some(resolution);
        return None;
    };
    let answer = write(
        &bytes[..question_end],
        flags,
        ips,
        handler.ttl,
        opt.as_ref(),
    );
    if answer.is_none() {
        *known = Some(resolution);
    }
    answer
}

/// An OPT record with no options that ends the message: its payload size and DO bit.
fn read_opt(rest: &[u8]) -> Option<Opt> {
    // Root name, then the fixed part; version 0, no options, nothing after it.
    if rest.len() != OPT_LEN || rest[0] != 0 {
        return None;
    }
    let rtype = u16::from_be_bytes([rest[1], rest[2]]);
    let payload = u16::from_be_bytes([rest[3], rest[4]]);
    let (version, dnssec) = (rest[6], rest[7]);
    let rdlength = u16::from_be_bytes([rest[9], rest[10]]);
    if rtype != TYPE_OPT || version != 0 || rdlength != 0 {
        return None;
    }
    Some(Opt {
        // As hickory reads it: never below the 512 bytes every client takes.
        payload: payload.max(512),
        dnssec_ok: dnssec & 0x80 != 0,
    })
}

/// The answer: header, the question as it came, one record per address, our OPT record.
/// `None` when it would exceed the client's size (the full path truncates it).
fn write(
    head_and_question: &[u8],
    flags: u16,
    ips: &[IpAddr],
    ttl: u32,
    opt: Option<&Opt>,
) -> Option<Vec<u8>> {
    let rdata_len = |ip: &IpAddr| if ip.is_ipv4() { 4 } else { 16 };
    let records: usize = ips.iter().map(|ip| RECORD_FIXED + rdata_len(ip)).sum();
    let total = head_and_question.len() + records + opt.map_or(0, |_| OPT_LEN);
    let max = opt.map_or(512, |o| usize::from(o.payload));
    if total > max {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(head_and_question);
    // QR, AA and RA set; the id, RD and CD echoed; opcode 0, NOERROR.
    let rd = flags & 0x0100;
    let cd = flags & 0x0010;
    let answer_flags = 0x8000 | 0x0400 | rd | 0x0080 | cd;
    out[2..4].copy_from_slice(&answer_flags.to_be_bytes());
    let answers = u16::try_from(ips.len()).ok()?;
    out[6..8].copy_from_slice(&answers.to_be_bytes());
    out[8..10].copy_from_slice(&0u16.to_be_bytes());
    out[10..12].copy_from_slice(&u16::from(opt.is_some()).to_be_bytes());
    for ip in ips {
        // The owner is the question's name, at offset 12.
        out.extend_from_slice(&[0xc0, 0x0c]);
        let mut rdata = [0u8; 16];
        let (rtype, len): (u16, usize) = match ip {
            IpAddr::V4(v4) => {
                rdata[..4].copy_from_slice(&v4.octets());
                (1, 4)
            }
            IpAddr::V6(v6) => {
                rdata = v6.octets();
                (28, 16)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&rdata[..len]);
    }
    if let Some(opt) = opt {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&opt.payload.to_be_bytes());
        // Extended RCODE 0, version 0, DO echoed.
        let do_bit: u16 = if opt.dnssec_ok { 0x8000 } else { 0 };
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&do_bit.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    Some(out)
}

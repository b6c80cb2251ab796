//! One datagram in, what to do with it out: most queries are answered right here on the
//! socket's loop (our names, errors, cached forwarded answers); only a forwarded query the
//! cache cannot answer waits for upstream, on a task of its own.
//!
//! Requests are parsed by hickory ([`Request::from_bytes`]) and answers built by the same
//! [`Handler`] code and encoded by hickory, exactly as its own UDP loop would (the same
//! size limit and truncation); what is saved is its per-query task, channel and boxing.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use super::wire::Quick;
use crate::handler::{Handler, Response};

/// What a datagram calls for.
pub(crate) enum Step {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Ask upstream first (on a task), then answer.
    Forward(Box<Request>),
    /// Nothing: not a query we may answer (a response, garbage, a bad source).
    Ignore,
}

/// What to do with `bytes` from `src`.
pub(crate) fn step(handler: &Handler, bytes: &[u8], src: SocketAddr) -> Step {
    if !answerable(src) {
        return Step::Ignore;
    }
    let known = match super::wire::quick(handler, bytes, src) {
        Quick::Answer(answer) => return Step::Answer(answer),
        Quick::Resolved(resolution) => Some(resolution),
        Quick::Skip => None,
    };
    // Shorter than a header: no id to answer to (hickory ignores these too).
    let Ok(header) = Header::read(&mut BinDecoder::new(bytes)) else {
        return Step::Ignore;
    };
    let request = match Request::from_bytes(bytes.to_vec(), src, Protocol::Udp) {
        Ok(request) => request,
        Err(_) => return Step::Answer(form_error(&header)),
    };
    // Never answer a response: that would let anyone bounce traffic between servers.
    if request.metadata.message_type == MessageType::Response {
        return Step::Ignore;
    }
    match handler.reply_now_resolved(&request, known) {
        Some(reply) => Step::Answer(encode(reply.message(&request))),
        None => Step::Forward(Box::new(request)),
    }
}

/// Whether an answer may go to `src` (as hickory checks: no port 0, no unspecified or
/// broadcast address).
fn answerable(src: SocketAddr) -> bool {
    src.port() != 0
        && match src.ip() {
            IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast(),
            IpAddr::V6(v6) => !v6.is_unspecified(),
        }
}

/// Encodes an answer for UDP: at most the client's EDNS payload size, else 512 bytes
/// (RFC 1035 4.2.1); what does not fit is left out and TC set. An answer that cannot be
/// encoded at all becomes a bare SERVFAIL.
pub(crate) fn encode(response: Response<'_>) -> Vec<u8> {
    let id = response.metadata().id;
    let max = response.edns().map_or(512, |edns| edns.max_payload());
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max);
    match response.destructive_emit(&mut encoder) {
        Ok(_) => bytes,
        Err(err) => {
            tracing::warn!(%err, id, "could not encode DNS answer");
            let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
            metadata.response_code = ResponseCode::ServFail;
            header_only(metadata)
        }
    }
}

/// FORMERR for a message whose header parsed but the rest did not: the header echoed, no
/// sections (as hickory answers it).
fn form_error(header: &Header) -> Vec<u8> {
    let mut metadata = Metadata::response_from_request(&header.metadata);
    metadata.response_code = ResponseCode::FormErr;
    header_only(metadata)
}

fn header_only(metadata: Metadata) -> Vec<u8> {
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut bytes = Vec::with_capacity(12);
    // Twelve bytes into a growable buffer with no size limit: cannot fail.
    let _ = header.emit(&mut BinEncoder::new(&mut bytes));
    bytes
}

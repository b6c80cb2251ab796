//! Answers one query: from the zone when the name is ours, else from upstream.
//!
//! Every answer is first a [`Reply`]; hickory's [`MessageResponseBuilder`] turns it into
//! the message that goes out, whichever loop sends it (hickory's TCP loop, or our UDP
//! loop in [`crate::udp`], which answers right away whatever [`Handler::reply_now`] can).

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use crate::cache::{Answer, Cache, Key};
use crate::forward::Forwarder;
use crate::zone::{QueryKind, Resolution, Zone};

/// The request handler hickory's server loops call for every query.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    pub zone: Arc<RwLock<Zone>>,
    pub forwarder: Arc<Forwarder>,
    pub cache: Arc<Cache>,
    pub ttl: u32,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let reply = self.reply(request).await;
        let sent = response.send_response(reply.message(request)).await;
        sent.unwrap_or_else(|err| {
            tracing::debug!(%err, src = %request.src(), "could not send DNS response");
            failure(request)
        })
    }
}

/// What to do with a request.
enum Plan {
    Error(ResponseCode),
    Local(Resolution),
    Forward,
}

/// An answer, before hickory encodes it.
#[derive(Debug)]
pub(crate) struct Reply {
    metadata: Metadata,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    edns: Option<Edns>,
}

/// The concrete message a [`Reply`] becomes.
pub(crate) type Response<'q> = MessageResponse<
    'q,
    'q,
    std::slice::Iter<'q, Record>,
    std::slice::Iter<'q, Record>,
    std::slice::Iter<'q, Record>,
    std::slice::Iter<'q, Record>,
>;

impl Reply {
    /// No records, `code`.
    fn error(request: &Request, code: ResponseCode) -> Self {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = code;
        metadata.recursion_available = true;
        Self {
            metadata,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            edns: response_edns(request),
        }
    }

    /// The message to send, echoing `request`'s question as it came.
    pub(crate) fn message<'q>(&'q self, request: &'q Request) -> Response<'q> {
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &self.edns {
            builder.edns(edns);
        }
        builder.build(
            self.metadata,
            self.answers.iter(),
            self.authorities.iter(),
            [].iter(),
            self.additionals.iter(),
        )
    }
}

impl Handler {
    /// The reply, asking upstream when it must.
    pub(crate) async fn reply(&self, request: &Request) -> Reply {
        match self.reply_now(request) {
            Some(reply) => reply,
            None => self.forwarded(request).await,
        }
    }

    /// The reply when it needs no upstream server (our names, errors, cached answers);
    /// `None` when the query must be forwarded.
    pub(crate) fn reply_now(&self, request: &Request) -> Option<Reply> {
        self.reply_now_resolved(request, None)
    }

    /// [`Handler::reply_now`], with the zone's answer for the request's question when the
    /// caller already has it (the wire-format path asked the zone before giving up).
    pub(crate) fn reply_now_resolved(
        &self,
        request: &Request,
        known: Option<Resolution>,
    ) -> Option<Reply> {
        match self.plan(request, known) {
            Plan::Error(code) => Some(Reply::error(request, code)),
            Plan::Local(resolution) => Some(self.local(request, resolution)),
            Plan::Forward => {
                let (key, dnssec_ok) = cache_key(request)?;
                let hit = self.cache.get(&key, Instant::now())?;
                Some(upstream_reply(request, hit, dnssec_ok))
            }
        }
    }

    fn plan(&self, request: &Request, known: Option<Resolution>) -> Plan {
        if request.metadata.message_type != MessageType::Query {
            return Plan::Error(ResponseCode::FormErr);
        }
        if request.metadata.op_code != OpCode::Query {
            return Plan::Error(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            return Plan::Error(ResponseCode::FormErr);
        };
        if info.query.query_class() != DNSClass::IN {
            return Plan::Error(ResponseCode::Refused);
        }
        let kind = match info.query.query_type() {
            RecordType::A => QueryKind::A,
            RecordType::AAAA => QueryKind::Aaaa,
            RecordType::PTR => QueryKind::Ptr,
            _ => QueryKind::Other,
        };
        let resolution = known.unwrap_or_else(|| {
            let source = request.src().ip().to_canonical();
            let name = query_text(info.query.name());
            // As for writers (records.rs): a zone change either completes or changes nothing.
            let zone = self.zone.read().unwrap_or_else(|p| p.into_inner());
            zone.resolve(source, &name, kind)
        });
        match resolution {
            Resolution::Forward => Plan::Forward,
            local => Plan::Local(local),
        }
    }

    fn local(&self, request: &Request, resolution: Resolution) -> Reply {
        let Ok(info) = request.request_info() else {
            return Reply::error(request, ResponseCode::FormErr);
        };
        let owner = info.query.original().name().clone();
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        metadata.recursion_available = true;
        let answers = match resolution {
            Resolution::Addresses(ips) => ips
                .into_iter()
                .map(|ip| Record::from_rdata(owner.clone(), self.ttl, address_rdata(ip)))
                .collect(),
            Resolution::Pointer(target) => match Name::from_ascii(format!("{target}.")) {
                Ok(target) => vec![Record::from_rdata(owner, self.ttl, RData::PTR(PTR(target)))],
                Err(_) => return Reply::error(request, ResponseCode::ServFail),
            },
            Resolution::NxDomain | Resolution::Forward => {
                metadata.response_code = ResponseCode::NXDomain;
                Vec::new()
            }
        };
        Reply {
            metadata,
            answers,
            authorities: Vec::new(),
            additionals: Vec::new(),
            edns: response_edns(request),
        }
    }

    /// The upstream answer, asked now (and kept); SERVFAIL when no upstream server gave one.
    async fn forwarded(&self, request: &Request) -> Reply {
        let (Ok(info), Some((key, dnssec_ok))) = (request.request_info(), cache_key(request))
        else {
            return Reply::error(request, ResponseCode::FormErr);
        };
        let forwarded = self
            .forwarder
            .forward(
                info.query.original(),
                request.metadata.recursion_desired,
                dnssec_ok,
            )
            .await;
        match forwarded {
            Ok(message) => {
                self.cache.put(key, &message, Instant::now());
                upstream_reply(request, Answer::from(message), dnssec_ok)
            }
            Err(err) => {
                tracing::warn!(%err, name = %info.query.name(), "forwarding failed");
                Reply::error(request, ResponseCode::ServFail)
            }
        }
    }
}

/// The queried name as text for the zone: its labels joined by dots. Names made only of
/// the bytes our names may hold are joined as they are (no `Display`: it escapes byte by
/// byte through the formatter, a tenth of a query's CPU); any other byte takes hickory's
/// escaped form, which then matches none of our names, as before.
pub(crate) fn query_text(name: &Name) -> String {
    let mut text = Vec::with_capacity(name.len());
    for label in name.iter() {
        if !text.is_empty() {
            text.push(b'.');
        }
        for &b in label {
            if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return name.to_string();
            }
            text.push(b);
        }
    }
    // ASCII only, checked above.
    String::from_utf8(text).unwrap_or_else(|_| name.to_string())
}

/// The cache key of a forwarded query, and its DO bit.
fn cache_key(request: &Request) -> Option<(Key, bool)> {
    let info = request.request_info().ok()?;
    let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    let key = Key::new(
        info.query.original(),
        dnssec_ok,
        request.metadata.recursion_desired,
    );
    Some((key, dnssec_ok))
}

/// An upstream answer (fresh or cached) as our reply to `request`.
fn upstream_reply(request: &Request, mut upstream: Answer, dnssec_ok: bool) -> Reply {
    // The asker's spelling of its name, as if the answer had just been made for it (the
    // cached one carries the first asker's case).
    if let Ok(info) = request.request_info() {
        let asked = info.query.original().name();
        for record in &mut upstream.answers {
            if record.name == *asked {
                record.name = asked.clone();
            }
        }
    }
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = upstream.response_code;
    metadata.authoritative = upstream.authoritative;
    metadata.authentic_data = upstream.authentic_data && dnssec_ok;
    metadata.recursion_available = true;
    Reply {
        metadata,
        answers: upstream.answers,
        authorities: upstream.authorities,
        additionals: upstream.additionals,
        edns: response_edns(request),
    }
}

/// Our EDNS answer to an EDNS query: the client's payload size bounds the UDP answer
/// (hickory truncates and sets TC beyond it, and the client retries over TCP).
fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|theirs| {
        let mut ours = Edns::new();
        ours.set_max_payload(request.max_payload());
        ours.set_dnssec_ok(theirs.flags().dnssec_ok);
        ours
    })
}

fn address_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// What is reported when not even an error could be sent.
fn failure(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_joins_plain_labels_and_escapes_the_rest() {
        let plain = Name::from_ascii("Web.dns_1.Compose.").expect("literal");
        assert_eq!(query_text(&plain), "Web.dns_1.Compose");
        // The zone reads both the same way (no root dot).
        let root = Name::root();
        assert_eq!(
            crate::names::canonical(&query_text(&root)),
            crate::names::canonical(&root.to_string())
        );
        // A dot inside a label: not one of our names, and never confused with two labels.
        let odd = Name::from_labels([b"a.b".as_slice(), b"x".as_slice()]).expect("labels");
        assert_eq!(query_text(&odd), odd.to_string());
        assert_ne!(query_text(&odd), "a.b.x");
    }
}

//! Answers one query: from the zone when the name is ours, else from upstream.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

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
        response: R,
    ) -> ResponseInfo {
        let plan = self.plan(request);
        let sent = match plan {
            Plan::Error(code) => send_error(request, response, code).await,
            Plan::Local(resolution) => self.send_local(request, response, resolution).await,
            Plan::Forward => self.send_forwarded(request, response).await,
        };
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

type SendResult = Result<ResponseInfo, hickory_server::net::NetError>;

impl Handler {
    fn plan(&self, request: &Request) -> Plan {
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
        let source = request.src().ip().to_canonical();
        let name = info.query.name().to_string();
        // As for writers (records.rs): a zone change either completes or changes nothing.
        let zone = self.zone.read().unwrap_or_else(|p| p.into_inner());
        match zone.resolve(source, &name, kind) {
            Resolution::Forward => Plan::Forward,
            local => Plan::Local(local),
        }
    }

    async fn send_local<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
        resolution: Resolution,
    ) -> SendResult {
        let Ok(info) = request.request_info() else {
            return send_error(request, response, ResponseCode::FormErr).await;
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
                Err(_) => return send_error(request, response, ResponseCode::ServFail).await,
            },
            Resolution::NxDomain | Resolution::Forward => {
                metadata.response_code = ResponseCode::NXDomain;
                Vec::new()
            }
        };
        let edns = response_edns(request);
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message = builder.build(metadata, answers.iter(), [], [], []);
        response.send_response(message).await
    }

    async fn send_forwarded<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
    ) -> SendResult {
        let Ok(info) = request.request_info() else {
            return send_error(request, response, ResponseCode::FormErr).await;
        };
        let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let Some(mut upstream) = self.upstream_answer(request, dnssec_ok).await else {
            return send_error(request, response, ResponseCode::ServFail).await;
        };
        // The asker's spelling of its name, as if the answer had just been made for it
        // (the cached one carries the first asker's case).
        let asked = info.query.original().name();
        for record in &mut upstream.answers {
            if record.name == *asked {
                record.name = asked.clone();
            }
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = upstream.response_code;
        metadata.authoritative = upstream.authoritative;
        metadata.authentic_data = upstream.authentic_data && dnssec_ok;
        metadata.recursion_available = true;
        let edns = response_edns(request);
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message = builder.build(
            metadata,
            upstream.answers.iter(),
            upstream.authorities.iter(),
            [],
            upstream.additionals.iter(),
        );
        response.send_response(message).await
    }

    /// The upstream answer: from the cache while it lives, else asked (and kept).
    /// `None` when no upstream server gave one (the client gets SERVFAIL).
    async fn upstream_answer(&self, request: &Request, dnssec_ok: bool) -> Option<Answer> {
        let info = request.request_info().ok()?;
        let query = info.query.original();
        let key = Key::new(query, dnssec_ok, request.metadata.recursion_desired);
        if let Some(hit) = self.cache.get(&key, Instant::now()) {
            return Some(hit);
        }
        let forwarded = self
            .forwarder
            .forward(query, request.metadata.recursion_desired, dnssec_ok)
            .await;
        match forwarded {
            Ok(message) => {
                self.cache.put(key, &message, Instant::now());
                Some(Answer::from(message))
            }
            Err(err) => {
                tracing::warn!(%err, name = %info.query.name(), "forwarding failed");
                None
            }
        }
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

async fn send_error<R: ResponseHandler>(
    request: &Request,
    mut response: R,
    code: ResponseCode,
) -> SendResult {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    metadata.recursion_available = true;
    let edns = response_edns(request);
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    response
        .send_response(builder.build_no_records(metadata))
        .await
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

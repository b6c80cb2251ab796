//! Forgetting the connection-tracking entries of a container that goes away. Conntrack keeps
//! a flow's NAT decision while packets keep coming: a UDP client that sent to a published
//! port before the container was replaced would otherwise go on being sent to the old
//! address and never reach the new container (the classic stale-UDP-DNAT problem).

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage, IPTuple, Tuple};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use crate::netlink::NetlinkError;

fn err(op: &str, source: io::Error) -> NetlinkError {
    NetlinkError {
        op: op.to_string(),
        source,
    }
}

/// Deletes every tracked IPv4 flow that involves one of `addresses` (as source or
/// destination, before or after NAT). Returns how many were deleted; flows that vanish
/// meanwhile are not errors.
pub fn forget_flows(addresses: &[Ipv4Addr]) -> Result<usize, NetlinkError> {
    if addresses.is_empty() {
        return Ok(0);
    }
    let mut sock = open().map_err(|e| err("open conntrack socket", e))?;
    let flows = request(
        &mut sock,
        ConntrackMessage::Get(vec![]),
        NLM_F_REQUEST | NLM_F_DUMP,
        1,
    )
    .map_err(|e| err("dump conntrack", e))?;
    let mut deleted = 0;
    for (orig, seq) in flows
        .into_iter()
        .filter_map(|m| involved(m, addresses))
        .zip(2u32..)
    {
        let msg = ConntrackMessage::Delete(vec![ConntrackAttribute::CtaTupleOrig(orig)]);
        match request(&mut sock, msg, NLM_F_REQUEST | NLM_F_ACK, seq) {
            Ok(_) => deleted += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(err("delete conntrack entry", e)),
        }
    }
    Ok(deleted)
}

/// The original tuple of a flow that involves one of `addresses`.
fn involved(msg: ConntrackMessage, addresses: &[Ipv4Addr]) -> Option<Vec<Tuple>> {
    let ConntrackMessage::New(attrs) = msg else {
        return None;
    };
    let mut orig = None;
    let mut hit = false;
    for attr in attrs {
        let (is_orig, tuples) = match attr {
            ConntrackAttribute::CtaTupleOrig(t) => (true, t),
            ConntrackAttribute::CtaTupleReply(t) => (false, t),
            _ => continue,
        };
        hit |= tuples.iter().any(|t| touches(t, addresses));
        if is_orig {
            orig = Some(tuples);
        }
    }
    orig.filter(|_| hit)
}

fn touches(tuple: &Tuple, addresses: &[Ipv4Addr]) -> bool {
    let Tuple::Ip(ips) = tuple else {
        return false;
    };
    ips.iter().any(|ip| match ip {
        IPTuple::SourceAddress(IpAddr::V4(a)) | IPTuple::DestinationAddress(IpAddr::V4(a)) => {
            addresses.contains(a)
        }
        _ => false,
    })
}

fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

fn request(
    sock: &mut Socket,
    msg: ConntrackMessage,
    flags: u16,
    seq: u32,
) -> io::Result<Vec<ConntrackMessage>> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let body = NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0), msg);
    let mut req = NetlinkMessage::new(header, NetlinkPayload::from(body));
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf);
    sock.send(&buf, 0)?;
    let mut out = Vec::new();
    loop {
        let (data, _) = sock.recv_from_full()?;
        let mut offset = 0;
        while offset < data.len() {
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&data[offset..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            if msg.header.sequence_number == seq {
                match msg.payload {
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(NetfilterMessage {
                        inner: NetfilterMessageInner::Conntrack(ct),
                        ..
                    }) => out.push(ct),
                    _ => {}
                }
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

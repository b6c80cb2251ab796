//! IPv4 addresses on links, and the host's interface networks.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, Result};
use crate::cidr::Ipv4Cidr;

impl Netlink {
    /// Adds `ip/prefix` to link `index`, with the subnet's broadcast address.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        if let Some(net) = Ipv4Cidr::new(ip, prefix).filter(|_| prefix < 31) {
            msg.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(net.last())));
        }
        self.ack(
            &format!("add address {ip}/{prefix}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Every IPv4 address in this namespace: (link index, address, prefix length).
    pub fn addresses(&mut self) -> Result<Vec<(u32, Ipv4Addr, u8)>> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self.dump("list addresses", RouteNetlinkMessage::GetAddress(req))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .flat_map(|a| {
                let (index, prefix) = (a.header.index, a.header.prefix_len);
                a.attributes.into_iter().filter_map(move |attr| match attr {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some((index, ip, prefix)),
                    _ => None,
                })
            })
            .collect())
    }
}

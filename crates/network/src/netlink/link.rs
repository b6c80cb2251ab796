//! Links: look up, create (bridge, veth pair with its peer in another namespace), bring up,
//! delete.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};

use super::{Netlink, NetlinkError, Result, is_missing};

/// The host side and the namespace side of a veth pair.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Name on the host, attached to `bridge`.
    pub host_name: &'a str,
    /// Bridge index the host side joins.
    pub bridge: u32,
    /// Name inside the namespace (`eth0`).
    pub peer_name: &'a str,
    pub mtu: Option<u32>,
    pub peer_mac: Option<[u8; 6]>,
    /// The host side's link group (`ip link ... group N`): the bridge's, so that the bridge
    /// and all its ports go in one deletion ([`Netlink::delete_group`]).
    pub group: Option<u32>,
}

/// What a link dump says of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSummary {
    pub index: u32,
    pub name: String,
    /// The index of the bridge (or other master) it is a port of.
    pub master: Option<u32>,
    pub group: u32,
}

impl Netlink {
    /// The index of link `name`, or `None` when there is no such link.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.get(
            &format!("get link {name}"),
            RouteNetlinkMessage::GetLink(msg),
        ) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates bridge `name`, down. Fails with EEXIST if it exists.
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        // A bridge without an address of its own takes the lowest of its ports' and
        // changes it as containers come and go: the containers' ARP entries for the
        // gateway then point nowhere for seconds (DNS and egress time out).
        msg.attributes
            .push(LinkAttribute::Address(bridge_mac(name).to_vec()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            &format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates a veth pair whose host side joins the bridge and whose peer is created
    /// directly inside namespace `ns` under its final name, so no temporary name ever
    /// shows there and no rename is needed.
    pub fn create_veth(&mut self, spec: &VethSpec<'_>, ns: BorrowedFd<'_>) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.peer_name.to_string()));
        peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes
            .push(LinkAttribute::IfName(spec.host_name.to_string()));
        msg.attributes.push(LinkAttribute::Controller(spec.bridge));
        if let Some(group) = spec.group {
            msg.attributes.push(LinkAttribute::Group(group));
        }
        if let Some(mtu) = spec.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(
            &format!("create veth {} (peer {})", spec.host_name, spec.peer_name),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Turns on hairpin mode of bridge port `index` (`ip link set DEV type bridge_slave
    /// hairpin on`): frames may leave by the port they came in on, which hairpin NAT needs.
    pub fn set_hairpin(&mut self, index: u32, what: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.ack(
            &format!("set hairpin on {what}"),
            RouteNetlinkMessage::NewLink(msg),
            0,
        )
    }

    /// Sets link `index` up.
    pub fn set_up(&mut self, index: u32, what: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(
            &format!("set {what} up"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    /// Deletes link `name`. Returns false when it did not exist (not an error: teardown
    /// must be repeatable).
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = self.link_index(name)? else {
            return Ok(false);
        };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.ack(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every link of this namespace: index, name, master and group.
    pub fn links(&mut self) -> Result<Vec<LinkSummary>> {
        let msgs = self.dump(
            "list links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(summary(l)),
                _ => None,
            })
            .collect())
    }

    /// Puts link `index` in link group `group`.
    pub fn set_group(&mut self, index: u32, group: u32, what: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Group(group));
        self.ack(
            &format!("set the link group of {what}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    /// Deletes every link of group `group` in one request (`ip link del group N`): the
    /// kernel unregisters them together, paying its grace periods once rather than once
    /// per link. Group 0 (every link's default) is refused: that would mean every link.
    pub fn delete_group(&mut self, group: u32) -> Result<()> {
        if group == 0 {
            return Err(NetlinkError::new(
                "delete link group 0",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::Group(group));
        self.ack(
            &format!("delete link group {group}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        )
    }

    /// The index of `name`, or an error saying it is missing.
    pub fn require_link(&mut self, name: &str) -> Result<u32> {
        self.link_index(name)?.ok_or_else(|| {
            NetlinkError::new(
                format!("find link {name}"),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })
    }
}

fn summary(l: LinkMessage) -> LinkSummary {
    let mut out = LinkSummary {
        index: l.header.index,
        name: String::new(),
        master: None,
        group: 0,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n,
            LinkAttribute::Controller(m) if m != 0 => out.master = Some(m),
            LinkAttribute::Group(g) => out.group = g,
            _ => {}
        }
    }
    out
}

/// A stable, locally administered unicast MAC for the bridge `name`.
fn bridge_mac(name: &str) -> [u8; 6] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(name.as_bytes());
    [0x02, d[0], d[1], d[2], d[3], d[4]]
}

//! A container's endpoint on a network: a veth pair, host side on the bridge, peer created
//! inside the container's namespace as `eth<N>` with its address (and the default route for
//! the first network).

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};

use crate::bridge::NetworkInfo;
use crate::error::{Error, Result};
use crate::names::veth_name;
use crate::netlink::{Netlink, NetnsRef, VethSpec};

/// One container on one network.
#[derive(Debug, Clone)]
pub struct EndpointSpec<'a> {
    pub container_id: &'a str,
    pub network: &'a NetworkInfo,
    /// The name inside the container: [`ifname`] of the network's position.
    pub ifname: &'a str,
    /// From [`crate::ipam::allocate_address`].
    pub address: Ipv4Addr,
    /// `mac_address`; `None` derives one from the address (02:42 + the four bytes).
    pub mac: Option<[u8; 6]>,
    /// True for the container's first network: its gateway becomes the default route.
    pub default_route: bool,
}

/// What [`attach`] made; the engine stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub host_veth: String,
    pub ifname: String,
    pub address: Ipv4Addr,
    pub mac: [u8; 6],
}

/// The interface name for a container's `n`th network (0-based): `eth0`, `eth1`, ...
pub fn ifname(n: usize) -> String {
    format!("eth{n}")
}

/// Parses `mac_address` (`02:42:ac:11:00:02`, also with `-`).
pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split([':', '-'])
        .map(|b| {
            (b.len() == 2)
                .then(|| u8::from_str_radix(b, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()
        .ok_or_else(|| Error::Mac(text.to_string()))?;
    let mac: [u8; 6] = bytes.try_into().map_err(|_| Error::Mac(text.to_string()))?;
    // A multicast bit in the first byte would make the kernel refuse the address.
    if mac[0] & 1 == 1 {
        return Err(Error::Mac(text.to_string()));
    }
    Ok(mac)
}

/// A locally administered MAC from the address, as Docker derived them: stable per address.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// Plugs the container whose network namespace is `ns` into the network. On failure the
/// veth pair is removed again, so nothing half-made stays.
pub fn attach(spec: &EndpointSpec<'_>, ns: &NetnsRef) -> Result<Endpoint> {
    let ns_fd = ns.open()?;
    let host_veth = veth_name(spec.container_id, &spec.network.full_name);
    let mac = spec.mac.unwrap_or_else(|| mac_for(spec.address));
    let mut host = Netlink::open()?;
    let bridge = host.require_link(&spec.network.bridge)?;
    // A veth of this name is a leftover of an attach that was cut short: replace it.
    host.delete_link(&host_veth)?;
    host.create_veth(
        &VethSpec {
            host_name: &host_veth,
            bridge,
            peer_name: spec.ifname,
            mtu: spec.network.mtu,
            peer_mac: Some(mac),
            group: Some(crate::bridge::link_group(&spec.network.bridge)),
        },
        ns_fd.as_fd(),
    )?;
    let done = host
        .require_link(&host_veth)
        .and_then(|index| host.set_hairpin(index, &host_veth))
        .map_err(Error::from)
        .and_then(|()| configure_peer(spec, ns_fd.as_fd()));
    if let Err(e) = done {
        let _ = host.delete_link(&host_veth);
        return Err(e);
    }
    Ok(Endpoint {
        host_veth,
        ifname: spec.ifname.to_string(),
        address: spec.address,
        mac,
    })
}

fn configure_peer(spec: &EndpointSpec<'_>, ns: BorrowedFd<'_>) -> Result<()> {
    let mut nl = Netlink::open_in(ns)?;
    let index = nl.require_link(spec.ifname)?;
    let a = &spec.network.addressing;
    nl.add_address(index, spec.address, a.subnet.prefix())?;
    nl.set_up(index, spec.ifname)?;
    let lo = nl.require_link("lo")?;
    nl.set_up(lo, "lo")?;
    if spec.default_route {
        nl.add_default_route(index, a.gateway)?;
    }
    Ok(())
}

/// Unplugs a container from a network: deletes the host side of its veth (the kernel
/// deletes the peer with it). Missing is fine: returns false. When the address goes back to
/// the pool or a published port moves, also call [`crate::conntrack::forget_flows`].
pub fn detach(container_id: &str, network_full_name: &str) -> Result<bool> {
    let host_veth = veth_name(container_id, network_full_name);
    Ok(Netlink::open()?.delete_link(&host_veth)?)
}

/// `network_mode: none` (and every container's namespace): only `lo`, and up.
pub fn loopback_up(ns: &NetnsRef) -> Result<()> {
    let fd = ns.open()?;
    let mut nl = Netlink::open_in(fd.as_fd())?;
    let lo = nl.require_link("lo")?;
    Ok(nl.set_up(lo, "lo")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_and_derive() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert_eq!(
            parse_mac("02-42-AC-11-00-02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:0g").is_err());
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("2:42:ac:11:00:02").is_err());
        assert_eq!(
            mac_for("172.17.0.2".parse().unwrap()),
            [2, 0x42, 172, 17, 0, 2]
        );
        assert_eq!(ifname(1), "eth1");
    }
}

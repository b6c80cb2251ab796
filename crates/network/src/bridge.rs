//! A network's bridge: pick its subnet and create it, check an external one, delete it.

use crate::cidr::Ipv4Cidr;
use crate::error::{Error, Result};
use crate::ipam::{self, Addressing, IpamConfig};
use crate::lock::HostLock;
use crate::names::bridge_name;
use crate::netlink::{Netlink, NetlinkError};
use crate::sysctl;

/// What the engine knows of a network it wants on the host.
#[derive(Debug, Clone)]
pub struct NetworkSpec<'a> {
    /// `<project>_<network>` (or the external network's own name).
    pub full_name: &'a str,
    pub ipam: IpamConfig,
    /// `driver_opts: com.docker.network.driver.mtu`, if given.
    pub mtu: Option<u32>,
    /// `internal: true`: no traffic in or out of the bridge but between its containers.
    pub internal: bool,
}

/// `driver_opts` key for the bridge's MTU, as Docker spells it.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

impl<'a> NetworkSpec<'a> {
    /// From the Compose model's top-level network: `driver` (bridge only), `ipam.config`
    /// (its first pool), `driver_opts` MTU and `internal`.
    pub fn from_model(full_name: &'a str, net: &compose::model::Network) -> Result<Self> {
        if !matches!(net.driver.as_str(), "" | "bridge") {
            return Err(Error::Driver {
                network: full_name.to_string(),
                driver: net.driver.clone(),
            });
        }
        // Bridges get IPv4 only: better a clear no than containers without the v6 asked for.
        if net.enable_ipv6 == Some(true) {
            return Err(Error::Ipv6 {
                network: full_name.to_string(),
            });
        }
        let ipam = match net.ipam.config.first() {
            Some(pool) => IpamConfig::parse(&pool.subnet, &pool.ip_range, &pool.gateway)?,
            None => IpamConfig::default(),
        };
        let mtu = match net.driver_opts.get(MTU_OPTION) {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| Error::Mtu {
                        network: full_name.to_string(),
                        value: v.clone(),
                    })?,
            ),
        };
        Ok(Self {
            full_name,
            ipam,
            mtu,
            internal: net.internal,
        })
    }
}

/// A network as it now exists on the host; the engine stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkInfo {
    pub full_name: String,
    pub bridge: String,
    pub addressing: Addressing,
    pub mtu: Option<u32>,
    pub internal: bool,
}

/// Every IPv4 network the host already uses: route destinations in all tables and the
/// networks of its interface addresses.
pub fn host_networks(nl: &mut Netlink) -> Result<Vec<Ipv4Cidr>> {
    let mut nets = nl.route_destinations()?;
    for (_, ip, prefix) in nl.addresses()? {
        // The address alone too (/32), should its own prefix be odd.
        nets.extend(Ipv4Cidr::new(ip, prefix));
        nets.extend(Ipv4Cidr::new(ip, 32));
    }
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// Picks the network's subnet (under the host-wide lock, against the host's routes and the
/// `taken` subnets of other networks the engine knows) and creates the bridge: kernel name
/// from [`bridge_name`], MTU, gateway address, `route_localnet`, up; `ip_forward` on for a
/// non-internal network. If anything fails, the bridge is removed again.
///
/// A bridge of that name that already has its address (left by an `up` that stopped before
/// the engine stored the result) is adopted as it is; one without an address is half-made
/// and is re-created.
pub fn create_network(spec: &NetworkSpec<'_>, taken: &[Ipv4Cidr]) -> Result<NetworkInfo> {
    let _lock = HostLock::acquire()?;
    let mut nl = Netlink::open()?;
    let bridge = bridge_name(spec.full_name);
    if let Some(info) = adopt(&mut nl, spec, &bridge)? {
        return Ok(info);
    }
    let routes = host_networks(&mut nl)?;
    let addressing = ipam::allocate_subnet(&spec.ipam, &routes, taken)?;
    nl.create_bridge(&bridge, spec.mtu)?;
    let info = info(spec, bridge, addressing);
    let done = nl.require_link(&info.bridge).and_then(|index| {
        let a = &info.addressing;
        nl.add_address(index, a.gateway, a.subnet.prefix())
    });
    if let Err(e) = done
        .map_err(Error::from)
        .and_then(|()| finish(&mut nl, &info))
    {
        let _ = nl.delete_link(&info.bridge);
        return Err(e);
    }
    Ok(info)
}

fn info(spec: &NetworkSpec<'_>, bridge: String, addressing: Addressing) -> NetworkInfo {
    NetworkInfo {
        full_name: spec.full_name.to_string(),
        bridge,
        addressing,
        mtu: spec.mtu,
        internal: spec.internal,
    }
}

fn adopt(nl: &mut Netlink, spec: &NetworkSpec<'_>, bridge: &str) -> Result<Option<NetworkInfo>> {
    let Some(index) = nl.link_index(bridge)? else {
        return Ok(None);
    };
    let Some((gateway, subnet)) = link_address(nl, index)? else {
        nl.delete_link(bridge)?;
        return Ok(None);
    };
    if let Some(wanted) = spec.ipam.subnet.filter(|w| *w != subnet) {
        return Err(Error::Mismatch {
            network: spec.full_name.to_string(),
            has: subnet,
            wanted,
        });
    }
    let range = spec.ipam.ip_range.unwrap_or(subnet);
    let info = info(
        spec,
        bridge.to_string(),
        Addressing {
            subnet,
            range,
            gateway,
        },
    );
    finish(nl, &info)?;
    Ok(Some(info))
}

/// The first IPv4 address of link `index` and its subnet.
fn link_address(nl: &mut Netlink, index: u32) -> Result<Option<(std::net::Ipv4Addr, Ipv4Cidr)>> {
    Ok(nl
        .addresses()?
        .into_iter()
        .find(|(i, _, _)| *i == index)
        .and_then(|(_, ip, p)| Some((ip, Ipv4Cidr::new(ip, p)?))))
}

fn finish(nl: &mut Netlink, info: &NetworkInfo) -> Result<()> {
    let index = nl.require_link(&info.bridge)?;
    nl.set_group(index, link_group(&info.bridge), &info.bridge)?;
    sysctl::enable_route_localnet(&info.bridge)?;
    nl.set_up(index, &info.bridge)?;
    if !info.internal {
        sysctl::enable_ip_forward()?;
    }
    Ok(())
}

/// The link group of bridge `bridge` (kernel name) and of its containers' veths: a value
/// from the bridge's name, with a fixed high byte so it stays clear of the small numbers
/// people give groups by hand and is never 0 (every link's default). Two bridges may
/// share one by chance; a teardown checks the group's members before deleting it whole.
pub fn link_group(bridge: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bridge.as_bytes());
    LINK_GROUP_BASE | u32::from_be_bytes([0, d[0], d[1], d[2]])
}

/// The high byte of [`link_group`]'s values.
pub const LINK_GROUP_BASE: u32 = 0x7c00_0000;

/// Deletes the bridge `bridge` (kernel name). A missing bridge is fine: returns false.
pub fn delete_bridge(bridge: &str) -> Result<bool> {
    Ok(Netlink::open()?.delete_link(bridge)?)
}

/// True when the bridge exists.
pub fn bridge_exists(bridge: &str) -> std::result::Result<bool, NetlinkError> {
    Ok(Netlink::open()?.link_index(bridge)?.is_some())
}

/// An `external: true` network must already exist; it is used as is and never removed.
/// `full_name` is the network's own name (no project prefix). Its addressing is read from
/// the bridge: the subnet and gateway of its first IPv4 address.
pub fn check_external(full_name: &str) -> Result<NetworkInfo> {
    let bridge = bridge_name(full_name);
    let missing = || Error::ExternalMissing {
        network: full_name.to_string(),
        bridge: bridge.clone(),
    };
    let mut nl = Netlink::open()?;
    let index = nl.link_index(&bridge)?.ok_or_else(missing)?;
    let (gateway, subnet) = link_address(&mut nl, index)?.ok_or_else(missing)?;
    Ok(NetworkInfo {
        full_name: full_name.to_string(),
        bridge: bridge.clone(),
        addressing: Addressing {
            subnet,
            range: subnet,
            gateway,
        },
        mtu: None,
        internal: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose::model::{Ipam, IpamPool, Network};

    #[test]
    fn spec_from_the_compose_model() {
        let mut net = Network {
            internal: true,
            ..Network::default()
        };
        net.driver_opts.insert(MTU_OPTION.into(), "1400".into());
        net.ipam = Ipam {
            config: vec![IpamPool {
                subnet: "10.7.0.0/16".into(),
                gateway: "10.7.0.254".into(),
                ..IpamPool::default()
            }],
            ..Ipam::default()
        };
        let spec = NetworkSpec::from_model("p_back", &net).unwrap();
        assert_eq!(spec.mtu, Some(1400));
        assert!(spec.internal);
        assert_eq!(spec.ipam.subnet, Some("10.7.0.0/16".parse().unwrap()));
        assert_eq!(spec.ipam.gateway, Some("10.7.0.254".parse().unwrap()));
        net.driver_opts.insert(MTU_OPTION.into(), "big".into());
        let err = NetworkSpec::from_model("p_back", &net).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network 'p_back': invalid MTU 'big' in driver_opts"
        );
        net.driver = "overlay".into();
        assert!(NetworkSpec::from_model("p_back", &net).is_err());
    }

    #[test]
    fn enable_ipv6_is_refused_clearly() {
        let mut net = Network {
            enable_ipv6: Some(true),
            ..Network::default()
        };
        let err = NetworkSpec::from_model("p_v6", &net).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network 'p_v6': enable_ipv6 is not supported (IPv4 only); remove it or set it to false"
        );
        net.enable_ipv6 = Some(false);
        assert!(NetworkSpec::from_model("p_v6", &net).is_ok());
    }
}

//! IP address management, pure: which subnet a network gets and which address a container
//! gets on it. The caller (the engine) holds the state — the subnets of other networks and
//! the addresses already handed out — and passes it in; nothing here reads or stores it.

use std::net::Ipv4Addr;

use crate::cidr::{CidrError, Ipv4Cidr};

/// What `ipam.config` asked for; every field may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamConfig {
    pub subnet: Option<Ipv4Cidr>,
    pub ip_range: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Addr>,
}

/// A network's addresses: its subnet, the range containers draw from, and the gateway
/// (the bridge's own address, where the DNS server listens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Addressing {
    pub subnet: Ipv4Cidr,
    pub range: Ipv4Cidr,
    pub gateway: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error(transparent)]
    Cidr(#[from] CidrError),
    #[error("invalid IPv4 address '{0}' in ipam config")]
    Address(String),
    #[error("ipam config sets ip_range or gateway without a subnet")]
    NoSubnet,
    #[error("subnet {subnet} overlaps subnet {other} of another network")]
    SubnetTaken { subnet: Ipv4Cidr, other: Ipv4Cidr },
    #[error("ip_range {range} is not inside subnet {subnet}")]
    RangeOutside { range: Ipv4Cidr, subnet: Ipv4Cidr },
    #[error("gateway {gateway} is not a usable address of subnet {subnet}")]
    GatewayOutside { gateway: Ipv4Addr, subnet: Ipv4Cidr },
    #[error("subnet {0} is too small for a gateway and containers (needs /30 or larger)")]
    TooSmall(Ipv4Cidr),
    #[error(
        "no free subnet left in the default pools (172.17-31.0.0/16, 192.168.0.0/16 in /20s); \
         set ipam.config.subnet"
    )]
    PoolsExhausted,
    #[error("address {address} is not a usable address of subnet {subnet}")]
    AddressOutside { address: Ipv4Addr, subnet: Ipv4Cidr },
    #[error("address {0} is the network's gateway")]
    AddressIsGateway(Ipv4Addr),
    #[error("address {0} is already in use on this network")]
    AddressInUse(Ipv4Addr),
    #[error("no free address left in {0}")]
    RangeFull(Ipv4Cidr),
}

impl IpamConfig {
    /// Reads one `ipam.config` entry as the Compose file gives it (empty = absent).
    pub fn parse(subnet: &str, ip_range: &str, gateway: &str) -> Result<Self, IpamError> {
        let cidr = |s: &str| -> Result<Option<Ipv4Cidr>, IpamError> {
            (!s.is_empty())
                .then(|| s.parse())
                .transpose()
                .map_err(Into::into)
        };
        let gateway = match gateway {
            "" => None,
            g => Some(g.parse().map_err(|_| IpamError::Address(g.to_string()))?),
        };
        Ok(Self {
            subnet: cidr(subnet)?,
            ip_range: cidr(ip_range)?,
            gateway,
        })
    }
}

/// Docker's default address pools, in the order it uses them: 172.17-31.0.0/16, then
/// 192.168.0.0/16 cut into /20s.
pub fn default_pool() -> impl Iterator<Item = Ipv4Cidr> {
    let b = (17u8..=31).filter_map(|b| Ipv4Cidr::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let c = (0u8..16).filter_map(|i| Ipv4Cidr::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    b.chain(c)
}

/// The subnet for a new network: the configured one, checked against `taken` (other
/// networks' subnets), or the first pool subnet that overlaps neither `taken` nor any of
/// `host_routes` (the host's routes and interface networks; default routes are ignored).
pub fn allocate_subnet(
    config: &IpamConfig,
    host_routes: &[Ipv4Cidr],
    taken: &[Ipv4Cidr],
) -> Result<Addressing, IpamError> {
    let subnet = match config.subnet {
        Some(subnet) => {
            if let Some(other) = taken.iter().find(|t| t.overlaps(&subnet)) {
                return Err(IpamError::SubnetTaken {
                    subnet,
                    other: *other,
                });
            }
            subnet
        }
        None if config.ip_range.is_some() || config.gateway.is_some() => {
            return Err(IpamError::NoSubnet);
        }
        None => pick_from_pool(host_routes, taken)?,
    };
    addressing(subnet, config)
}

fn pick_from_pool(host_routes: &[Ipv4Cidr], taken: &[Ipv4Cidr]) -> Result<Ipv4Cidr, IpamError> {
    let routes = host_routes.iter().filter(|r| r.prefix() > 0);
    let avoid: Vec<&Ipv4Cidr> = routes.chain(taken).collect();
    default_pool()
        .find(|cand| !avoid.iter().any(|a| a.overlaps(cand)))
        .ok_or(IpamError::PoolsExhausted)
}

fn addressing(subnet: Ipv4Cidr, config: &IpamConfig) -> Result<Addressing, IpamError> {
    if subnet.prefix() > 30 {
        return Err(IpamError::TooSmall(subnet));
    }
    let range = config.ip_range.unwrap_or(subnet);
    if !subnet.covers(&range) {
        return Err(IpamError::RangeOutside { range, subnet });
    }
    let gateway = match config.gateway {
        Some(g) => g,
        None => subnet.nth(1).ok_or(IpamError::TooSmall(subnet))?,
    };
    if !usable(&subnet, gateway) {
        return Err(IpamError::GatewayOutside { gateway, subnet });
    }
    Ok(Addressing {
        subnet,
        range,
        gateway,
    })
}

/// Inside the subnet and neither its network nor its broadcast address.
fn usable(subnet: &Ipv4Cidr, ip: Ipv4Addr) -> bool {
    let n = u32::from(ip);
    subnet.contains(ip) && n != subnet.first() && n != subnet.last()
}

/// A container's address on a network: `requested` (`ipv4_address`) if it is free and
/// inside the subnet, or else the lowest free address of the range. `used` are the
/// addresses other containers already hold on this network.
pub fn allocate_address(
    net: &Addressing,
    used: &[Ipv4Addr],
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    match requested {
        Some(ip) => check_requested(net, used, ip),
        None => first_free(net, used),
    }
}

fn check_requested(
    net: &Addressing,
    used: &[Ipv4Addr],
    ip: Ipv4Addr,
) -> Result<Ipv4Addr, IpamError> {
    if !usable(&net.subnet, ip) {
        return Err(IpamError::AddressOutside {
            address: ip,
            subnet: net.subnet,
        });
    }
    if ip == net.gateway {
        return Err(IpamError::AddressIsGateway(ip));
    }
    if used.contains(&ip) {
        return Err(IpamError::AddressInUse(ip));
    }
    Ok(ip)
}

fn first_free(net: &Addressing, used: &[Ipv4Addr]) -> Result<Ipv4Addr, IpamError> {
    (net.range.first()..=net.range.last())
        .map(Ipv4Addr::from)
        .find(|ip| usable(&net.subnet, *ip) && *ip != net.gateway && !used.contains(ip))
        .ok_or(IpamError::RangeFull(net.range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn pool_skips_host_routes_and_taken_subnets() {
        let routes = [c("0.0.0.0/0"), c("172.17.0.0/16"), c("172.18.3.0/24")];
        let taken = [c("172.19.0.0/16")];
        let a = allocate_subnet(&IpamConfig::default(), &routes, &taken).unwrap();
        assert_eq!(a.subnet, c("172.20.0.0/16"));
        assert_eq!(a.gateway, ip("172.20.0.1"));
        assert_eq!(a.range, a.subnet);
    }

    #[test]
    fn pool_moves_on_to_192_168_in_slash_20s() {
        let routes = [c("172.16.0.0/12"), c("192.168.0.0/24")];
        let a = allocate_subnet(&IpamConfig::default(), &routes, &[]).unwrap();
        assert_eq!(a.subnet, c("192.168.16.0/20"));
        let all = [c("172.16.0.0/12"), c("192.168.0.0/16")];
        let err = allocate_subnet(&IpamConfig::default(), &all, &[]).unwrap_err();
        assert_eq!(err, IpamError::PoolsExhausted);
    }

    #[test]
    fn configured_subnet_range_and_gateway() {
        let cfg = IpamConfig::parse("10.5.0.0/16", "10.5.2.0/24", "10.5.0.254").unwrap();
        let a = allocate_subnet(&cfg, &[c("10.0.0.0/8")], &[]).unwrap();
        assert_eq!(a.subnet, c("10.5.0.0/16"));
        assert_eq!(a.range, c("10.5.2.0/24"));
        assert_eq!(a.gateway, ip("10.5.0.254"));
        assert_eq!(allocate_address(&a, &[], None).unwrap(), ip("10.5.2.0"));
    }

    #[test]
    fn configured_conflicts_are_errors() {
        let cfg = IpamConfig::parse("10.5.0.0/16", "", "").unwrap();
        let err = allocate_subnet(&cfg, &[], &[c("10.5.7.0/24")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subnet 10.5.0.0/16 overlaps subnet 10.5.7.0/24 of another network"
        );
        let cfg = IpamConfig::parse("10.5.0.0/16", "10.6.0.0/24", "").unwrap();
        assert!(matches!(
            allocate_subnet(&cfg, &[], &[]),
            Err(IpamError::RangeOutside { .. })
        ));
        let cfg = IpamConfig::parse("10.5.0.0/16", "", "10.6.0.1").unwrap();
        assert!(matches!(
            allocate_subnet(&cfg, &[], &[]),
            Err(IpamError::GatewayOutside { .. })
        ));
        let cfg = IpamConfig::parse("10.5.0.0/16", "", "10.5.255.255").unwrap();
        assert!(matches!(
            allocate_subnet(&cfg, &[], &[]),
            Err(IpamError::GatewayOutside { .. })
        ));
        let cfg = IpamConfig::parse("", "", "10.5.0.1").unwrap();
        assert_eq!(allocate_subnet(&cfg, &[], &[]), Err(IpamError::NoSubnet));
        assert!(IpamConfig::parse("10.5.0.1/16", "", "").is_err());
        assert!(IpamConfig::parse("10.5.0.0/16", "", "nope").is_err());
        let cfg = IpamConfig::parse("10.5.0.0/31", "", "").unwrap();
        assert!(matches!(
            allocate_subnet(&cfg, &[], &[]),
            Err(IpamError::TooSmall(_))
        ));
    }

    #[test]
    fn addresses_skip_gateway_and_used() {
        let a = allocate_subnet(&IpamConfig::default(), &[], &[]).unwrap();
        assert_eq!(allocate_address(&a, &[], None).unwrap(), ip("172.17.0.2"));
        let used = [ip("172.17.0.2"), ip("172.17.0.3")];
        assert_eq!(allocate_address(&a, &used, None).unwrap(), ip("172.17.0.4"));
    }

    #[test]
    fn requested_address_is_honored_or_refused() {
        let a = allocate_subnet(&IpamConfig::default(), &[], &[]).unwrap();
        let want = ip("172.17.9.9");
        assert_eq!(allocate_address(&a, &[], Some(want)).unwrap(), want);
        assert_eq!(
            allocate_address(&a, &[want], Some(want)),
            Err(IpamError::AddressInUse(want))
        );
        assert_eq!(
            allocate_address(&a, &[], Some(ip("172.17.0.1"))),
            Err(IpamError::AddressIsGateway(ip("172.17.0.1")))
        );
        assert!(matches!(
            allocate_address(&a, &[], Some(ip("10.0.0.2"))),
            Err(IpamError::AddressOutside { .. })
        ));
        assert!(matches!(
            allocate_address(&a, &[], Some(ip("172.17.0.0"))),
            Err(IpamError::AddressOutside { .. })
        ));
    }

    #[test]
    fn full_range_is_an_error() {
        let cfg = IpamConfig::parse("10.9.0.0/30", "", "").unwrap();
        let a = allocate_subnet(&cfg, &[], &[]).unwrap();
        assert_eq!(allocate_address(&a, &[], None).unwrap(), ip("10.9.0.2"));
        assert_eq!(
            allocate_address(&a, &[ip("10.9.0.2")], None),
            Err(IpamError::RangeFull(a.range))
        );
    }
}

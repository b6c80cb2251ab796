//! IPv4 networks in CIDR form (`172.18.0.0/16`): parsing, containment and overlap.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: an address masked to its prefix, and the prefix length.
/// Stored and serialized as its text (`172.18.0.0/16`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a `a.b.c.d/n` text is not an IPv4 network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 subnet '{text}': {reason}")]
pub struct CidrError {
    pub text: String,
    pub reason: &'static str,
}

impl Ipv4Cidr {
    /// The network holding `addr` with `prefix` bits; host bits are cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address (the network address).
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    /// The last address (the broadcast address for prefixes below 31).
    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    /// True when the two networks share at least one address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// True when `other` lies wholly inside `self`.
    pub fn covers(&self, other: &Ipv4Cidr) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }

    /// The address at `offset` from the network address.
    pub fn nth(&self, offset: u32) -> Option<Ipv4Addr> {
        let ip = self.first().checked_add(offset)?;
        (ip <= self.last()).then(|| Ipv4Addr::from(ip))
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = CidrError;

    fn try_from(s: String) -> Result<Self, CidrError> {
        s.parse()
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    /// Parses `a.b.c.d/n`. Host bits must be zero (`172.18.0.1/16` is refused, as Docker
    /// refuses it) so a typo cannot silently name another network.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrError {
            text: text.to_string(),
            reason,
        };
        let (ip, prefix) = text.split_once('/').ok_or_else(|| err("missing /prefix"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| err("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| err("prefix is not a number"))?;
        let cidr = Self::new(ip, prefix).ok_or_else(|| err("prefix is above 32"))?;
        if cidr.addr != ip {
            return Err(err("host bits are set (use the network address)"));
        }
        Ok(cidr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(c("172.18.0.0/16").to_string(), "172.18.0.0/16");
        assert_eq!(c("0.0.0.0/0").last(), u32::MAX);
        assert!("172.18.0.1/16".parse::<Ipv4Cidr>().is_err());
        assert!("172.18.0.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("172.18.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("abc/8".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn serializes_as_text() {
        let json = serde_json::to_string(&c("10.1.0.0/16")).unwrap();
        assert_eq!(json, "\"10.1.0.0/16\"");
        assert_eq!(
            serde_json::from_str::<Ipv4Cidr>(&json).unwrap(),
            c("10.1.0.0/16")
        );
        assert!(serde_json::from_str::<Ipv4Cidr>("\"10.1.0.1/16\"").is_err());
    }

    #[test]
    fn overlap_and_containment() {
        assert!(c("172.18.0.0/16").overlaps(&c("172.18.5.0/24")));
        assert!(c("172.18.5.0/24").overlaps(&c("172.18.0.0/16")));
        assert!(!c("172.18.0.0/16").overlaps(&c("172.19.0.0/16")));
        assert!(c("172.18.0.0/16").covers(&c("172.18.5.0/24")));
        assert!(!c("172.18.5.0/24").covers(&c("172.18.0.0/16")));
        assert!(c("10.0.0.0/8").contains("10.2.3.4".parse().unwrap()));
        assert_eq!(c("10.0.0.0/30").nth(3), Some("10.0.0.3".parse().unwrap()));
        assert_eq!(c("10.0.0.0/30").nth(4), None);
    }
}

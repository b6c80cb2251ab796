//! Which names a container may be found by, and the textual forms of queried names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `name` can be served as a single DNS label (RFC 1123: letters, digits, `-`, `_`
/// tolerated as Docker does, 1-63 bytes, no leading or trailing `-`).
pub fn is_servable_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// Whether `name` can be served as a (possibly dotted) DNS name: every label servable and
/// at most 253 bytes in all. Container names and hostnames may hold dots.
pub fn is_servable_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_servable_label)
}

/// Lowercases a queried name and strips the root dot, the form records are kept in.
pub fn canonical(query: &str) -> String {
    query.trim_end_matches('.').to_ascii_lowercase()
}

/// The address a reverse-lookup name (`4.3.2.1.in-addr.arpa`, 32 nibbles `.ip6.arpa`) stands
/// for, or `None` when `name` (canonical form) is not a full reverse name.
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        return reverse_v4(rest).map(IpAddr::V4);
    }
    name.strip_suffix(".ip6.arpa")
        .and_then(reverse_v6)
        .map(IpAddr::V6)
}

fn reverse_v4(rest: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = rest.split('.');
    for slot in octets.iter_mut().rev() {
        let part = parts.next()?;
        // Leading zeros are not a canonical reverse name; refuse rather than guess.
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

fn reverse_v6(rest: &str) -> Option<Ipv6Addr> {
    let mut value: u128 = 0;
    let mut count = 0;
    for (shift, part) in rest.split('.').enumerate() {
        if part.len() != 1 || shift >= 32 {
            return None;
        }
        let nibble = u128::from(u8::from_str_radix(part, 16).ok()?);
        value |= nibble << (4 * shift);
        count += 1;
    }
    (count == 32).then_some(Ipv6Addr::from(value))
}

/// The reverse-lookup name of `ip`, canonical form (no root dot).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mut out = String::with_capacity(72);
            for shift in 0..32 {
                let nibble = (bits >> (4 * shift)) & 0xf;
                out.push_str(&format!("{nibble:x}."));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_servable_label("web"));
        assert!(is_servable_label("my_app-1"));
        assert!(!is_servable_label("-web"));
        assert!(!is_servable_label("a.b"));
        assert!(!is_servable_label(""));
        assert!(!is_servable_label(&"a".repeat(64)));
    }

    #[test]
    fn dotted_names() {
        assert!(is_servable_name("web.internal"));
        assert!(is_servable_name("web"));
        assert!(!is_servable_name("web..x"));
        assert!(!is_servable_name("we b"));
        assert!(!is_servable_name(""));
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("Web.Default."), "web.default");
    }

    #[test]
    fn reverse_round_trip() {
        for ip in ["10.1.2.3", "fd00::1:2", "::1"] {
            let ip: IpAddr = ip.parse().expect("literal");
            assert_eq!(reverse_address(&reverse_name(ip)), Some(ip));
        }
        assert_eq!(
            reverse_name("10.1.2.3".parse().expect("literal")),
            "3.2.1.10.in-addr.arpa"
        );
    }

    #[test]
    fn partial_reverse_names_are_not_addresses() {
        assert_eq!(reverse_address("2.1.10.in-addr.arpa"), None);
        assert_eq!(reverse_address("300.2.1.10.in-addr.arpa"), None);
        assert_eq!(reverse_address("03.2.1.10.in-addr.arpa"), None);
        assert_eq!(reverse_address("1.ip6.arpa"), None);
        assert_eq!(reverse_address("web"), None);
    }
}

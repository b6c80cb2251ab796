//! Kernel names for a project's links. Linux limits interface names to 15 bytes, far less
//! than `<project>_<network>`, so the kernel name is derived from the full name by hash: the
//! same network always gets the same bridge, and two networks practically never collide.

use sha2::{Digest, Sha256};

/// The longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// The network's full name, as Docker Compose spells it: `<project>_<network>`.
pub fn network_name(project: &str, network: &str) -> String {
    format!("{project}_{network}")
}

fn short_hash(s: &str, len: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(digest)[..len].to_string()
}

/// The bridge's kernel name for a network's full name: `cbr-` and 11 hex digits.
pub fn bridge_name(full_network_name: &str) -> String {
    format!("cbr-{}", short_hash(full_network_name, IFNAME_MAX - 4))
}

/// The host-side veth name for a container's endpoint on a network: `cve-` and 11 hex digits.
pub fn veth_name(container_id: &str, full_network_name: &str) -> String {
    let key = format!("{container_id}\0{full_network_name}");
    format!("cve-{}", short_hash(&key, IFNAME_MAX - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_limit_and_are_stable() {
        let long = network_name(&"p".repeat(60), "backend");
        let b = bridge_name(&long);
        assert_eq!(b.len(), IFNAME_MAX);
        assert_eq!(b, bridge_name(&long));
        assert_ne!(b, bridge_name("p_default"));
        let v = veth_name("abc", &long);
        assert_eq!(v.len(), IFNAME_MAX);
        assert_ne!(v, veth_name("abd", &long));
        assert!(b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn network_names_follow_compose() {
        assert_eq!(network_name("shop", "default"), "shop_default");
    }
}

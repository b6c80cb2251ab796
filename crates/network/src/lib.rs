//! Bridge networks for projects: IPAM, netlink links and addresses, nftables rules, and the
//! `/etc/hosts` and `/etc/resolv.conf` a container gets. Knows nothing of processes.

pub mod names;

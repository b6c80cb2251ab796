//! The project's table as `nft -f` text: pure, so every rule is unit-tested.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Cidr;
use crate::ports::{HostPort, Proto};

/// One of the project's networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnet: Ipv4Cidr,
    pub internal: bool,
}

impl From<&crate::bridge::NetworkInfo> for FwNetwork {
    fn from(n: &crate::bridge::NetworkInfo) -> Self {
        Self {
            bridge: n.bridge.clone(),
            subnet: n.addressing.subnet,
            internal: n.internal,
        }
    }
}

/// One published port: the host side and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FwPort {
    pub host: HostPort,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Everything the project's table holds; the engine rebuilds it from its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallSpec {
    pub project: String,
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<FwPort>,
}

/// `compose_<project>`, with anything nft would not take as a name replaced by `_`.
pub fn table_name(project: &str) -> String {
    let safe: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("compose_{safe}")
}

/// The whole transaction: create-if-missing, delete, and re-create the table, so the old
/// rules are replaced in one step with no moment without them.
pub fn render(spec: &FirewallSpec) -> String {
    let t = table_name(&spec.project);
    let mut s = format!("table inet {t}\ndelete table inet {t}\ntable inet {t} {{\n");
    sets(&mut s, spec);
    forward(&mut s, spec);
    nat(&mut s, spec);
    s.push_str("}\n");
    s
}

/// The published host ports, per protocol, so other projects can see them as taken.
fn sets(s: &mut String, spec: &FirewallSpec) {
    for proto in [Proto::Tcp, Proto::Udp] {
        let elems: Vec<String> = spec
            .ports
            .iter()
            .filter(|p| p.host.proto == proto)
            .map(|p| {
                format!(
                    "{} . {}",
                    p.host.ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    p.host.port
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "  set {proto}_ports {{\n    type ipv4_addr . inet_service"
        );
        if !elems.is_empty() {
            let _ = writeln!(s, "    elements = {{ {} }}", elems.join(", "));
        }
        s.push_str("  }\n");
    }
}

fn forward(s: &mut String, spec: &FirewallSpec) {
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in &spec.networks {
        let b = &n.bridge;
        if n.internal {
            let _ = writeln!(s, "    iifname \"{b}\" oifname != \"{b}\" drop");
            let _ = writeln!(s, "    oifname \"{b}\" iifname != \"{b}\" drop");
        }
        let _ = writeln!(
            s,
            "    iifname \"{b}\" oifname \"cbr-*\" oifname != \"{b}\" ct status & dnat == 0 drop"
        );
        let _ = writeln!(
            s,
            "    oifname \"{b}\" iifname \"cbr-*\" iifname != \"{b}\" ct status & dnat == 0 drop"
        );
    }
    for n in &spec.networks {
        let b = &n.bridge;
        let _ = writeln!(s, "    iifname \"{b}\" accept");
        let _ = writeln!(s, "    oifname \"{b}\" ct state established,related accept");
        let _ = writeln!(s, "    oifname \"{b}\" ct status dnat accept");
    }
    s.push_str("  }\n");
}

fn nat(s: &mut String, spec: &FirewallSpec) {
    s.push_str("  chain published {\n");
    for p in &spec.ports {
        let daddr = p
            .host
            .ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    {daddr}{} dport {} dnat ip to {}:{}",
            p.host.proto, p.host.port, p.container_ip, p.container_port
        );
    }
    s.push_str("  }\n");
    for (chain, hook, prio) in [
        ("prerouting", "prerouting", "dstnat"),
        ("output", "output", "-100"),
    ] {
        let _ = writeln!(
            s,
            "  chain {chain} {{\n    type nat hook {hook} priority {prio}; policy accept;\n    \
             fib daddr type local jump published\n  }}"
        );
    }
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in &spec.networks {
        let b = &n.bridge;
        // 127.0.0.1:PORT DNATed out of the host: the container cannot answer a loopback source.
        let _ = writeln!(s, "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade");
        // Hairpin: the reply must come back through the host, not straight over the bridge.
        // No `iifname` here: bridged packets (br_netfilter) reach this hook without one.
        let net = n.subnet;
        let _ = writeln!(
            s,
            "    oifname \"{b}\" ip saddr {net} ct status dnat masquerade"
        );
        if !n.internal {
            let _ = writeln!(s, "    oifname != \"{b}\" ip saddr {net} masquerade");
        }
    }
    s.push_str("  }\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FirewallSpec {
        FirewallSpec {
            project: "shop".into(),
            networks: vec![
                FwNetwork {
                    bridge: "cbr-aaa".into(),
                    subnet: "172.20.0.0/16".parse().unwrap(),
                    internal: false,
                },
                FwNetwork {
                    bridge: "cbr-bbb".into(),
                    subnet: "172.21.0.0/16".parse().unwrap(),
                    internal: true,
                },
            ],
            ports: vec![
                FwPort {
                    host: HostPort {
                        ip: Some(Ipv4Addr::LOCALHOST),
                        port: 8080,
                        proto: Proto::Tcp,
                    },
                    container_ip: "172.20.0.2".parse().unwrap(),
                    container_port: 80,
                },
                FwPort {
                    host: HostPort {
                        ip: None,
                        port: 5353,
                        proto: Proto::Udp,
                    },
                    container_ip: "172.20.0.3".parse().unwrap(),
                    container_port: 53,
                },
            ],
        }
    }

    #[test]
    fn table_is_replaced_atomically() {
        let text = render(&spec());
        assert!(text.starts_with(
            "table inet compose_shop\ndelete table inet compose_shop\ntable inet compose_shop {\n"
        ));
        assert_eq!(table_name("a.b c"), "compose_a_b_c");
    }

    #[test]
    fn published_ports_dnat_and_are_listed() {
        let text = render(&spec());
        assert!(text.contains("ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 172.20.0.2:80"));
        assert!(text.contains("    udp dport 5353 dnat ip to 172.20.0.3:53"));
        assert!(text.contains("elements = { 127.0.0.1 . 8080 }"));
        assert!(text.contains("elements = { 0.0.0.0 . 5353 }"));
        assert!(text.contains("type nat hook output priority -100"));
        assert_eq!(
            text.matches("fib daddr type local jump published").count(),
            2
        );
    }

    #[test]
    fn internal_networks_get_no_egress() {
        let text = render(&spec());
        assert!(text.contains("iifname \"cbr-bbb\" oifname != \"cbr-bbb\" drop"));
        assert!(text.contains("oifname \"cbr-bbb\" iifname != \"cbr-bbb\" drop"));
        assert!(!text.contains("iifname \"cbr-aaa\" oifname != \"cbr-aaa\" drop"));
        assert!(text.contains("oifname != \"cbr-aaa\" ip saddr 172.20.0.0/16 masquerade"));
        assert!(!text.contains("ip saddr 172.21.0.0/16 masquerade"));
    }

    #[test]
    fn bridges_are_isolated_and_forwarded() {
        let text = render(&spec());
        assert!(text.contains(
            "iifname \"cbr-aaa\" oifname \"cbr-*\" oifname != \"cbr-aaa\" ct status & dnat == 0 drop"
        ));
        assert!(text.contains("iifname \"cbr-aaa\" accept"));
        assert!(text.contains("oifname \"cbr-aaa\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(
            text.contains("oifname \"cbr-aaa\" ip saddr 172.20.0.0/16 ct status dnat masquerade")
        );
        // Drops come before accepts: the first match decides within a chain.
        let drop = text
            .find("oifname != \"cbr-aaa\" ct status & dnat == 0 drop")
            .unwrap();
        let accept = text.find("iifname \"cbr-aaa\" accept").unwrap();
        assert!(drop < accept);
    }
}

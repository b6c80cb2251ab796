//! The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` a container gets: pure text
//! from what the engine knows (the runtime bind-mounts the files).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    #[error("extra_hosts entry '{0}': expected host=address")]
    Entry(String),
    #[error("extra_hosts entry '{0}': '{1}' is not an IP address")]
    Address(String, String),
    #[error("extra_hosts entry '{0}': host-gateway needs the container to be on a network")]
    NoGateway(String),
    #[error("dns server '{0}' is not an IP address")]
    Dns(String),
}

/// What goes into a container's `/etc/hosts`.
#[derive(Debug, Clone, Default)]
pub struct HostsSpec<'a> {
    pub hostname: &'a str,
    /// Other names of the container itself (its container name), written beside hostname.
    pub names: &'a [String],
    /// The container's own address (on its first network), if it has one.
    pub address: Option<Ipv4Addr>,
    /// `extra_hosts` as `host=address` entries (the model's `HostsList::entries()`).
    pub extra_hosts: &'a [String],
    /// What `host-gateway` stands for: the gateway of the container's first network.
    pub host_gateway: Option<Ipv4Addr>,
}

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// `/etc/hosts`: the localhost lines, `extra_hosts`, then the container's own address with
/// its hostname and names.
pub fn hosts_file(spec: &HostsSpec<'_>) -> Result<String, FilesError> {
    let mut s = String::from(LOCALHOST);
    for entry in spec.extra_hosts {
        let (host, addr) = entry
            .split_once('=')
            .ok_or_else(|| FilesError::Entry(entry.clone()))?;
        let ip = extra_host_address(entry, addr, spec.host_gateway)?;
        let _ = writeln!(s, "{ip}\t{host}");
    }
    if let Some(ip) = spec.address {
        let mut names = vec![spec.hostname];
        for n in spec.names {
            if !names.contains(&n.as_str()) && !n.is_empty() {
                names.push(n);
            }
        }
        let _ = writeln!(s, "{ip}\t{}", names.join(" "));
    }
    Ok(s)
}

fn extra_host_address(
    entry: &str,
    addr: &str,
    gateway: Option<Ipv4Addr>,
) -> Result<IpAddr, FilesError> {
    if addr == "host-gateway" {
        return gateway
            .map(IpAddr::V4)
            .ok_or_else(|| FilesError::NoGateway(entry.to_string()));
    }
    addr.parse()
        .map_err(|_| FilesError::Address(entry.to_string(), addr.to_string()))
}

/// `/etc/hosts` for `network_mode: host`: the host's own file, then `extra_hosts`
/// (`host-gateway` is `host_gateway`, e.g. 127.0.0.1 there).
pub fn host_mode_hosts(
    host_hosts: &str,
    extra_hosts: &[String],
    host_gateway: Option<Ipv4Addr>,
) -> Result<String, FilesError> {
    let mut s = host_hosts.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    for entry in extra_hosts {
        let (host, addr) = entry
            .split_once('=')
            .ok_or_else(|| FilesError::Entry(entry.clone()))?;
        let ip = extra_host_address(entry, addr, host_gateway)?;
        let _ = writeln!(s, "{ip}\t{host}");
    }
    Ok(s)
}

/// `/etc/hostname`.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// What goes into a container's `/etc/resolv.conf`.
#[derive(Debug, Clone, Default)]
pub struct ResolvSpec<'a> {
    /// `dns:`: when given, these are the servers.
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_opt: &'a [String],
    /// The embedded DNS server: the gateway of the container's first network.
    pub gateway: Option<Ipv4Addr>,
    /// The host's `/etc/resolv.conf`: servers for a container without a network, and the
    /// search domains and options when the service sets none.
    pub host_resolv: &'a str,
}

/// `/etc/resolv.conf`: `nameserver` lines (the `dns:` servers, else the embedded DNS on the
/// gateway, else the host's), then `search` and `options`.
pub fn resolv_conf(spec: &ResolvSpec<'_>) -> Result<String, FilesError> {
    let host = |key: &str| -> Vec<String> {
        spec.host_resolv
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter(|rest| rest.starts_with([' ', '\t']))
            .flat_map(|rest| rest.split_whitespace().map(str::to_string))
            .collect()
    };
    let servers: Vec<String> = if !spec.dns.is_empty() {
        for d in spec.dns {
            d.parse::<IpAddr>()
                .map_err(|_| FilesError::Dns(d.clone()))?;
        }
        spec.dns.to_vec()
    } else if let Some(gw) = spec.gateway {
        vec![gw.to_string()]
    } else {
        host("nameserver")
    };
    let search = if spec.dns_search.is_empty() {
        host("search")
    } else {
        spec.dns_search.to_vec()
    };
    let options = if spec.dns_opt.is_empty() {
        host("options")
    } else {
        spec.dns_opt.to_vec()
    };
    let mut s = String::new();
    for server in servers {
        let _ = writeln!(s, "nameserver {server}");
    }
    if !search.is_empty() {
        let _ = writeln!(s, "search {}", search.join(" "));
    }
    if !options.is_empty() {
        let _ = writeln!(s, "options {}", options.join(" "));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch corp.example\noptions ndots:2\n";

    #[test]
    fn hosts_has_localhost_extra_hosts_and_self() {
        let extra = vec![
            "db=10.1.2.3".to_string(),
            "gw=host-gateway".to_string(),
            "v6=::1".to_string(),
        ];
        let names = vec!["shop-web-1".to_string(), "web".to_string()];
        let text = hosts_file(&HostsSpec {
            hostname: "web",
            names: &names,
            address: Some("172.20.0.2".parse().unwrap()),
            extra_hosts: &extra,
            host_gateway: Some("172.20.0.1".parse().unwrap()),
        })
        .unwrap();
        assert!(
            text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        );
        assert!(text.contains("10.1.2.3\tdb\n"));
        assert!(text.contains("172.20.0.1\tgw\n"));
        assert!(text.contains("::1\tv6\n"));
        assert!(text.ends_with("172.20.0.2\tweb shop-web-1\n"));
    }

    #[test]
    fn hosts_errors_name_the_entry() {
        let bad = vec!["db=nope".to_string()];
        let err = hosts_file(&HostsSpec {
            hostname: "h",
            extra_hosts: &bad,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "extra_hosts entry 'db=nope': 'nope' is not an IP address"
        );
        let gw = vec!["g=host-gateway".to_string()];
        let err = hosts_file(&HostsSpec {
            hostname: "h",
            extra_hosts: &gw,
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, FilesError::NoGateway(_)));
        let text = hosts_file(&HostsSpec {
            hostname: "h",
            ..Default::default()
        })
        .unwrap();
        assert!(!text.contains("\th\n"), "no address, no self line");
    }

    #[test]
    fn resolv_points_at_the_gateway_and_keeps_host_search() {
        let text = resolv_conf(&ResolvSpec {
            gateway: Some("172.20.0.1".parse().unwrap()),
            host_resolv: HOST,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            text,
            "nameserver 172.20.0.1\nsearch corp.example\noptions ndots:2\n"
        );
    }

    #[test]
    fn resolv_dns_settings_win() {
        let dns = vec!["1.1.1.1".to_string(), "9.9.9.9".to_string()];
        let search = vec!["a.test".to_string(), "b.test".to_string()];
        let opt = vec!["use-vc".to_string()];
        let text = resolv_conf(&ResolvSpec {
            dns: &dns,
            dns_search: &search,
            dns_opt: &opt,
            gateway: Some("172.20.0.1".parse().unwrap()),
            host_resolv: HOST,
        })
        .unwrap();
        assert_eq!(
            text,
            "nameserver 1.1.1.1\nnameserver 9.9.9.9\nsearch a.test b.test\noptions use-vc\n"
        );
        let bad = vec!["dns.example".to_string()];
        assert!(
            resolv_conf(&ResolvSpec {
                dns: &bad,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn host_mode_keeps_the_host_file() {
        let extra = vec!["gw=host-gateway".to_string()];
        let text = host_mode_hosts(
            "127.0.0.1 localhost\n10.0.0.9 box",
            &extra,
            Some(Ipv4Addr::LOCALHOST),
        )
        .unwrap();
        assert_eq!(text, "127.0.0.1 localhost\n10.0.0.9 box\n127.0.0.1\tgw\n");
    }

    #[test]
    fn resolv_without_network_copies_host_servers() {
        let text = resolv_conf(&ResolvSpec {
            host_resolv: HOST,
            ..Default::default()
        })
        .unwrap();
        assert!(text.starts_with("nameserver 10.0.0.53\nnameserver 10.0.0.54\n"));
        assert_eq!(hostname_file("web"), "web\n");
    }
}

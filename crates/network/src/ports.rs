//! Published ports: from the Compose model's `ports:` to concrete host ports, checked free
//! before anything is set up. A host port is free when nothing on the host holds it (we
//! try to bind it) and no compose project publishes it already (`taken`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use compose::model::ports::ServicePort;

/// A transport protocol a port can be published for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One `ports:` entry as the engine asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// `None` (or 0.0.0.0): every host address.
    pub host_ip: Option<Ipv4Addr>,
    /// `None`: any free port. A range: the first free port in it.
    pub host_ports: Option<(u16, u16)>,
    pub container_port: u16,
    pub proto: Proto,
}

/// A host port held for a container port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct HostPort {
    /// `None`: every host address.
    pub ip: Option<Ipv4Addr>,
    pub port: u16,
    pub proto: Proto,
}

impl HostPort {
    /// Two host ports clash when protocol and port match and either covers every address
    /// or both name the same one.
    pub fn clashes(&self, other: &HostPort) -> bool {
        self.proto == other.proto
            && self.port == other.port
            && (self.ip.is_none() || other.ip.is_none() || self.ip == other.ip)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(f, "{ip}:{}/{}", self.port, self.proto)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("port '{0}': protocol {1} cannot be published (tcp and udp only)")]
    Protocol(String, String),
    #[error("port '{0}': host_ip {1} is not an IPv4 address (IPv6 publishing is not supported)")]
    HostIp(String, String),
    #[error("port '{0}': invalid container port or host port range")]
    Number(String),
    #[error("host_ip {0} is not an address of this host")]
    NotLocal(Ipv4Addr),
    #[error("host port {0} is already in use")]
    InUse(HostPort),
    #[error("host port {port} is already published by compose project table {table}")]
    Published { port: HostPort, table: String },
    #[error("no free host port in {first}-{last}/{proto} on {ip}")]
    RangeFull {
        ip: Ipv4Addr,
        first: u16,
        last: u16,
        proto: Proto,
    },
    #[error("could not pick a free {proto} port on {ip}: {source}")]
    Pick {
        ip: Ipv4Addr,
        proto: Proto,
        #[source]
        source: std::io::Error,
    },
}

impl PortRequest {
    /// Reads one parsed `ports:` entry. `published` absent means "any free host port".
    pub fn from_service_port(p: &ServicePort) -> Result<Self, PortError> {
        let label = || format!("{}:{}", p.published.as_deref().unwrap_or(""), p.target);
        let proto = match p.protocol.as_str() {
            "" | "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => return Err(PortError::Protocol(label(), other.to_string())),
        };
        let host_ip = match p.host_ip.as_str() {
            "" => None,
            ip => match ip.parse::<Ipv4Addr>() {
                Ok(ip) if ip.is_unspecified() => None,
                Ok(ip) => Some(ip),
                Err(_) => return Err(PortError::HostIp(label(), ip.to_string())),
            },
        };
        let container_port = u16::try_from(p.target)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| PortError::Number(label()))?;
        let host_ports = match &p.published {
            None => None,
            Some(_) => Some(
                p.published_range()
                    .ok_or_else(|| PortError::Number(label()))?,
            ),
        };
        Ok(Self {
            host_ip,
            host_ports: host_ports.filter(|r| *r != (0, 0)),
            container_port,
            proto,
        })
    }
}

/// Picks and checks the host port of every request, in order. `taken` are the ports other
/// compose projects publish (see [`crate::firewall::published_on_host`]); ports picked for
/// earlier requests count as taken for later ones. Nothing is held after the check: the
/// caller sets up the DNAT rules right after.
pub fn reserve(
    reqs: &[PortRequest],
    taken: &[(HostPort, String)],
) -> Result<Vec<HostPort>, PortError> {
    let mut picked: Vec<HostPort> = Vec::with_capacity(reqs.len());
    for req in reqs {
        let port = reserve_one(req, taken, &picked)?;
        picked.push(port);
    }
    Ok(picked)
}

fn reserve_one(
    req: &PortRequest,
    taken: &[(HostPort, String)],
    picked: &[HostPort],
) -> Result<HostPort, PortError> {
    let ip = req.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let Some((first, last)) = req.host_ports else {
        return pick_any(req, taken, picked);
    };
    let single = first == last;
    for port in first..=last {
        let hp = HostPort {
            ip: req.host_ip,
            port,
            proto: req.proto,
        };
        match check_free(&hp, taken, picked) {
            Ok(()) => return Ok(hp),
            Err(e) if single => return Err(e),
            Err(_) => {}
        }
    }
    Err(PortError::RangeFull {
        ip,
        first,
        last,
        proto: req.proto,
    })
}

/// A port the kernel picks as free (bind to port 0), retried while it is one we or
/// another project already publish.
fn pick_any(
    req: &PortRequest,
    taken: &[(HostPort, String)],
    picked: &[HostPort],
) -> Result<HostPort, PortError> {
    let ip = req.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let pick_err = |source| PortError::Pick {
        ip,
        proto: req.proto,
        source,
    };
    for _ in 0..64 {
        let port = bind(ip, 0, req.proto).map_err(pick_err)?;
        let hp = HostPort {
            ip: req.host_ip,
            port,
            proto: req.proto,
        };
        if check_free(&hp, taken, picked).is_ok() {
            return Ok(hp);
        }
    }
    Err(pick_err(std::io::Error::from_raw_os_error(
        libc::EADDRINUSE,
    )))
}

fn check_free(
    hp: &HostPort,
    taken: &[(HostPort, String)],
    picked: &[HostPort],
) -> Result<(), PortError> {
    if let Some((_, table)) = taken.iter().find(|(t, _)| t.clashes(hp)) {
        return Err(PortError::Published {
            port: *hp,
            table: table.clone(),
        });
    }
    if picked.iter().any(|p| p.clashes(hp)) {
        return Err(PortError::InUse(*hp));
    }
    let ip = hp.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    match bind(ip, hp.port, hp.proto) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err(PortError::NotLocal(ip)),
        Err(_) => Err(PortError::InUse(*hp)),
    }
}

/// Binds (and at once releases) `ip:port`; returns the bound port.
fn bind(ip: Ipv4Addr, port: u16, proto: Proto) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        Proto::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Proto::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose::model::ports::parse_port_spec;

    fn req(spec: &str) -> Vec<PortRequest> {
        parse_port_spec(spec)
            .unwrap()
            .iter()
            .map(|p| PortRequest::from_service_port(p).unwrap())
            .collect()
    }

    #[test]
    fn reads_the_compose_forms() {
        let r = req("127.0.0.1:8080:80/udp");
        assert_eq!(
            r,
            vec![PortRequest {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_ports: Some((8080, 8080)),
                container_port: 80,
                proto: Proto::Udp,
            }]
        );
        let r = req("80");
        assert_eq!((r[0].host_ports, r[0].host_ip), (None, None));
        let r = req("9000-9001:80-81");
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[1].host_ports, r[1].container_port),
            (Some((9001, 9001)), 81)
        );
        let r = req("9000-9010:80");
        assert_eq!(r[0].host_ports, Some((9000, 9010)));
        let sctp = &parse_port_spec("80/sctp").unwrap()[0];
        assert!(PortRequest::from_service_port(sctp).is_err());
        let v6 = &parse_port_spec("[::1]:80:80").unwrap()[0];
        assert!(PortRequest::from_service_port(v6).is_err());
    }

    #[test]
    fn port_in_use_on_the_host_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let r = req(&format!("127.0.0.1:{port}:80"));
        assert!(matches!(reserve(&r, &[]), Err(PortError::InUse(_))));
        // The same number for UDP is free.
        let r = req(&format!("127.0.0.1:{port}:80/udp"));
        assert_eq!(reserve(&r, &[]).unwrap()[0].port, port);
    }

    #[test]
    fn host_ip_must_be_local() {
        let r = req("198.51.100.77:18080:80");
        match reserve(&r, &[]) {
            Err(PortError::NotLocal(ip)) => assert_eq!(ip.to_string(), "198.51.100.77"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_and_range_ports_avoid_taken_ones() {
        let r = req("127.0.0.1::80");
        let got = reserve(&r, &[]).unwrap();
        assert_ne!(got[0].port, 0);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = l.local_addr().unwrap().port();
        let Some(next) = busy.checked_add(1) else {
            return;
        };
        let r = req(&format!("127.0.0.1:{busy}-{next}:80"));
        match reserve(&r, &[]) {
            Ok(got) => assert_eq!(got[0].port, next),
            Err(PortError::RangeFull { .. }) => {} // the next one happened to be busy too
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn published_by_another_project_is_refused() {
        let hp = HostPort {
            ip: None,
            port: 18080,
            proto: Proto::Tcp,
        };
        let taken = [(hp, "compose_other".to_string())];
        let r = req("127.0.0.1:18080:80");
        let err = reserve(&r, &taken).unwrap_err();
        assert!(err.to_string().contains("compose_other"), "{err}");
        // Two requests for one port in one call clash with each other.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let free = l.local_addr().unwrap().port();
        drop(l);
        let mut two = req(&format!("127.0.0.1:{free}:80"));
        two.extend(req(&format!("{free}:81")));
        assert!(matches!(reserve(&two, &[]), Err(PortError::InUse(_))));
    }
}

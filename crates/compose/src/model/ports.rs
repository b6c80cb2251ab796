//! `ports:` — short syntax (`[IP:][HOST:]CONTAINER[/PROTO]`, with ranges) and long syntax,
//! both turned into one [`ServicePort`] per container port.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::common::{de_entries, de_opt_text};

/// One published (or merely declared) container port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicePort {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `ingress` (default) or `host`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub target: u32,
    /// The host port or range (`"8080"`, `"8000-8010"`); `None` lets the engine choose.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub published: Option<String>,
    /// `tcp` (default), `udp` or `sctp`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_protocol: String,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

impl ServicePort {
    /// The published host port range (`"8080"` → `(8080, 8080)`), if any.
    pub fn published_range(&self) -> Option<(u16, u16)> {
        let (a, b) = parse_range(self.published.as_deref()?)?;
        Some((u16::try_from(a).ok()?, u16::try_from(b).ok()?))
    }

    /// Fills in what Compose defaults: protocol `tcp`, mode `ingress`.
    fn with_defaults(mut self) -> Self {
        if self.protocol.is_empty() {
            self.protocol = "tcp".into();
        }
        if self.mode.is_empty() {
            self.mode = "ingress".into();
        }
        if self.published.as_deref() == Some("") {
            self.published = None;
        }
        self
    }
}

/// `start[-end]`, each a port number (0–65535).
fn parse_range(s: &str) -> Option<(u32, u32)> {
    let num = |p: &str| -> Option<u32> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u16>().ok().map(u32::from)
    };
    match s.split_once('-') {
        None => num(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (b >= a).then_some((a, b))
        }
    }
}

fn valid_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>().is_ok()
}

/// Parses one short-syntax port spec into one entry per container port.
pub fn parse_port_spec(spec: &str) -> Result<Vec<ServicePort>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (mut ip, host) = match n {
        1 => (String::new(), ""),
        2 => (String::new(), parts[0]),
        3 => (parts[0].to_string(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    let (proto, container) = match container.split_once('/') {
        _ if container.is_empty() || container.starts_with('/') => ("", ""),
        None => ("tcp", container),
        Some((port, "")) => ("tcp", port),
        Some((port, proto)) => (proto.split('/').next().unwrap_or(proto), port),
    };
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(i) => ip = i.to_string(),
            None => return Err(format!("invalid IP address {ip}")),
        }
    }
    if !ip.is_empty() && !valid_ip(&ip) {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (start, end) =
        parse_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?
    };
    if !host.is_empty() && end - start != hend - hstart && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        ));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let count = end - start + 1;
    let mut ports: Vec<(String, ServicePort)> = (0..count)
        .map(|i| {
            let published = (!host.is_empty()).then(|| {
                let mut p = (hstart + i).to_string();
                if count == 1 && hstart != hend {
                    p = format!("{p}-{hend}");
                }
                p
            });
            let port = ServicePort {
                mode: "ingress".into(),
                host_ip: ip.clone(),
                target: start + i,
                published,
                protocol: proto.clone(),
                ..ServicePort::default()
            };
            (format!("{}/{proto}", start + i), port)
        })
        .collect();
    // Compose orders the ports of one spec by their "port/proto" text.
    ports.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ports.into_iter().map(|(_, p)| p).collect())
}

/// One entry of `ports:` as written: a short spec (one or more ports) or the long form.
struct PortEntry(Vec<ServicePort>);

impl<'de> Deserialize<'de> for PortEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port spec like \"8080:80\" or a mapping with target")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortEntry, E> {
                parse_port_spec(v).map(PortEntry).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PortEntry, A::Error> {
                let p = super::common::from_map::<ServicePort, _>(map)?;
                if p.target > 65535 {
                    return Err(de::Error::custom(format!(
                        "invalid containerPort: {}",
                        p.target
                    )));
                }
                if let Some(published) = p.published.as_deref().filter(|s| !s.is_empty())
                    && parse_range(published).is_none()
                {
                    return Err(de::Error::custom(format!("invalid hostPort: {published}")));
                }
                Ok(PortEntry(vec![p.with_defaults()]))
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for `ports:`.
pub(crate) fn de_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServicePort>, D::Error> {
    de_entries(d, "a list of ports", |PortEntry(ports), out| {
        out.extend(ports)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_ports")]
        ports: Vec<ServicePort>,
    }

    fn ports(y: &str) -> serde_json::Value {
        let t: T = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(t.ports).unwrap()
    }

    fn err(y: &str) -> String {
        serde_yaml_ng::from_str::<T>(y).err().unwrap().to_string()
    }

    #[test]
    fn short_syntax() {
        assert_eq!(
            ports("ports: ['8080:80', 80, '80/udp']"),
            json!([
                {"mode":"ingress","target":80,"published":"8080","protocol":"tcp"},
                {"mode":"ingress","target":80,"protocol":"tcp"},
                {"mode":"ingress","target":80,"protocol":"udp"}
            ])
        );
        assert_eq!(
            ports("ports: ['127.0.0.1:9000-9001:9000-9001/udp']"),
            json!([
                {"mode":"ingress","host_ip":"127.0.0.1","target":9000,"published":"9000","protocol":"udp"},
                {"mode":"ingress","host_ip":"127.0.0.1","target":9001,"published":"9001","protocol":"udp"}
            ])
        );
        assert_eq!(
            ports("ports: ['8000-8010:80', '[::1]:80:80', '1.2.3.4::80', ':81', '9000-9001']"),
            json!([
                {"mode":"ingress","target":80,"published":"8000-8010","protocol":"tcp"},
                {"mode":"ingress","host_ip":"::1","target":80,"published":"80","protocol":"tcp"},
                {"mode":"ingress","host_ip":"1.2.3.4","target":80,"protocol":"tcp"},
                {"mode":"ingress","target":81,"protocol":"tcp"},
                {"mode":"ingress","target":9000,"protocol":"tcp"},
                {"mode":"ingress","target":9001,"protocol":"tcp"}
            ])
        );
        // Like v2: the ports of one spec come in the text order of "port/proto".
        let targets: Vec<u64> = ports("ports: ['9-10:9-10', '98-101']")
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["target"].as_u64().unwrap())
            .collect();
        assert_eq!(targets, vec![10, 9, 100, 101, 98, 99]);
        let t: T = serde_yaml_ng::from_str("ports: ['8000-8010:80', 80]").unwrap();
        assert_eq!(t.ports[0].published_range(), Some((8000, 8010)));
        assert_eq!(t.ports[1].published_range(), None);
        assert_eq!(
            ports("ports: ['1.2.3.4:8080:80/SCTP']")[0]["protocol"],
            json!("sctp")
        );
    }

    #[test]
    fn long_syntax() {
        assert_eq!(
            ports(
                "ports: [{target: 80, published: 8080, host_ip: 0.0.0.0, app_protocol: http, name: web}, {target: 443, published: '8443', mode: host}]"
            ),
            json!([
                {"name":"web","mode":"ingress","host_ip":"0.0.0.0","target":80,"published":"8080","protocol":"tcp","app_protocol":"http"},
                {"mode":"host","target":443,"published":"8443","protocol":"tcp"}
            ])
        );
    }

    #[test]
    fn errors() {
        assert!(err("ports: ['70000:80']").contains("invalid hostPort: 70000"));
        assert!(err("ports: ['80:80/xyz']").contains("invalid proto: xyz"));
        assert!(
            err("ports: ['80-82:90-91']")
                .contains("invalid ranges specified for container and host Ports: 90-91 and 80-82")
        );
        assert!(err("ports: ['0x50']").contains("invalid containerPort: 0x50"));
        assert!(err("ports: ['a.b:80:80']").contains("invalid IP address: a.b"));
        assert!(err("ports: [70000]").contains("invalid containerPort: 70000"));
        assert!(err("ports: [{target: 80, pubished: 1}]").contains(
            "additional property \"pubished\" is not allowed (did you mean \"published\"?)"
        ));
        assert_eq!(
            ports("ports: [{target: 80, x-note: hi}]")[0]["target"],
            json!(80)
        );
    }
}

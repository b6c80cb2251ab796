//! Which host ports the compose projects on this host already publish: read from the
//! `tcp_ports` / `udp_ports` sets of every `inet compose_*` table.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::FirewallError;
use super::apply::nft;
use super::render::table_name;
use crate::ports::{HostPort, Proto};

/// Every published host port with the table that publishes it, except `except_project`'s.
pub fn published_on_host(
    except_project: Option<&str>,
) -> Result<Vec<(HostPort, String)>, FirewallError> {
    let out = nft(&["-j", "list", "ruleset", "inet"], None, "list ruleset")?;
    parse(&out, except_project)
}

/// The published ports in `nft -j list ruleset` output.
fn parse(
    out: &str,
    except_project: Option<&str>,
) -> Result<Vec<(HostPort, String)>, FirewallError> {
    let json: Value = serde_json::from_str(out).map_err(|e| FirewallError::Json(e.to_string()))?;
    let skip = except_project.map(table_name);
    let items = json
        .get("nftables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| item.get("set"))
        .filter_map(|set| {
            let table = set.get("table")?.as_str()?;
            let ours = table.starts_with("compose_") && Some(table) != skip.as_deref();
            let proto = match set.get("name")?.as_str()? {
                "tcp_ports" => Proto::Tcp,
                "udp_ports" => Proto::Udp,
                _ => return None,
            };
            ours.then(|| (table.to_string(), proto, set.get("elem")))
        })
        .flat_map(|(table, proto, elems)| {
            let elems = elems.and_then(Value::as_array).cloned().unwrap_or_default();
            elems
                .iter()
                .filter_map(|e| element(e, proto))
                .map(|hp| (hp, table.clone()))
                .collect::<Vec<_>>()
        })
        .collect())
}

/// `{"concat": ["127.0.0.1", 8080]}` → the host port.
fn element(elem: &Value, proto: Proto) -> Option<HostPort> {
    let parts = elem.get("concat")?.as_array()?;
    let ip: Ipv4Addr = parts.first()?.as_str()?.parse().ok()?;
    let port = u16::try_from(parts.get(1)?.as_u64()?).ok()?;
    Some(HostPort {
        ip: (!ip.is_unspecified()).then_some(ip),
        port,
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sets_of_compose_tables_only() {
        let out = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
          {"set": {"family": "inet", "name": "tcp_ports", "table": "compose_a",
                   "type": ["ipv4_addr", "inet_service"],
                   "elem": [{"concat": ["0.0.0.0", 8080]}, {"concat": ["127.0.0.1", 9090]}]}},
          {"set": {"family": "inet", "name": "udp_ports", "table": "compose_a",
                   "type": ["ipv4_addr", "inet_service"], "elem": [{"concat": ["0.0.0.0", 53]}]}},
          {"set": {"family": "inet", "name": "tcp_ports", "table": "compose_b",
                   "type": ["ipv4_addr", "inet_service"], "elem": [{"concat": ["0.0.0.0", 1]}]}},
          {"set": {"family": "inet", "name": "tcp_ports", "table": "other",
                   "type": ["ipv4_addr", "inet_service"], "elem": [{"concat": ["0.0.0.0", 2]}]}}]}"#;
        let got = parse(out, Some("b")).unwrap();
        let a = "compose_a".to_string();
        assert_eq!(
            got,
            vec![
                (
                    HostPort {
                        ip: None,
                        port: 8080,
                        proto: Proto::Tcp
                    },
                    a.clone()
                ),
                (
                    HostPort {
                        ip: Some(Ipv4Addr::LOCALHOST),
                        port: 9090,
                        proto: Proto::Tcp
                    },
                    a.clone()
                ),
                (
                    HostPort {
                        ip: None,
                        port: 53,
                        proto: Proto::Udp
                    },
                    a
                ),
            ]
        );
        assert!(parse("not json", None).is_err());
    }
}

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
    let json: Value = serde_json::from_str(&out).map_err(|e| FirewallError::Json(e.to_string()))?;
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

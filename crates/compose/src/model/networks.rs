//! Networks: a service's attachments (`networks:` as a list or a map) and the top-level
//! network definitions.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::common::{External, Map, Mapping, de_labels, de_options, is_false};

/// How a service joins one network. `None` in [`ServiceNetworks`] means "joined, no options".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceNetwork {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::common::de_text_list"
    )]
    pub aliases: Vec<String>,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_options"
    )]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub gw_priority: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// A service's networks: name → options.
pub type ServiceNetworks = Map<Option<ServiceNetwork>>;

/// `deserialize_with` for a service's `networks:` — `[a, b]` or `{a: null, b: {...}}`.
pub(crate) fn de_service_networks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<ServiceNetworks, D::Error> {
    super::common::de_names_or_map(d, "a list of network names or a mapping")
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// The engine-side name; `<project>_<key>` by default, the key itself when external.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_options"
    )]
    pub driver_opts: Mapping,
    /// Always printed (`{}` when empty), like Docker Compose.
    pub ipam: Ipam,
    #[serde(skip_serializing_if = "External::is_false")]
    pub external: External,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
}

/// A network's IP address management.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ipam {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// Kept but not printed: Docker Compose v2 drops it.
    #[serde(skip_serializing, deserialize_with = "de_options")]
    pub options: Mapping,
}

/// One IPAM pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamPool {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub aux_addresses: Mapping,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_service_networks")]
        networks: ServiceNetworks,
    }

    #[test]
    fn service_networks() {
        let t: T = serde_yaml_ng::from_str("networks: [a, b]").unwrap();
        assert_eq!(
            serde_json::to_value(t.networks).unwrap(),
            json!({"a":null,"b":null})
        );
        let t: T = serde_yaml_ng::from_str(
            "networks: {back: {aliases: [d], ipv4_address: 10.0.0.2, priority: 5}, default: }",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(t.networks).unwrap(),
            json!({"back":{"aliases":["d"],"ipv4_address":"10.0.0.2","priority":5},"default":null})
        );
    }

    #[test]
    fn top_level() {
        let n: Network = serde_yaml_ng::from_str(
            "{driver: bridge, ipam: {config: [{subnet: 10.0.0.0/24}]}, external: {name: x}, labels: [a=b]}",
        )
        .unwrap();
        assert_eq!(n.external.legacy_name.as_deref(), Some("x"));
        assert_eq!(
            serde_json::to_value(n).unwrap(),
            json!({"driver":"bridge","ipam":{"config":[{"subnet":"10.0.0.0/24"}]},"external":true,"labels":{"a":"b"}})
        );
    }
}

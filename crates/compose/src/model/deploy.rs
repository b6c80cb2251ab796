//! `deploy:` — replicas, resources (limits and reservations, device requests), restart
//! policy, update/rollback config and placement. Also `gpus:`, which shares device requests.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::common::{
    Mapping, de_labels, de_string_or_list, de_text_list, is_zero_i64, is_zero_u64,
};
use super::units::{ByteSize, Cpus, Duration};

/// A service's `deploy:` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deploy {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Always printed (as `{}` when empty), like Docker Compose.
    pub resources: Resources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Always printed (as `{}` when empty), like Docker Compose.
    pub placement: Placement,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint_mode: String,
}

/// `update_config` / `rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub delay: Duration,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub failure_action: String,
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub monitor: Duration,
    #[serde(skip_serializing_if = "Cpus::is_zero")]
    pub max_failure_ratio: Cpus,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub order: String,
}

/// Resource limits and reservations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
}

/// One side of `resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resource {
    #[serde(skip_serializing_if = "Cpus::is_zero")]
    pub cpus: Cpus,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub memory: ByteSize,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub pids: i64,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_device_requests"
    )]
    pub devices: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
}

/// A request for devices (GPUs), from `deploy.resources.reservations.devices` or `gpus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRequest {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_text_list"
    )]
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// How many devices; `-1` means all (`count: all`). Defaults to all when neither
    /// `count` nor `device_ids` is given.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "de_count")]
    pub count: Option<i64>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_text_list"
    )]
    pub device_ids: Vec<String>,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub options: Mapping,
}

impl DeviceRequest {
    fn with_defaults(mut self) -> Self {
        if self.count.is_none() && self.device_ids.is_empty() {
            self.count = Some(-1);
        }
        if self.count == Some(0) {
            self.count = None;
        }
        self
    }
}

fn de_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number or 'all'")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<i64>, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<i64>, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("device count is too large"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<i64>, E> {
            if v.eq_ignore_ascii_case("all") {
                return Ok(Some(-1));
            }
            v.parse().map(Some).map_err(|_| {
                E::custom(format!(
                    "invalid value {v:?}, the only value allowed is 'all' or a number"
                ))
            })
        }
    }
    d.deserialize_any(V)
}

/// `deserialize_with` for a list of device requests (defaults applied).
pub(crate) fn de_device_requests<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<DeviceRequest>, D::Error> {
    let list: Option<Vec<DeviceRequest>> = Option::deserialize(d)?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(DeviceRequest::with_defaults)
        .collect())
}

/// `deserialize_with` for `gpus:` — `all` or a list of device requests.
pub(crate) fn de_gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<DeviceRequest>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("'all' or a list of device requests")
        }
        fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
            Ok(vec![DeviceRequest {
                count: Some(-1),
                ..DeviceRequest::default()
            }])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(r) = seq.next_element::<DeviceRequest>()? {
                out.push(r.with_defaults());
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// A swarm generic resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenericResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResource>,
}

/// `kind` and `value` of a generic resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiscreteResource {
    pub kind: String,
    pub value: i64,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub constraints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_replicas_per_node: u64,
}

/// One placement preference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlacementPreference {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub spread: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(y: &str) -> serde_json::Value {
        let d: Deploy = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(d).unwrap()
    }

    #[test]
    fn deploy_forms() {
        assert_eq!(
            dep("{resources: {limits: {cpus: '0.5', memory: 512m}}}"),
            json!({"resources":{"limits":{"cpus":0.5,"memory":"536870912"}},"placement":{}})
        );
        assert_eq!(
            dep(
                "{mode: replicated, replicas: 1, labels: [a=b], restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}, resources: {reservations: {cpus: 0.25, memory: 1g, devices: [{capabilities: [gpu], count: all}, {capabilities: [gpu]}, {device_ids: ['0']}]}}}"
            ),
            json!({
                "mode":"replicated","replicas":1,"labels":{"a":"b"},
                "resources":{"reservations":{"cpus":0.25,"memory":"1073741824","devices":[
                    {"capabilities":["gpu"],"count":-1},
                    {"capabilities":["gpu"],"count":-1},
                    {"device_ids":["0"]}
                ]}},
                "restart_policy":{"condition":"on-failure","delay":"5s","max_attempts":3,"window":"2m0s"},
                "placement":{}
            })
        );
        assert_eq!(dep("{}"), json!({"resources":{},"placement":{}}));
    }
}

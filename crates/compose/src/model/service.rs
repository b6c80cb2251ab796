//! A service definition, with every attribute of the Compose Specification, in the order
//! Docker Compose prints them; and the small types only services use (`depends_on`,
//! secret/config references, ulimits, devices, logging, blkio, `env_file`, `extends`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::build::{Build, de_build};
use super::common::{
    HostsList, Map, Mapping, MappingWithEquals, ShellCommand, de_labels, de_mapping_with_equals,
    de_opt_text, de_options, de_shell_command, de_string_or_list, de_text, de_text_list, is_false,
    is_zero_i64,
};
use super::deploy::{Deploy, DeviceRequest, de_gpus};
use super::develop::{Develop, ServiceHook};
use super::healthcheck::Healthcheck;
use super::networks::{ServiceNetworks, de_service_networks};
use super::ports::{ServicePort, de_ports};
use super::units::{ByteSize, Cpus, Duration, FileMode};
use super::volumes::{ServiceVolume, de_service_volumes};

fn none_or_zero(v: &Option<ByteSize>) -> bool {
    v.is_none_or(|b| b.is_zero())
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_text_list"
    )]
    pub profiles: Vec<String>,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub annotations: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "de_build")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<Blkio>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroup: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_count: i64,
    #[serde(skip_serializing_if = "Cpus::is_zero")]
    pub cpu_percent: Cpus,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_period: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_quota: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_period: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_runtime: i64,
    #[serde(skip_serializing_if = "Cpus::is_zero")]
    pub cpus: Cpus,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub cpuset: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_shares: i64,
    /// Always printed (`null` when unset); `Some(vec![])` clears the image's command.
    #[serde(deserialize_with = "de_shell_command")]
    pub command: ShellCommand,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_file_refs"
    )]
    pub configs: Vec<FileRef>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    #[serde(
        skip_serializing_if = "Map::is_empty",
        deserialize_with = "de_depends_on"
    )]
    pub depends_on: Map<Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_devices")]
    pub devices: Vec<DeviceMapping>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domainname: String,
    /// Always printed (`null` when unset); `Some(vec![])` clears the image's entrypoint.
    #[serde(deserialize_with = "de_shell_command")]
    pub entrypoint: ShellCommand,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// `None` values are variables without a value (`- B`) that the environment lacks.
    #[serde(
        skip_serializing_if = "MappingWithEquals::is_empty",
        deserialize_with = "de_mapping_with_equals"
    )]
    pub environment: MappingWithEquals,
    /// Merged into `environment` (and emptied) by normalization.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_env_files"
    )]
    pub env_file: Vec<EnvFile>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub expose: Vec<String>,
    /// Resolved (and removed) by the loader.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_extends"
    )]
    pub extends: Option<Extends>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_text_list"
    )]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_gpus")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub label_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "none_or_zero")]
    pub mem_limit: Option<ByteSize>,
    #[serde(skip_serializing_if = "none_or_zero")]
    pub mem_reservation: Option<ByteSize>,
    #[serde(skip_serializing_if = "none_or_zero")]
    pub memswap_limit: Option<ByteSize>,
    #[serde(skip_serializing_if = "none_or_zero")]
    pub mem_swappiness: Option<ByteSize>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// Models the service uses: name → options (`None` for none).
    #[serde(skip_serializing_if = "Map::is_empty", deserialize_with = "de_models")]
    pub models: Map<Option<ServiceModel>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(
        skip_serializing_if = "Map::is_empty",
        deserialize_with = "de_service_networks"
    )]
    pub networks: ServiceNetworks,
    #[serde(skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub oom_score_adj: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pid: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub pids_limit: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de_ports")]
    pub ports: Vec<ServicePort>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pull_policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub restart: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<i64>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_file_refs"
    )]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "none_or_zero")]
    pub shm_size: Option<ByteSize>,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_options"
    )]
    pub storage_opt: Mapping,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub sysctls: Mapping,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub ulimits: Map<Ulimit>,
    #[serde(skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub userns_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uts: String,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_service_volumes"
    )]
    pub volumes: Vec<ServiceVolume>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_start: Vec<ServiceHook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
}

impl Service {
    /// How many containers the service wants: `scale`, else `deploy.replicas`, else 1.
    pub fn replicas(&self) -> i64 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }
}

fn yes() -> bool {
    true
}

fn started() -> String {
    "service_started".into()
}

/// `provider:` — a service implemented by a plugin instead of containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provider {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Each option may be given once or as a list.
    #[serde(
        skip_serializing_if = "Map::is_empty",
        deserialize_with = "de_multi_options"
    )]
    pub options: Map<Vec<String>>,
}

fn de_multi_options<'de, D: Deserializer<'de>>(d: D) -> Result<Map<Vec<String>>, D::Error> {
    let m: Option<Map<super::common::StringOrList>> = Option::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// How a service uses a model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceModel {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint_var: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model_var: String,
}

fn de_models<'de, D: Deserializer<'de>>(d: D) -> Result<Map<Option<ServiceModel>>, D::Error> {
    super::common::de_names_or_map(d, "a list of model names or a mapping")
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// `service_started` (default), `service_healthy` or `service_completed_successfully`.
    #[serde(default = "started", skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// Restart this service when the dependency is updated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    /// Fail when the dependency is missing (true by default).
    #[serde(default = "yes")]
    pub required: bool,
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency {
            condition: started(),
            restart: false,
            required: true,
        }
    }
}

fn de_depends_on<'de, D: Deserializer<'de>>(d: D) -> Result<Map<Dependency>, D::Error> {
    super::common::de_names_or_map(d, "a list of service names or a mapping")
}

/// A service's use of a secret or config (also `build.secrets`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileRef {
    pub source: String,
    /// For service secrets, defaults to `/run/secrets/<source>`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub gid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

struct FileRefEntry(FileRef);

impl<'de> Deserialize<'de> for FileRefEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileRefEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a name or a mapping with source")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileRefEntry, E> {
                Ok(FileRefEntry(FileRef {
                    source: v.to_string(),
                    ..FileRef::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileRefEntry, A::Error> {
                super::common::from_map::<FileRef, _>(map).map(FileRefEntry)
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for `secrets:` / `configs:` of a service or a build.
pub(crate) fn de_file_refs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FileRef>, D::Error> {
    let list: Option<Vec<FileRefEntry>> = Option::deserialize(d)?;
    Ok(list.unwrap_or_default().into_iter().map(|e| e.0).collect())
}

/// One `ulimits` entry: a single value (soft = hard) or a soft/hard pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ulimit {
    Single(i64),
    Pair { soft: i64, hard: i64 },
}

impl Ulimit {
    /// `(soft, hard)`.
    pub fn limits(self) -> (i64, i64) {
        match self {
            Ulimit::Single(v) => (v, v),
            Ulimit::Pair { soft, hard } => (soft, hard),
        }
    }
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Ulimit::Single(v) if v != 0 => s.serialize_i64(v),
            Ulimit::Single(_) => s.serialize_struct("Ulimit", 0)?.end(),
            Ulimit::Pair { soft, hard } => {
                let n = usize::from(soft != 0) + usize::from(hard != 0);
                let mut st = s.serialize_struct("Ulimit", n)?;
                if soft != 0 {
                    st.serialize_field("soft", &soft)?;
                } else {
                    st.skip_field("soft")?;
                }
                if hard != 0 {
                    st.serialize_field("hard", &hard)?;
                } else {
                    st.skip_field("hard")?;
                }
                st.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Pair {
            #[serde(default)]
            soft: i64,
            #[serde(default)]
            hard: i64,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ulimit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a mapping with soft and hard")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ulimit, E> {
                Ok(Ulimit::Single(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ulimit, E> {
                i64::try_from(v)
                    .map(Ulimit::Single)
                    .map_err(|_| E::custom("ulimit is too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ulimit, E> {
                v.parse()
                    .map(Ulimit::Single)
                    .map_err(|_| E::custom(format!("invalid ulimit {v:?}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
                let p = super::common::from_map::<Pair, _>(map)?;
                Ok(Ulimit::Pair {
                    soft: p.soft,
                    hard: p.hard,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A host device made available in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceMapping {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub permissions: String,
}

/// Parses `HOST[:CONTAINER[:PERMISSIONS]]`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [s] => (*s, "", "rwm"),
        [s, t] => (*s, *t, "rwm"),
        [s, t, p] => (*s, *t, *p),
        _ => {
            return Err(format!(
                "confusing device mapping, please use long syntax: {spec}"
            ));
        }
    };
    Ok(DeviceMapping {
        source: source.into(),
        target: if target.is_empty() { source } else { target }.into(),
        permissions: permissions.into(),
    })
}

fn de_devices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceMapping>, D::Error> {
    struct Entry(DeviceMapping);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entry;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a device like /dev/x:/dev/y:rwm or a mapping")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                    parse_device(v).map(Entry).map_err(E::custom)
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                    super::common::from_map::<DeviceMapping, _>(map).map(Entry)
                }
            }
            d.deserialize_any(V)
        }
    }
    let list: Option<Vec<Entry>> = Option::deserialize(d)?;
    Ok(list.unwrap_or_default().into_iter().map(|e| e.0).collect())
}

/// `logging:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logging {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_options"
    )]
    pub options: Mapping,
}

/// `blkio_config:`. Devices print with capitalized keys (`Path`, `Rate`), as Compose does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Blkio {
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub weight: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// A per-device blkio weight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeightDevice {
    #[serde(rename(serialize = "Path", deserialize = "path"))]
    pub path: String,
    #[serde(rename(serialize = "Weight", deserialize = "weight"))]
    pub weight: u16,
}

/// A per-device rate limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleDevice {
    #[serde(rename(serialize = "Path", deserialize = "path"))]
    pub path: String,
    #[serde(rename(serialize = "Rate", deserialize = "rate"))]
    pub rate: ByteSize,
}

/// `credential_spec:` (Windows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialSpec {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry: String,
}

/// One `env_file` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnvFile {
    pub path: String,
    /// A missing file is an error unless `required: false`.
    #[serde(default = "yes")]
    pub required: bool,
    /// `raw` to read values without interpolation or quote handling.
    #[serde(default, deserialize_with = "de_opt_text")]
    pub format: Option<String>,
}

impl Serialize for EnvFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.required {
            return s.serialize_str(&self.path);
        }
        let mut st = s.serialize_struct("EnvFile", 3)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("required", &self.required)?;
        if let Some(f) = &self.format {
            st.serialize_field("format", f)?;
        } else {
            st.skip_field("format")?;
        }
        st.end()
    }
}

fn de_env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    struct Entry(EnvFile);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entry;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a path or a mapping with path")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                    Ok(Entry(EnvFile {
                        path: v.to_string(),
                        required: true,
                        format: None,
                    }))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                    super::common::from_map::<EnvFile, _>(map).map(Entry)
                }
            }
            d.deserialize_any(V)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<EnvFile>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path or a list of env files")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![EnvFile {
                path: v.to_string(),
                required: true,
                format: None,
            }])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Entry(e)) = seq.next_element()? {
                out.push(e);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `extends:` — a service name, or a service in another file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Extends {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service: String,
}

fn de_extends<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Extends>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Extends>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a service name or a mapping with service and file")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Extends {
                file: String::new(),
                service: v.to_string(),
            }))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            super::common::from_map::<Extends, _>(map).map(Some)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(y: &str) -> serde_json::Value {
        let s: Service = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(s).unwrap()
    }

    #[test]
    fn minimal_service_prints_null_command_and_entrypoint() {
        assert_eq!(
            svc("image: nginx"),
            json!({"command":null,"entrypoint":null,"image":"nginx"})
        );
        assert_eq!(
            svc("{image: x, command: '', entrypoint: []}"),
            json!({"command":[],"entrypoint":[],"image":"x"})
        );
    }

    #[test]
    fn depends_on_forms() {
        assert_eq!(
            svc("{depends_on: [db]}")["depends_on"],
            json!({"db":{"condition":"service_started","required":true}})
        );
        assert_eq!(
            svc(
                "{depends_on: {db: {condition: service_healthy, restart: true}, c: {required: false}}}"
            )["depends_on"],
            json!({"db":{"condition":"service_healthy","restart":true,"required":true},"c":{"condition":"service_started","required":false}})
        );
    }

    #[test]
    fn secrets_configs_ulimits_devices() {
        let v = svc(
            "{secrets: [s1, {source: s1, target: /t, uid: 1, gid: '2', mode: 0o444}], configs: [c1], ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}, devices: ['/dev/a:/dev/b:rwm', /dev/c, {source: /dev/d, target: /dev/e, permissions: r}]}",
        );
        assert_eq!(
            v["secrets"],
            json!([{"source":"s1"},{"source":"s1","target":"/t","uid":"1","gid":"2","mode":"0444"}])
        );
        assert_eq!(v["configs"], json!([{"source":"c1"}]));
        assert_eq!(
            v["ulimits"],
            json!({"nofile":{"soft":10,"hard":20},"nproc":5})
        );
        assert_eq!(
            v["devices"],
            json!([
                {"source":"/dev/a","target":"/dev/b","permissions":"rwm"},
                {"source":"/dev/c","target":"/dev/c","permissions":"rwm"},
                {"source":"/dev/d","target":"/dev/e","permissions":"r"}
            ])
        );
        assert!(parse_device("a:b:c:d").is_err());
    }

    #[test]
    fn strings_where_numbers_are_expected() {
        // Interpolated values arrive as strings.
        let v = svc(
            "{ulimits: {nofile: '5', nproc: {soft: 1, hard: 2}}, ports: ['80'], cpus: '0.5', mem_limit: '1g', stop_grace_period: '10s', gpus: [{count: '2'}], secrets: [{source: s, mode: '0440'}]}",
        );
        assert_eq!(
            v["ulimits"],
            json!({"nofile":5,"nproc":{"soft":1,"hard":2}})
        );
        assert_eq!(
            v["ports"],
            json!([{"mode":"ingress","target":80,"protocol":"tcp"}])
        );
        assert_eq!(v["cpus"], json!(0.5));
        assert_eq!(v["mem_limit"], json!("1073741824"));
        assert_eq!(v["stop_grace_period"], json!("10s"));
        assert_eq!(v["gpus"], json!([{"count":2}]));
        assert_eq!(v["secrets"], json!([{"source":"s","mode":"0440"}]));
        let s: Service =
            serde_yaml_ng::from_str("{ulimits: {nofile: {soft: 1, hard: 2}}}").unwrap();
        assert_eq!(s.ulimits["nofile"].limits(), (1, 2));
        let e = serde_yaml_ng::from_str::<Service>("{mem_limit: lots}").unwrap_err();
        assert!(e.to_string().contains("invalid size: 'lots'"), "{e}");
        let e = serde_yaml_ng::from_str::<Service>("{stop_grace_period: 10}").unwrap_err();
        assert!(e.to_string().contains("missing unit in duration"), "{e}");
    }

    #[test]
    fn misc_attributes() {
        let v = svc(
            "{expose: [80, '90-91'], group_add: [wheel, 100], user: 1000, mem_limit: 512m, memswap_limit: -1, shm_size: 64m, stop_grace_period: 1m, cpus: 1.5, blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 1mb}]}, env_file: [a.env, {path: b.env, required: false}], extends: base, gpus: all, logging: {driver: json-file, options: {max-size: 1m, n: 3}}, tmpfs: /x, sysctls: [net.a=1], labels: [a=b]}",
        );
        assert_eq!(v["expose"], json!(["80", "90-91"]));
        assert_eq!(v["group_add"], json!(["wheel", "100"]));
        assert_eq!(v["user"], json!("1000"));
        assert_eq!(v["mem_limit"], json!("536870912"));
        assert_eq!(v["memswap_limit"], json!("-1"));
        assert_eq!(v["shm_size"], json!("67108864"));
        assert_eq!(v["stop_grace_period"], json!("1m0s"));
        assert_eq!(v["cpus"], json!(1.5));
        assert_eq!(
            v["blkio_config"],
            json!({"weight":300,"device_read_bps":[{"Path":"/dev/sda","Rate":"1048576"}]})
        );
        assert_eq!(
            v["env_file"],
            json!(["a.env", {"path":"b.env","required":false}])
        );
        assert_eq!(v["extends"], json!({"service":"base"}));
        assert_eq!(v["gpus"], json!([{"count":-1}]));
        assert_eq!(
            v["logging"],
            json!({"driver":"json-file","options":{"max-size":"1m","n":"3"}})
        );
        assert_eq!(v["tmpfs"], json!(["/x"]));
        assert_eq!(v["sysctls"], json!({"net.a":"1"}));
        assert_eq!(v["labels"], json!({"a":"b"}));
    }
}

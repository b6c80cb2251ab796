//! `build:` — a context path (string) or the full mapping.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::common::{
    HostsList, Map, Mapping, MappingWithEquals, de_key_value, de_labels, de_mapping_with_equals,
    de_string_or_list, de_text, is_false,
};
use super::service::{FileRef, Ulimit, de_file_refs};
use super::units::ByteSize;

/// How to build a service's image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Build {
    /// Directory (absolute after normalization) or a URL / `service:` / `scheme://` context.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub context: String,
    /// Defaults to `Dockerfile` unless `dockerfile_inline` is set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dockerfile_inline: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(
        skip_serializing_if = "MappingWithEquals::is_empty",
        deserialize_with = "de_mapping_with_equals"
    )]
    pub args: MappingWithEquals,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub provenance: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "de_text")]
    pub sbom: String,
    #[serde(skip_serializing_if = "SshKeys::is_empty")]
    pub ssh: SshKeys,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub cache_from: Vec<String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub cache_to: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub no_cache: bool,
    /// Stages not to take from the cache (newer than Docker Compose v2.40).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub no_cache_filter: Vec<String>,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_key_value"
    )]
    pub additional_contexts: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_file_refs"
    )]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub shm_size: ByteSize,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub ulimits: Map<Ulimit>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub platforms: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
}

/// `deserialize_with` for `build:` — a string is the context.
pub(crate) fn de_build<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Build>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Build>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a build context path or a build mapping")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Build {
                context: v.to_string(),
                ..Build::default()
            }))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            super::common::from_map::<Build, _>(map).map(Some)
        }
    }
    d.deserialize_any(V)
}

/// `build.ssh`: `[default, key=path]` or `{default: null, key: path}`. Printed as a list of
/// `id` / `id=path`, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshKeys(pub Map<Option<String>>);

impl SshKeys {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for SshKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (id, path) in &self.0 {
            match path {
                Some(p) => seq.serialize_element(&format!("{id}={p}"))?,
                None => seq.serialize_element(id)?,
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for SshKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use super::common::ListOrMap;
        let mut keys = Map::new();
        match ListOrMap::deserialize(d)? {
            ListOrMap::List(items) => {
                for s in items {
                    match s.split_once('=') {
                        Some((id, path)) => {
                            keys.insert(id.to_string(), Some(path.to_string()));
                        }
                        None if s == "default" => {
                            keys.insert(s, None);
                        }
                        None => {
                            return Err(de::Error::custom(format!("invalid ssh key {s:?}")));
                        }
                    }
                }
            }
            ListOrMap::Map(entries) => keys.extend(entries),
        }
        Ok(SshKeys(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_build")]
        build: Option<Build>,
    }

    fn b(y: &str) -> serde_json::Value {
        let t: T = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(t.build).unwrap()
    }

    #[test]
    fn string_and_map() {
        assert_eq!(b("build: ./app"), json!({"context":"./app"}));
        assert_eq!(
            b(
                "build: {context: ./app, dockerfile_inline: FROM x, args: [A=1, B], target: t, tags: [a:1], labels: {l: 1}, additional_contexts: {c: ./x}, cache_from: [a], network: host, no_cache: true, pull: true, ssh: [default, k=./key], shm_size: 1g, platforms: [linux/amd64], secrets: [s1], extra_hosts: {h: 1.1.1.1}, ulimits: {nofile: 5}}"
            ),
            json!({
                "context":"./app","dockerfile_inline":"FROM x","args":{"A":"1","B":null},
                "ssh":["default","k=./key"],"labels":{"l":"1"},"cache_from":["a"],"no_cache":true,
                "additional_contexts":{"c":"./x"},"pull":true,"extra_hosts":["h=1.1.1.1"],
                "network":"host","target":"t","secrets":[{"source":"s1"}],"shm_size":"1073741824",
                "tags":["a:1"],"ulimits":{"nofile":5},"platforms":["linux/amd64"]
            })
        );
        assert_eq!(
            b("build: {additional_contexts: [c=docker-image://x]}")["additional_contexts"],
            json!({"c":"docker-image://x"})
        );
    }
}

//! The project: services and the top-level networks, volumes, configs, secrets, includes,
//! models and `x-*` extensions.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::common::{
    Extensions, External, Map, Mapping, de_labels, de_map_null_default, de_options,
    de_string_or_list, is_zero_i64,
};
use super::networks::Network;
use super::service::Service;

/// The keys a compose file may have at its top level, besides `x-*` extensions.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name", "version", "services", "networks", "volumes", "secrets", "configs", "include", "models",
];

/// A whole Compose project, after loading and merging.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Project {
    /// Set by the loader (from `name:`, `-p`, `COMPOSE_PROJECT_NAME` or the directory).
    pub name: String,
    /// The obsolete `version:`; accepted and ignored.
    #[serde(skip_serializing)]
    pub version: Option<serde_json::Value>,
    pub services: Map<Service>,
    #[serde(deserialize_with = "de_map_null_default")]
    pub networks: Map<Network>,
    #[serde(deserialize_with = "de_map_null_default")]
    pub volumes: Map<Volume>,
    #[serde(deserialize_with = "de_map_null_default")]
    pub secrets: Map<FileObject>,
    #[serde(deserialize_with = "de_map_null_default")]
    pub configs: Map<FileObject>,
    /// Resolved by the loader; not printed.
    #[serde(deserialize_with = "de_includes")]
    pub include: Vec<Include>,
    /// Kept, not printed (Docker Compose v2 does not print them either).
    #[serde(deserialize_with = "de_map_null_default")]
    pub models: Map<Model>,
    /// Top-level `x-*` keys, printed as given.
    #[serde(flatten)]
    pub extensions: Extensions,
    /// The project directory (set by the loader; not part of any file, not printed).
    #[serde(skip)]
    pub working_dir: std::path::PathBuf,
    /// The compose files the project was loaded from (set by the loader; not printed).
    #[serde(skip)]
    pub compose_files: Vec<std::path::PathBuf>,
    /// The effective environment the project was loaded with (not printed).
    #[serde(skip)]
    pub environment: Map<String>,
    /// Services left out because none of their profiles is active (not printed).
    #[serde(skip)]
    pub disabled_services: Map<Service>,
    /// The active profiles (not printed).
    #[serde(skip)]
    pub profiles: Vec<String>,
}

impl Project {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }
}

impl Serialize for Project {
    /// Prints what `docker compose config --format json` prints: `name` and `services`
    /// always, the other sections when not empty, and the extensions.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Keys in Go's order for a map: sorted (`x-*` sort after `volumes`).
        let mut m = s.serialize_map(None)?;
        if !self.configs.is_empty() {
            let configs: Map<FileObject> = self
                .configs
                .iter()
                .map(|(k, v)| {
                    // Content that came from the environment is printed as its source.
                    let mut v = v.clone();
                    if !v.environment.is_empty() {
                        v.content = String::new();
                    }
                    (k.clone(), v)
                })
                .collect();
            m.serialize_entry("configs", &configs)?;
        }
        m.serialize_entry("name", &self.name)?;
        if !self.networks.is_empty() {
            m.serialize_entry("networks", &self.networks)?;
        }
        if !self.secrets.is_empty() {
            let secrets: Map<FileObject> = self
                .secrets
                .iter()
                .map(|(k, v)| {
                    // A secret's content is never printed.
                    let mut v = v.clone();
                    v.content = String::new();
                    (k.clone(), v)
                })
                .collect();
            m.serialize_entry("secrets", &secrets)?;
        }
        m.serialize_entry("services", &self.services)?;
        if !self.volumes.is_empty() {
            m.serialize_entry("volumes", &self.volumes)?;
        }
        for (k, v) in &self.extensions.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
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
    #[serde(skip_serializing_if = "External::is_false")]
    pub external: External,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
}

/// A top-level config or secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileObject {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host file (absolute after normalization).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// Name of an environment variable holding the content.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// Inline content (configs).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(skip_serializing_if = "External::is_false")]
    pub external: External,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_options"
    )]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub template_driver: String,
}

/// A top-level AI model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Model {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub context_size: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
}

/// One `include:` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Include {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub path: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project_directory: String,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub env_file: Vec<String>,
}

fn de_includes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Include>, D::Error> {
    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use std::fmt;
    struct Entry(Include);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entry;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a path or a mapping with path")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                    Ok(Entry(Include {
                        path: vec![v.to_string()],
                        ..Include::default()
                    }))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                    super::common::from_map::<Include, _>(map).map(Entry)
                }
            }
            d.deserialize_any(V)
        }
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Include>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of includes")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Entry(i)) = seq.next_element()? {
                out.push(i);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_level_sections_and_extensions() {
        let p: Project = serde_yaml_ng::from_str(
            "name: p\nversion: '3'\nservices: {a: {image: x}}\nnetworks: {n: }\nvolumes: {v: {external: true}}\nsecrets: {s: {file: ./s, content: hidden}}\nconfigs: {c: {content: hi}}\ninclude: [a.yaml, {path: [b.yaml], project_directory: d}]\nx-top: {a: 1}\n",
        )
        .unwrap();
        assert_eq!(p.include.len(), 2);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "name":"p",
                "services":{"a":{"command":null,"entrypoint":null,"image":"x"}},
                "networks":{"n":{"ipam":{}}},
                "volumes":{"v":{"external":true}},
                "secrets":{"s":{"file":"./s"}},
                "configs":{"c":{"content":"hi"}},
                "x-top":{"a":1}
            })
        );
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let e = serde_yaml_ng::from_str::<Project>("services: {}\nbogus: 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}

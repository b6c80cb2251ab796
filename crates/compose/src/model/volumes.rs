//! A service's `volumes:` — short syntax (`SRC:DST[:OPTS]`, `DST`) and long syntax — as
//! [`ServiceVolume`] mounts.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::common::{Mapping, de_entries, de_labels, is_false};
use super::units::ByteSize;

/// What kind of mount a service volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

impl<'de> Deserialize<'de> for VolumeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let super::common::Text(s) = super::common::Text::deserialize(d)?;
        Ok(match s.as_str() {
            "bind" => VolumeType::Bind,
            "volume" => VolumeType::Volume,
            "tmpfs" => VolumeType::Tmpfs,
            "npipe" => VolumeType::Npipe,
            "cluster" => VolumeType::Cluster,
            "image" => VolumeType::Image,
            _ => {
                return Err(de::Error::custom(format!(
                    "invalid volume type {s:?}: must be one of bind, volume, tmpfs, npipe, cluster, image"
                )));
            }
        })
    }
}

/// One mount of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Host path (bind, made absolute by normalization), volume name (empty for an anonymous
    /// volume) or image reference.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<VolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<VolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<VolumeImage>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeBind {
    /// `z` or `Z`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selinux: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Create the host path when missing (true for the short syntax).
    #[serde(skip_serializing_if = "is_false")]
    pub create_host_path: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recursive: String,
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeVolume {
    #[serde(
        skip_serializing_if = "Mapping::is_empty",
        deserialize_with = "de_labels"
    )]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeTmpfs {
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub size: ByteSize,
    /// Permission bits, as a number (`0755` in YAML is 493).
    #[serde(skip_serializing_if = "is_zero_u32", deserialize_with = "de_u32")]
    pub mode: u32,
}

/// Options of an image mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeImage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
            v.parse()
                .map_err(|_| E::custom(format!("invalid number {v:?}")))
        }
    }
    d.deserialize_any(V)
}

/// Go's `path.Clean`: lexical clean-up of a slash path.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            _ => out.push(part),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn is_file_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || source.starts_with("\\\\")
}

fn is_windows_drive(buf: &str, c: char) -> bool {
    let mut chars = buf.chars();
    c == ':' && matches!((chars.next(), chars.next()), (Some(l), None) if l.is_alphabetic())
}

/// Parses the short syntax: `DST`, `SRC:DST`, `SRC:DST:ro,z,nocopy,...`.
pub fn parse_volume_spec(spec: &str) -> Result<ServiceVolume, String> {
    let mut v = ServiceVolume {
        kind: VolumeType::Volume,
        source: String::new(),
        target: String::new(),
        read_only: false,
        consistency: String::new(),
        bind: None,
        volume: None,
        tmpfs: None,
        image: None,
    };
    match spec.chars().count() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => {
            v.target = spec.to_string();
            v.volume = Some(VolumeVolume::default());
            return Ok(v);
        }
        _ => {}
    }
    let mut fields: Vec<String> = Vec::new();
    let mut buf = String::new();
    let mut in_var = 0usize;
    let chars: Vec<char> = spec.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            in_var += 1;
            buf.push(c);
        } else if c == '}' && in_var > 0 {
            in_var -= 1;
            buf.push(c);
        } else if is_windows_drive(&buf, c) && fields.is_empty() {
            buf.push(c);
        } else if c == ':' && in_var == 0 {
            fields.push(std::mem::take(&mut buf));
        } else {
            buf.push(c);
        }
    }
    fields.push(buf);
    let bad = |why: &str| format!("invalid spec: {spec}: {why}");
    if fields.iter().any(String::is_empty) {
        return Err(bad("empty section between colons"));
    }
    match fields.len() {
        1 => v.target = fields.remove(0),
        2 | 3 => {
            v.source = fields.remove(0);
            v.target = fields.remove(0);
        }
        _ => return Err(bad("too many colons")),
    }
    if let Some(opts) = fields.first() {
        for opt in opts.split(',') {
            match opt {
                "ro" => v.read_only = true,
                "rw" => v.read_only = false,
                "nocopy" => {
                    v.volume = Some(VolumeVolume {
                        nocopy: true,
                        ..VolumeVolume::default()
                    })
                }
                "z" | "Z" => v.bind.get_or_insert_with(VolumeBind::default).selinux = opt.into(),
                "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                    v.bind.get_or_insert_with(VolumeBind::default).propagation = opt.into()
                }
                _ => {}
            }
        }
    }
    if is_file_path(&v.source) {
        v.kind = VolumeType::Bind;
        v.bind
            .get_or_insert_with(VolumeBind::default)
            .create_host_path = true;
    } else {
        v.kind = VolumeType::Volume;
        v.volume.get_or_insert_with(VolumeVolume::default);
    }
    v.target = clean_path(&v.target);
    Ok(v)
}

struct VolumeEntry(ServiceVolume);

impl<'de> Deserialize<'de> for VolumeEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = VolumeEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a volume spec like \"./data:/data:ro\" or a mapping with type")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VolumeEntry, E> {
                parse_volume_spec(v).map(VolumeEntry).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VolumeEntry, A::Error> {
                let mut v = super::common::from_map::<ServiceVolume, _>(map)?;
                if !v.target.is_empty() {
                    v.target = clean_path(&v.target);
                }
                Ok(VolumeEntry(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for a service's `volumes:`.
pub(crate) fn de_service_volumes<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ServiceVolume>, D::Error> {
    de_entries(d, "a list of volumes", |VolumeEntry(v), out| out.push(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_service_volumes")]
        volumes: Vec<ServiceVolume>,
    }

    fn vols(y: &str) -> serde_json::Value {
        let t: T = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(t.volumes).unwrap()
    }

    #[test]
    fn short_syntax() {
        assert_eq!(
            vols(
                "volumes: ['./data:/data:ro', 'db:/var/lib/db', /tmp, '~/x:/x/', './e:/e:z,rshared,nocopy']"
            ),
            json!([
                {"type":"bind","source":"./data","target":"/data","read_only":true,"bind":{"create_host_path":true}},
                {"type":"volume","source":"db","target":"/var/lib/db","volume":{}},
                {"type":"volume","target":"/tmp","volume":{}},
                {"type":"bind","source":"~/x","target":"/x","bind":{"create_host_path":true}},
                {"type":"bind","source":"./e","target":"/e","bind":{"selinux":"z","propagation":"rshared","create_host_path":true},"volume":{"nocopy":true}}
            ])
        );
        assert_eq!(
            vols("volumes: ['${HOME:-/x}:/y']")[0]["source"],
            json!("${HOME:-/x}")
        );
    }

    #[test]
    fn long_syntax() {
        assert_eq!(
            vols(
                "volumes: [{type: bind, source: ./d, target: /d/}, {type: volume, target: /anon, volume: {nocopy: true, subpath: s}}, {type: tmpfs, target: /t, tmpfs: {size: 10m, mode: 0o755}}, {type: image, source: img, target: /i, image: {subpath: p}}]"
            ),
            json!([
                {"type":"bind","source":"./d","target":"/d"},
                {"type":"volume","target":"/anon","volume":{"nocopy":true,"subpath":"s"}},
                {"type":"tmpfs","target":"/t","tmpfs":{"size":"10485760","mode":493}},
                {"type":"image","source":"img","target":"/i","image":{"subpath":"p"}}
            ])
        );
    }

    #[test]
    fn errors() {
        let e = |y: &str| serde_yaml_ng::from_str::<T>(y).err().unwrap().to_string();
        assert!(e("volumes: ['ab::c']").contains("empty section between colons"));
        assert!(e("volumes: ['ab:bc:cd:de']").contains("too many colons"));
        assert!(e("volumes: [{target: /x}]").contains("type"));
    }

    #[test]
    fn clean() {
        assert_eq!(clean_path("/a/b/../c/"), "/a/c");
        assert_eq!(clean_path("a//b/./"), "a/b");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("../x"), "../x");
    }
}

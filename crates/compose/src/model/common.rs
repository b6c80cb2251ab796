//! Shapes that many attributes share: scalars read as strings, "string or list", "list or
//! map" (`labels`, `environment`, `sysctls`), shell commands, `external`, `extra_hosts`, and
//! top-level `x-*` extensions.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

/// A map with sorted keys, as Go prints maps.
pub type Map<V> = BTreeMap<String, V>;

/// `KEY=VALUE` pairs where the value may be absent (`environment`, `build.args`).
pub type MappingWithEquals = Map<Option<String>>;

/// `KEY=VALUE` pairs (`labels`, `sysctls`, `annotations`, driver options).
pub type Mapping = Map<String>;

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// A scalar as text, as Compose turns scalars into strings (`1` → "1", `true` → "true");
/// `None` for null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(crate::yaml::format_float(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar that must be present, as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)?.0 {
            Some(s) => Ok(Text(s)),
            None => Err(de::Error::custom("expected a string, found null")),
        }
    }
}

/// `deserialize_with` for a `String` field that may be written as a number or boolean.
pub(crate) fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Scalar::deserialize(d)?.0.unwrap_or_default())
}

/// `deserialize_with` for an `Option<String>` that may be written as a number.
pub(crate) fn de_opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(d)?.0)
}

/// `deserialize_with` for a list of strings written as one string or a list of scalars.
pub(crate) fn de_string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(Text(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// `deserialize_with` for a list of scalars, each read as a string.
pub(crate) fn de_text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Option<Vec<Text>> = Option::deserialize(d)?;
    Ok(items.unwrap_or_default().into_iter().map(|t| t.0).collect())
}

/// A "list or dict" value as written: `[A=1, B]` or `{A: 1, B: null}`.
pub(crate) enum ListOrMap {
    List(Vec<String>),
    Map(Vec<(String, Option<String>)>),
}

impl<'de> Deserialize<'de> for ListOrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListOrMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of KEY=VALUE strings or a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ListOrMap, E> {
                Ok(ListOrMap::List(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<ListOrMap, E> {
                Ok(ListOrMap::List(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListOrMap, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(ListOrMap::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListOrMap, A::Error> {
                let mut out = Vec::new();
                while let Some((Text(k), Scalar(v))) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(ListOrMap::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for `environment` / `build.args`: `B` alone (or `B: null`) has no value.
pub(crate) fn de_mapping_with_equals<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<MappingWithEquals, D::Error> {
    Ok(match ListOrMap::deserialize(d)? {
        ListOrMap::List(items) => items
            .into_iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s, None),
            })
            .collect(),
        ListOrMap::Map(entries) => entries.into_iter().collect(),
    })
}

/// `deserialize_with` for `labels` & co.: `c` alone (or `c: null`) is the empty string.
pub(crate) fn de_labels<'de, D: Deserializer<'de>>(d: D) -> Result<Mapping, D::Error> {
    Ok(match ListOrMap::deserialize(d)? {
        ListOrMap::List(items) => items
            .into_iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s, String::new()),
            })
            .collect(),
        ListOrMap::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
    })
}

/// `deserialize_with` for strict `KEY=VALUE` mappings (`sysctls`, `additional_contexts`).
pub(crate) fn de_key_value<'de, D: Deserializer<'de>>(d: D) -> Result<Mapping, D::Error> {
    match ListOrMap::deserialize(d)? {
        ListOrMap::List(items) => items
            .into_iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(de::Error::custom(format!(
                    "invalid value {s:?}, expected key=value"
                ))),
            })
            .collect(),
        ListOrMap::Map(entries) => Ok(entries
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()),
    }
}

/// `deserialize_with` for a plain mapping of scalars (`driver_opts`, `logging.options`).
pub(crate) fn de_options<'de, D: Deserializer<'de>>(d: D) -> Result<Mapping, D::Error> {
    let m: Option<Map<Scalar>> = Option::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0.unwrap_or_default()))
        .collect())
}

/// A mapping whose keys may be written as numbers.
impl<'de> Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(MapKey(Text::deserialize(d)?.0))
    }
}
pub(crate) struct MapKey(pub String);

/// A mapping whose values may be null (→ `T::default()`), or, where `names` is set, also a
/// list of names (each → `T::default()`): `networks: [a, b]` / `networks: {a: null, b: {...}}`.
struct NamesOrMap<T> {
    what: &'static str,
    names: bool,
    value: PhantomData<T>,
}

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for NamesOrMap<T> {
    type Value = Map<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Map<T>, E> {
        Ok(Map::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Map<T>, E> {
        Ok(Map::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Map<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Map<T>, A::Error> {
        if !self.names {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let mut out = Map::new();
        while let Some(Text(name)) = seq.next_element()? {
            out.insert(name, T::default());
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map<T>, A::Error> {
        let mut out = Map::new();
        while let Some(MapKey(k)) = map.next_key()? {
            let v: Option<T> = map.next_value()?;
            out.insert(k, v.unwrap_or_default());
        }
        Ok(out)
    }
}

/// `deserialize_with` for a mapping whose values may be null (→ `T::default()`).
pub(crate) fn de_map_null_default<'de, D, T>(d: D) -> Result<Map<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    d.deserialize_any(NamesOrMap {
        what: "a mapping",
        names: false,
        value: PhantomData,
    })
}

/// A list of names or a mapping of name → `T` (null values and listed names → `T::default()`).
pub(crate) fn de_names_or_map<'de, D, T>(d: D, what: &'static str) -> Result<Map<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    d.deserialize_any(NamesOrMap {
        what,
        names: true,
        value: PhantomData,
    })
}

/// A command: `None` when unset (printed as `null`), else the argument list. A string is
/// split as a POSIX shell would (quotes, backslashes), without expansion.
pub type ShellCommand = Option<Vec<String>>;

/// `deserialize_with` for `command` / `entrypoint` / hook commands.
pub(crate) fn de_shell_command<'de, D: Deserializer<'de>>(d: D) -> Result<ShellCommand, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ShellCommand;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a command string or a list of arguments")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<ShellCommand, E> {
            split_command(v).map(Some).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<ShellCommand, E> {
            Ok(Some(vec![v.to_string()]))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<ShellCommand, E> {
            Ok(Some(vec![v.to_string()]))
        }
        fn visit_unit<E: de::Error>(self) -> Result<ShellCommand, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<ShellCommand, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShellCommand, A::Error> {
            let mut out = Vec::new();
            while let Some(Text(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(V)
}

/// Splits a command line into arguments the way Docker Compose does: whitespace separates,
/// single quotes keep everything, double quotes keep all but backslash escapes, a backslash
/// outside single quotes takes the next character literally, and an unquoted `;`, `&`, `|`,
/// `<` or `>` ends the command (the rest is dropped, as Compose does).
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut buf = String::new();
    let mut have_arg = false;
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in line.chars() {
        if escaped {
            buf.push(c);
            escaped = false;
            have_arg = true;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\\' => buf.push(c),
            ' ' | '\t' | '\r' | '\n' if !single && !double => {
                if have_arg {
                    args.push(std::mem::take(&mut buf));
                    have_arg = false;
                }
            }
            '\'' if !double => {
                single = !single;
                have_arg = true;
            }
            '"' if !single => {
                double = !double;
                have_arg = true;
            }
            ';' | '&' | '|' | '<' | '>' if !single && !double => break,
            _ => {
                buf.push(c);
                have_arg = true;
            }
        }
    }
    if single || double || escaped {
        return Err("invalid command line string".to_string());
    }
    if have_arg {
        args.push(buf);
    }
    Ok(args)
}

/// `external: true`, or the legacy `external: {name: x}` (whose name the normalizer moves
/// to the resource's `name`). Printed as a boolean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct External {
    pub external: bool,
    /// The deprecated `external.name`, if written.
    pub legacy_name: Option<String>,
}

impl External {
    pub fn is_false(&self) -> bool {
        !self.external
    }
}

impl Serialize for External {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(self.external)
    }
}

impl<'de> Deserialize<'de> for External {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = External;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or a mapping with a name")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<External, E> {
                Ok(External {
                    external: v,
                    legacy_name: None,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<External, E> {
                match v {
                    "true" | "True" | "TRUE" | "1" | "t" | "T" => self.visit_bool(true),
                    "false" | "False" | "FALSE" | "0" | "f" | "F" | "" => self.visit_bool(false),
                    _ => Err(E::custom(format!("invalid boolean {v:?} for external"))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<External, E> {
                Ok(External::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<External, A::Error> {
                let mut legacy_name = None;
                while let Some(MapKey(k)) = map.next_key()? {
                    if k == "name" {
                        legacy_name = map.next_value::<Scalar>()?.0;
                    } else {
                        let _: de::IgnoredAny = map.next_value()?;
                    }
                }
                Ok(External {
                    external: true,
                    legacy_name,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or a list of strings, as a value type.
pub(crate) struct StringOrList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de_string_or_list(d).map(StringOrList)
    }
}

/// `extra_hosts`: host name → addresses. Written as `["h:1.2.3.4", "h=::1"]` or
/// `{h: 1.2.3.4}` / `{h: [a, b]}`; printed as a sorted list of `host=address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsList(pub Map<Vec<String>>);

impl HostsList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `host=address` entries, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut list: Vec<String> = self
            .0
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}={ip}")))
            .collect();
        list.sort();
        list
    }

    fn add(&mut self, entry: &str) -> Result<(), String> {
        let (host, ips) = entry
            .split_once('=')
            .or_else(|| entry.split_once(':'))
            .ok_or_else(|| format!("invalid additional host, missing IP: {entry}"))?;
        self.push(host, ips.split(',').map(str::to_string))
    }

    fn push(&mut self, host: &str, ips: impl Iterator<Item = String>) -> Result<(), String> {
        if host.is_empty() || host.contains([':', '=']) {
            return Err(format!("bad host name '{host}'"));
        }
        let list = self.0.entry(host.to_string()).or_default();
        for ip in ips {
            let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
                Some(inner) if !inner.is_empty() => inner.to_string(),
                _ => ip,
            };
            list.push(ip);
        }
        Ok(())
    }
}

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list = self.entries();
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for e in &list {
            seq.serialize_element(e)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for HostsList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HostsList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of host:ip or a mapping of host to ip")
            }
            fn visit_unit<E: de::Error>(self) -> Result<HostsList, E> {
                Ok(HostsList::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HostsList, A::Error> {
                let mut h = HostsList::default();
                while let Some(Text(s)) = seq.next_element()? {
                    h.add(&s).map_err(de::Error::custom)?;
                }
                Ok(h)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HostsList, A::Error> {
                let mut h = HostsList::default();
                while let Some(MapKey(k)) = map.next_key()? {
                    let StringOrList(ips) = map.next_value()?;
                    let ips = if ips.is_empty() {
                        vec![String::new()]
                    } else {
                        ips
                    };
                    h.push(&k, ips.into_iter()).map_err(de::Error::custom)?;
                }
                Ok(h)
            }
        }
        d.deserialize_any(V)
    }
}

/// Top-level `x-*` extensions, kept as JSON. Any other unknown key is an error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extensions(pub Map<serde_json::Value>);

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Extensions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("x-* extensions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
                let mut out = Map::new();
                while let Some(MapKey(k)) = map.next_key()? {
                    if !k.starts_with("x-") {
                        return Err(de::Error::custom(crate::de::unknown_key_message(
                            &k,
                            super::project::TOP_LEVEL_KEYS,
                        )));
                    }
                    out.insert(k, sort_json(map.next_value()?));
                }
                Ok(Extensions(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Sorts the keys of every object, as Go prints maps.
pub(crate) fn sort_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(sort_json).collect()),
        Value::Object(o) => {
            let sorted: BTreeMap<String, Value> =
                o.into_iter().map(|(k, v)| (k, sort_json(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}

/// Deserializes a struct from the entries of a map already being visited (the long form of
/// a "string or mapping" attribute). Unknown keys are errors and `x-*` keys are skipped, as
/// the loader's own deserializer does for structs.
pub(crate) fn from_map<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    crate::de::struct_from_map(map)
}

/// A list that may be `null` (empty), each of whose entries `E` adds its items to the result
/// with `push` (one port entry may stand for a range of ports).
pub(crate) fn de_entries<'de, D, E, T>(
    d: D,
    what: &'static str,
    push: fn(E, &mut Vec<T>),
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    E: Deserialize<'de>,
{
    struct V<E, T> {
        what: &'static str,
        push: fn(E, &mut Vec<T>),
    }
    impl<'de, E: Deserialize<'de>, T> Visitor<'de> for V<E, T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_unit<Er: de::Error>(self) -> Result<Vec<T>, Er> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = seq.next_element()? {
                (self.push)(entry, &mut out);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V { what, push })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "de_mapping_with_equals")]
        env: MappingWithEquals,
        #[serde(default, deserialize_with = "de_labels")]
        labels: Mapping,
        #[serde(default, deserialize_with = "de_string_or_list")]
        dns: Vec<String>,
        #[serde(default, deserialize_with = "de_shell_command")]
        cmd: ShellCommand,
        #[serde(default)]
        hosts: HostsList,
        #[serde(default)]
        ext: External,
    }

    fn t(y: &str) -> T {
        serde_yaml_ng::from_str(y).unwrap()
    }

    #[test]
    fn environment_list_and_map() {
        let v = t("env: [A=1, B, C=, D=x=y]");
        assert_eq!(v.env["A"], Some("1".into()));
        assert_eq!(v.env["B"], None);
        assert_eq!(v.env["C"], Some(String::new()));
        assert_eq!(v.env["D"], Some("x=y".into()));
        let v = t("env: {A: 1, B: , C: true, D: 1.5}");
        assert_eq!(v.env["A"], Some("1".into()));
        assert_eq!(v.env["B"], None);
        assert_eq!(v.env["C"], Some("true".into()));
        assert_eq!(v.env["D"], Some("1.5".into()));
    }

    #[test]
    fn labels_list_and_map() {
        let v = t("labels: [a=b, c]");
        assert_eq!(v.labels["a"], "b");
        assert_eq!(v.labels["c"], "");
        let v = t("labels: {a: 1}");
        assert_eq!(v.labels["a"], "1");
    }

    #[test]
    fn string_or_list() {
        assert_eq!(t("dns: 8.8.8.8").dns, vec!["8.8.8.8"]);
        assert_eq!(t("dns: [a, b]").dns, vec!["a", "b"]);
    }

    #[test]
    fn commands_split_like_compose() {
        let s = |x: &str| split_command(x).unwrap();
        assert_eq!(s("echo \"hi $HOME\""), vec!["echo", "hi $HOME"]);
        assert_eq!(s("sh -c 'x; y'"), vec!["sh", "-c", "x; y"]);
        assert_eq!(s("echo a && echo b"), vec!["echo", "a"]);
        assert_eq!(s("a \"\" b"), vec!["a", "", "b"]);
        assert_eq!(
            s(r#"a\\ b \"c 'e\\f' "g\h""#),
            vec!["a\\", "b", "\"c", "e\\\\f", "gh"]
        );
        assert_eq!(s("a\tb\n  c"), vec!["a", "b", "c"]);
        assert_eq!(s(""), Vec::<String>::new());
        assert!(split_command("a 'b").is_err());
        assert_eq!(t("cmd: [a, 1]").cmd, Some(vec!["a".into(), "1".into()]));
        assert_eq!(t("cmd: ''").cmd, Some(vec![]));
        assert_eq!(t("dns: []").cmd, None);
    }

    #[test]
    fn extra_hosts_forms() {
        let v = t("hosts: ['h:host-gateway', 'x=1.2.3.4', 'v6:::1', 'b=[::2]']");
        assert_eq!(
            v.hosts.entries(),
            vec!["b=::2", "h=host-gateway", "v6=::1", "x=1.2.3.4"]
        );
        let v = t("hosts: {h2: [1.1.1.1, '::1'], h1: 2.2.2.2}");
        assert_eq!(
            v.hosts.entries(),
            vec!["h1=2.2.2.2", "h2=1.1.1.1", "h2=::1"]
        );
    }

    #[test]
    fn external_forms() {
        assert!(t("ext: true").ext.external);
        let v = t("ext: {name: real}");
        assert!(v.ext.external);
        assert_eq!(v.ext.legacy_name.as_deref(), Some("real"));
        assert!(!t("dns: []").ext.external);
    }
}

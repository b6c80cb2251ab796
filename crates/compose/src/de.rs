//! A serde `Deserializer` over the positioned YAML tree, so that every error of the typed
//! model names the file, line, column and the path in the model (`services.web.ports[1]`).
//!
//! It is self-describing like `serde_yaml` (`deserialize_any` gives a node's native type), and
//! it casts scalars the way Docker Compose does when a typed field asks for them, because
//! interpolated values (`${VAR}`) come out as strings: `"yes"` is a boolean, `"12"` an integer.
//!
//! Structs are strict: a key that is not a field of the struct is an error (with a
//! did-you-mean hint), except extension keys (`x-…`), which are skipped. Maps are not checked.
//!
//! Errors are located lazily: an error starts without a position; the first place that knows
//! which node was being deserialized when it arose fills in that node's position, and every
//! enclosing level adds its path segment while the error unwinds. The happy path builds no
//! strings and clones nothing.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::yaml::{Key, Node, Pos, Value};

/// Deserializes a `T` from `node`. `path` is the dotted path of `node` in the model (`""` for
/// the root, `"services.web"` for a service), used as the prefix of error paths.
pub fn from_node<T: de::DeserializeOwned>(node: &Node, path: &str) -> Result<T, crate::Error> {
    T::deserialize(Deserializer::new(node)).map_err(|e| e.into_error(node, path))
}

/// The deserializer for one node. Implements `serde::Deserializer` for any `T: Deserialize`,
/// borrowing strings from the tree where it can.
#[derive(Clone, Copy, Debug)]
pub struct Deserializer<'de> {
    node: &'de Node,
}

impl<'de> Deserializer<'de> {
    pub fn new(node: &'de Node) -> Self {
        Deserializer { node }
    }
}

/// The error of this deserializer, located as it unwinds. Convert it with
/// [`DeError::into_error`] (what [`from_node`] does).
pub struct DeError(Box<Inner>);

struct Inner {
    message: String,
    /// The node (or key) where the problem is, once known.
    pos: Option<Pos>,
    /// Path segments from the located node outwards (innermost first).
    rev_path: Vec<Seg>,
}

enum Seg {
    Key(String),
    Index(usize),
}

impl DeError {
    fn new(message: impl Into<String>) -> Self {
        DeError(Box::new(Inner {
            message: message.into(),
            pos: None,
            rev_path: Vec::new(),
        }))
    }

    fn at(mut self, pos: &Pos) -> Self {
        if self.0.pos.is_none() {
            self.0.pos = Some(pos.clone());
        }
        self
    }

    /// The error passed out of deserializing `node`, which sits at `seg` within its parent.
    fn within(self, node: &Node, seg: Seg) -> Self {
        let mut e = self.at(&node.pos);
        e.0.rev_path.push(seg);
        e
    }

    /// The message alone, without position or path.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Converts to the crate error: `root` is the node deserialization started at (its
    /// position is used if nothing deeper claimed the error), `prefix` its dotted path.
    pub fn into_error(self, root: &Node, prefix: &str) -> crate::Error {
        let inner = *self.0;
        let mut path = String::from(prefix);
        for seg in inner.rev_path.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                Seg::Index(i) => {
                    path.push('[');
                    path.push_str(&i.to_string());
                    path.push(']');
                }
            }
        }
        crate::Error::At {
            pos: inner.pos.unwrap_or_else(|| root.pos.clone()),
            path,
            message: inner.message,
        }
    }
}

impl fmt::Debug for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeError")
            .field("message", &self.0.message)
            .field("pos", &self.0.pos)
            .finish()
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.pos {
            Some(pos) => write!(f, "{pos}: {}", self.0.message),
            None => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(unknown_key_message(field, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut m = format!("unknown value {variant:?}");
        if !expected.is_empty() {
            m.push_str(", expected one of ");
            for (i, v) in expected.iter().enumerate() {
                if i > 0 {
                    m.push_str(", ");
                }
                m.push_str(&format!("{v:?}"));
            }
        }
        if let Some(s) = did_you_mean(variant, expected) {
            m.push_str(&format!(" (did you mean {s:?}?)"));
        }
        DeError::new(m)
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing required property {field:?}"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(format!("property {field:?} is given more than once"))
    }
}

fn unknown_key_message(key: &str, expected: &[&str]) -> String {
    match did_you_mean(key, expected) {
        Some(s) => format!("additional property {key:?} is not allowed (did you mean {s:?}?)"),
        None => format!("additional property {key:?} is not allowed"),
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(&lower, c), *c))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// How a node is described after "got" in a type error.
fn found(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => quote_short(s),
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {}", crate::yaml::format_float(*f)),
        Value::Seq(_) | Value::Map(_) => format!("a {}", node.kind()),
    }
}

fn quote_short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    } else {
        format!("{s:?}")
    }
}

fn expected(what: &str, node: &Node) -> DeError {
    DeError::new(format!("expected {what}, got {}", found(node)))
}

fn expected_str(what: &str, s: &str) -> DeError {
    DeError::new(format!("expected {what}, got {}", quote_short(s)))
}

/// Docker Compose's boolean cast of a string (case-insensitive).
fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "y", "yes", "on"];
    const FALSE: [&str; 4] = ["false", "n", "no", "off"];
    if TRUE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Some(false)
    } else {
        None
    }
}

// Coercions of a string to what a typed request asks for, shared by nodes and keys.

fn str_bool<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, DeError> {
    match parse_bool(s) {
        Some(b) => visitor.visit_bool(b),
        None => Err(expected_str("a boolean", s)),
    }
}

fn str_int<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, DeError> {
    if let Ok(i) = s.parse::<i64>() {
        visitor.visit_i64(i)
    } else if let Ok(u) = s.parse::<u64>() {
        visitor.visit_u64(u)
    } else {
        Err(expected_str("an integer", s))
    }
}

fn str_float<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, DeError> {
    match s.parse::<f64>() {
        Ok(f) => visitor.visit_f64(f),
        Err(_) => Err(expected_str("a number", s)),
    }
}

fn str_char<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, DeError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => visitor.visit_char(c),
        _ => Err(expected_str("a single character", s)),
    }
}

/// The largest magnitude below which every integral `f64` converts to `i64` exactly.
const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;
const U64_BOUND: f64 = 18_446_744_073_709_551_616.0;

impl<'de> Deserializer<'de> {
    fn int<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) if f.fract() == 0.0 && *f >= -I64_BOUND && *f < I64_BOUND => {
                visitor.visit_i64(*f as i64)
            }
            Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < U64_BOUND => {
                visitor.visit_u64(*f as u64)
            }
            Value::Str(s) => str_int(s, visitor),
            _ => Err(expected("an integer", self.node)),
        }
    }

    fn float<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Int(i) => visitor.visit_f64(*i as f64),
            Value::Str(s) => str_float(s, visitor),
            _ => Err(expected("a number", self.node)),
        }
    }

    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => match self.node.scalar_string() {
                Some(s) => visitor.visit_string(s),
                None => Err(expected("a string", self.node)),
            },
            _ => Err(expected("a string", self.node)),
        }
    }

    fn seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visit_seq(items, visitor),
            _ => Err(expected("a sequence", self.node)),
        }
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: &'de [Node], visitor: V) -> Result<V::Value, DeError> {
    let mut access = SeqAccess {
        items: items.iter(),
        index: 0,
    };
    let value = visitor.visit_seq(&mut access)?;
    let rest = access.items.len();
    if rest > 0 {
        return Err(DeError::new(format!(
            "expected {} items, got {}",
            access.index,
            access.index + rest
        )));
    }
    Ok(value)
}

impl<'de> de::Deserializer<'de> for Deserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => visit_seq(items, visitor),
            Value::Map(map) => visitor.visit_map(MapAccess::new(map, None)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Str(s) => str_bool(s, visitor),
            _ => Err(expected("a boolean", self.node)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.int(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.float(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.float(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => str_char(s, visitor),
            Value::Int(i) if (0..10).contains(i) => {
                visitor.visit_char(char::from(b'0' + (*i as u8)))
            }
            _ => Err(expected("a single character", self.node)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            Value::Seq(items) => visit_seq(items, visitor),
            _ => Err(expected("a string", self.node)),
        }
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(expected("null", self.node)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(map) => visitor.visit_map(MapAccess::new(map, None)),
            _ => Err(expected("a mapping", self.node)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(map) => visitor.visit_map(MapAccess::new(map, Some(fields))),
            _ => Err(expected("a mapping", self.node)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_enum(StrEnum { name: s }),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => match self.node.scalar_string() {
                Some(s) => visitor.visit_enum(s.into_deserializer()),
                None => Err(expected("a string or a mapping with one key", self.node)),
            },
            Value::Map(map) if map.len() == 1 => match map.iter().next() {
                Some((key, value)) => visitor.visit_enum(MapEnum { key, value }),
                None => Err(expected("a string or a mapping with one key", self.node)),
            },
            Value::Map(map) => Err(DeError::new(format!(
                "expected a string or a mapping with one key, got a mapping with {} keys",
                map.len()
            ))),
            _ => Err(expected("a string or a mapping with one key", self.node)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(Deserializer::new(node))
            .map(Some)
            .map_err(|e| e.within(node, Seg::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'de> {
    entries: indexmap::map::Iter<'de, Key, Node>,
    /// The fields of the struct being deserialized; `None` for a map.
    fields: Option<&'static [&'static str]>,
    value: Option<(&'de Key, &'de Node)>,
}

impl<'de> MapAccess<'de> {
    fn new(map: &'de crate::yaml::Map, fields: Option<&'static [&'static str]>) -> Self {
        MapAccess {
            entries: map.iter(),
            fields,
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        loop {
            let Some((key, value)) = self.entries.next() else {
                return Ok(None);
            };
            if let Some(fields) = self.fields
                && !fields.contains(&key.name.as_str())
            {
                if key.name.starts_with("x-") {
                    continue;
                }
                return Err(DeError::new(unknown_key_message(&key.name, fields)).at(&key.pos));
            }
            self.value = Some((key, value));
            return seed
                .deserialize(KeyDeserializer { name: &key.name })
                .map(Some)
                .map_err(|e| e.at(&key.pos));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, node)) = self.value.take() else {
            return Err(DeError::new("a map value was asked for before its key"));
        };
        seed.deserialize(Deserializer::new(node))
            .map_err(|e| e.within(node, Seg::Key(key.name.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An externally tagged enum written as `{variant: content}`.
struct MapEnum<'de> {
    key: &'de Key,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for MapEnum<'de> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DeError> {
        let v = seed
            .deserialize(KeyDeserializer {
                name: &self.key.name,
            })
            .map_err(|e| e.at(&self.key.pos))?;
        Ok((v, self))
    }
}

impl<'de> MapEnum<'de> {
    fn locate(&self, e: DeError) -> DeError {
        e.within(self.value, Seg::Key(self.key.name.clone()))
    }
}

impl<'de> de::VariantAccess<'de> for MapEnum<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match &self.value.value {
            Value::Null => Ok(()),
            _ => Err(self.locate(expected("null", self.value))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(Deserializer::new(self.value))
            .map_err(|e| self.locate(e))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(Deserializer::new(self.value), visitor)
            .map_err(|e| self.locate(e))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(Deserializer::new(self.value), "", fields, visitor)
            .map_err(|e| self.locate(e))
    }
}

/// An enum written as a plain string: a unit variant.
struct StrEnum<'de> {
    name: &'de str,
}

impl<'de> de::EnumAccess<'de> for StrEnum<'de> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DeError> {
        let v = seed.deserialize(KeyDeserializer { name: self.name })?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for StrEnum<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, DeError> {
        Err(self.needs_content())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.needs_content())
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, DeError> {
        Err(self.needs_content())
    }
}

impl StrEnum<'_> {
    fn needs_content(&self) -> DeError {
        DeError::new(format!(
            "{:?} needs a value: write it as a mapping `{}: …`",
            self.name, self.name
        ))
    }
}

/// A mapping key (or an enum's variant name): a string, cast when a typed key is asked for
/// (`HashMap<u16, _>`, a key enum).
struct KeyDeserializer<'de> {
    name: &'de str,
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.name)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_bool(self.name, visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_int(self.name, visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_float(self.name, visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_float(self.name, visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        str_char(self.name, visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_bytes(self.name.as_bytes())
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_bytes(self.name.as_bytes())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(StrEnum { name: self.name })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        str string identifier unit unit_struct seq tuple tuple_struct map struct
    }
}

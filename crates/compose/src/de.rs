//! A serde `Deserializer` over the positioned YAML tree, so that every error of the typed
//! model names the file, line, column and the path in the model (`services.web.ports[1]`).
//!
//! It is self-describing like `serde_yaml` (`deserialize_any` gives a node's native type), and
//! it casts scalars the way Docker Compose does when a typed field asks for them, because
//! interpolated values (`${VAR}`) come out as strings: `"yes"` is a boolean, `"12"` an integer.
//!
//! Structs are strict: a key that is not a field of the struct (or an alias of one) is an
//! error with a did-you-mean hint, except extension keys (`x-…`), which are skipped; models
//! need no `deny_unknown_fields`. Maps are not checked. For fields with a short and a long
//! syntax, use [`struct_from_map`] rather than `#[serde(untagged)]` (see there why).
//! Compose's merge tags (`!reset`, `!override`) are ignored here: merging is done by then.
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
    /// For the value of a struct's entry: its key and the struct's fields. A struct's visitor
    /// ignores the value of a key it does not know, so `deserialize_ignored_any` is where an
    /// unknown key shows, without comparing every key with every field name up front.
    entry: Option<(&'de Key, &'static [&'static str])>,
}

impl<'de> Deserializer<'de> {
    pub fn new(node: &'de Node) -> Self {
        Deserializer { node, entry: None }
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
    /// Located at a key: the path is its mapping's, so the entry's segment is not added.
    at_key: bool,
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
            at_key: false,
        }))
    }

    /// An unknown key of a struct.
    fn unknown_key(key: &Key, fields: &[&str]) -> Self {
        let mut e = DeError::new(unknown_key_message(&key.name, fields)).at(&key.pos);
        e.0.at_key = true;
        e
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
        if e.0.at_key {
            e.0.at_key = false;
        } else {
            e.0.rev_path.push(seg);
        }
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

/// `additional property "imag" is not allowed (did you mean "image"?)`.
pub(crate) fn unknown_key_message(key: &str, expected: &[&str]) -> String {
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
        if let Some((key, fields)) = self.entry
            && !fields.contains(&key.name.as_str())
        {
            return Err(DeError::unknown_key(key, fields));
        }
        visitor.visit_unit()
    }
}

/// Deserializes a struct from the `MapAccess` a visitor's `visit_map` was handed, keeping the
/// checks and casts of this module.
///
/// This is for fields with a short and a long syntax (`ports: ["80:80", {target: 80}]`):
/// write a `Deserialize` impl that calls `deserialize_any` with a visitor whose `visit_str`
/// parses the short form and whose `visit_map` returns `struct_from_map(map)`. Prefer that to
/// `#[serde(untagged)]`: an untagged enum buffers its input in serde's private `Content` type,
/// which loses this module's casts (`published: 8080` is no longer a string) and reports only
/// "data did not match any variant". `serde::de::value::MapAccessDeserializer` would keep the
/// casts but drop the unknown-key check; this keeps both, with the key's position.
pub fn struct_from_map<'de, T, A>(map: A) -> Result<T, A::Error>
where
    T: de::Deserialize<'de>,
    A: de::MapAccess<'de>,
{
    T::deserialize(StructFromMap { map })
}

struct StructFromMap<A> {
    map: A,
}

impl<'de, A: de::MapAccess<'de>> de::Deserializer<'de> for StructFromMap<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.map)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(CheckedMap {
            map: self.map,
            fields,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A `MapAccess` that refuses keys not in `fields` and skips `x-` keys.
struct CheckedMap<A> {
    map: A,
    fields: &'static [&'static str],
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for CheckedMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        loop {
            let field = self.map.next_key_seed(FieldSeed {
                seed: &mut seed,
                fields: self.fields,
            })?;
            match field {
                None => return Ok(None),
                Some(Field::Known(v)) => return Ok(Some(v)),
                Some(Field::Skip) => {
                    self.map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

enum Field<V> {
    Known(V),
    Skip,
}

/// Reads a key, checks it against `fields`, and hands it on to the struct's own key seed.
struct FieldSeed<'s, K> {
    seed: &'s mut Option<K>,
    fields: &'static [&'static str],
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for FieldSeed<'_, K> {
    type Value = Field<K::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> FieldSeed<'_, K> {
    /// Whether `key` is kept; an error for an unknown key.
    fn check<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        if self.fields.contains(&key) {
            Ok(true)
        } else if key.starts_with("x-") {
            Ok(false)
        } else {
            Err(E::custom(unknown_key_message(key, self.fields)))
        }
    }

    fn take<E: de::Error>(self) -> Result<K, E> {
        self.seed
            .take()
            .ok_or_else(|| E::custom("a struct key was read twice"))
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for FieldSeed<'_, K> {
    type Value = Field<K::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        if !self.check(key)? {
            return Ok(Field::Skip);
        }
        let seed = self.take()?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Field::Known)
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        if !self.check(key)? {
            return Ok(Field::Skip);
        }
        let seed = self.take()?;
        seed.deserialize(de::value::StrDeserializer::new(key))
            .map(Field::Known)
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
            // Extension keys are skipped; other unknown keys show when the struct's visitor
            // ignores their value (see `Deserializer::entry`).
            if let Some(fields) = self.fields
                && key.name.starts_with("x-")
                && !fields.contains(&key.name.as_str())
            {
                continue;
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
        let de = Deserializer {
            node,
            entry: self.fields.map(|fields| (key, fields)),
        };
        seed.deserialize(de)
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use indexmap::IndexMap;
    use serde::Deserialize;

    use super::*;
    use crate::yaml::parse;

    fn node(text: &str) -> Node {
        parse(&Arc::from("t.yaml"), text).unwrap()
    }

    fn load<T: de::DeserializeOwned>(text: &str) -> T {
        match from_node(&node(text), "") {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// (line, col, path, message) of the error of loading `text` as a `T`.
    fn fail<T: de::DeserializeOwned + fmt::Debug>(text: &str) -> (usize, usize, String, String) {
        match from_node::<T>(&node(text), "") {
            Err(crate::Error::At { pos, path, message }) => {
                assert_eq!(&*pos.file, "t.yaml");
                (pos.line, pos.col, path, message)
            }
            other => panic!("expected an located error, got {other:?}"),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Project {
        services: IndexMap<String, Service>,
        #[serde(default)]
        volumes: BTreeMap<String, Option<Volume>>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default)]
    struct Service {
        image: Option<String>,
        tty: bool,
        cpu_shares: Option<i64>,
        cpus: Option<f32>,
        #[serde(alias = "mem")]
        mem_limit: Option<String>,
        ports: Vec<Port>,
        environment: HashMap<String, Option<String>>,
        restart: Option<Restart>,
        #[serde(deserialize_with = "even")]
        scale: u32,
        healthcheck: Option<Healthcheck>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    struct Volume {
        driver: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Healthcheck {
        test: Vec<String>,
        interval: Option<u64>,
    }

    /// Short syntax `"8080:80"` or long syntax `{target: 80, published: "8080"}`.
    #[derive(Debug, PartialEq)]
    enum Port {
        Short(String),
        Long(LongPort),
    }

    impl<'de> Deserialize<'de> for Port {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Port;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a port string or mapping")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Port, E> {
                    Ok(Port::Short(s.to_string()))
                }
                fn visit_i64<E: de::Error>(self, i: i64) -> Result<Port, E> {
                    Ok(Port::Short(i.to_string()))
                }
                fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Port, A::Error> {
                    struct_from_map(map).map(Port::Long)
                }
            }
            d.deserialize_any(V)
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct LongPort {
        target: u16,
        published: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Restart {
        No,
        Always,
        UnlessStopped,
        OnFailure(u32),
        Custom { policy: String, retries: Option<u8> },
    }

    fn even<'de, D: de::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let n = u32::deserialize(d)?;
        if n % 2 == 1 {
            return Err(de::Error::custom(format!("{n} is odd")));
        }
        Ok(n)
    }

    const FILE: &str = "\
services:
  web:
    image: nginx
    x-note: anything at all
    tty: \"yes\"
    cpu_shares: \"12\"
    cpus: \"1.5\"
    mem: 1g
    ports:
      - 8080:80
      - target: 443
        published: 8443
    environment:
      A: 1
      B:
      C: \"x\"
    restart: unless-stopped
    scale: 4
  db:
    healthcheck:
      test: [CMD, true]
      interval: 30.0
    restart:
      on-failure: 3
volumes:
  data:
  cache: {driver: local}
";

    #[test]
    fn values_and_coercions() {
        let p: Project = load(FILE);
        let web = &p.services["web"];
        assert_eq!(web.image.as_deref(), Some("nginx"));
        assert!(web.tty);
        assert_eq!(web.cpu_shares, Some(12));
        assert_eq!(web.cpus, Some(1.5));
        assert_eq!(web.mem_limit.as_deref(), Some("1g"), "alias works");
        assert_eq!(
            web.ports,
            vec![
                Port::Short("8080:80".into()),
                Port::Long(LongPort {
                    target: 443,
                    published: Some("8443".into())
                })
            ]
        );
        assert_eq!(web.environment["A"].as_deref(), Some("1"));
        assert_eq!(web.environment["B"], None);
        assert_eq!(web.environment["C"].as_deref(), Some("x"));
        assert_eq!(web.restart, Some(Restart::UnlessStopped));
        assert_eq!(web.scale, 4);
        let db = &p.services["db"];
        let hc = db.healthcheck.as_ref().unwrap();
        assert_eq!(hc.test, vec!["CMD".to_string(), "true".to_string()]);
        assert_eq!(hc.interval, Some(30));
        assert_eq!(db.restart, Some(Restart::OnFailure(3)));
        assert_eq!(p.volumes["data"], None);
        assert_eq!(
            p.volumes["cache"].as_ref().unwrap().driver.as_deref(),
            Some("local")
        );
        let keys: Vec<_> = p.services.keys().collect();
        assert_eq!(keys, ["web", "db"], "IndexMap keeps file order");
    }

    #[test]
    fn boolean_cast_matches_compose() {
        #[derive(Debug, Deserialize)]
        struct B {
            b: bool,
        }
        for (text, want) in [
            ("true", true),
            ("\"TRUE\"", true),
            ("\"y\"", true),
            ("\"Yes\"", true),
            ("\"on\"", true),
            ("\"false\"", false),
            ("\"N\"", false),
            ("no", false),
            ("\"OFF\"", false),
        ] {
            let v: B = load(&format!("b: {text}\n"));
            assert_eq!(v.b, want, "{text}");
        }
        for bad in ["\"1\"", "\"t\"", "1", "[]"] {
            let (line, col, path, msg) = fail::<B>(&format!("b: {bad}\n"));
            assert_eq!((line, col, path.as_str()), (1, 4, "b"), "{bad}");
            assert!(msg.starts_with("expected a boolean, got "), "{msg}");
        }
    }

    #[test]
    fn number_casts() {
        #[derive(Debug, Deserialize)]
        struct N {
            i: i32,
            u: u8,
            f: f64,
            s: String,
        }
        let n: N = load("i: \"-3\"\nu: 7.0\nf: \"1e1\"\ns: 1.5\n");
        assert_eq!((n.i, n.u, n.f, n.s.as_str()), (-3, 7, 10.0, "1.5"));
        let n: N = load("i: +4\nu: \"255\"\nf: 2\ns: true\n");
        assert_eq!((n.i, n.u, n.f, n.s.as_str()), (4, 255, 2.0, "true"));

        let (_, _, path, msg) = fail::<N>("i: abc\nu: 1\nf: 1\ns: x\n");
        assert_eq!(
            (path.as_str(), msg.as_str()),
            ("i", "expected an integer, got \"abc\"")
        );
        let (_, _, _, msg) = fail::<N>("i: 1.5\nu: 1\nf: 1\ns: x\n");
        assert_eq!(msg, "expected an integer, got number 1.5");
        let (line, col, path, msg) = fail::<N>("i: 1\nu: 256\nf: 1\ns: x\n");
        assert_eq!((line, col, path.as_str()), (2, 4, "u"));
        assert!(msg.contains("256"), "{msg}");
        let (_, _, _, msg) = fail::<N>("i: 1\nu: 1\nf: x1\ns: x\n");
        assert_eq!(msg, "expected a number, got \"x1\"");
        let (_, _, _, msg) = fail::<N>("i: 1\nu: 1\nf: 1\ns: [x]\n");
        assert_eq!(msg, "expected a string, got a sequence");
    }

    #[test]
    fn unknown_key_with_did_you_mean() {
        let text = "services:\n  web:\n    image: x\n    imag: y\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (4, 5), "the key's position");
        assert_eq!(path, "services.web");
        assert_eq!(
            msg,
            "additional property \"imag\" is not allowed (did you mean \"image\"?)"
        );

        let (_, _, _, msg) = fail::<Project>("services:\n  web:\n    zzzzzz: 1\n");
        assert_eq!(msg, "additional property \"zzzzzz\" is not allowed");

        let (line, col, path, msg) = fail::<Project>("services: {}\nx-top: 1\nvolume: {}\n");
        assert_eq!((line, col, path.as_str()), (3, 1, ""));
        assert!(msg.contains("did you mean \"volumes\""), "{msg}");
    }

    #[test]
    fn wrong_type_deep_inside_a_seq() {
        let text = "services:\n  web:\n    ports:\n      - 80\n      - target: http\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (5, 17));
        assert_eq!(path, "services.web.ports[1].target");
        assert_eq!(msg, "expected an integer, got \"http\"");

        let text = "services:\n  web:\n    ports:\n      - {target: 1, publised: 2}\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (4, 21), "the key, through struct_from_map");
        assert_eq!(path, "services.web.ports[0]");
        assert!(msg.ends_with("(did you mean \"published\"?)"), "{msg}");

        let text = "services:\n  web:\n    healthcheck:\n      test: [a, [b]]\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (4, 17));
        assert_eq!(path, "services.web.healthcheck.test[1]");
        assert_eq!(msg, "expected a string, got a sequence");

        let text = "services:\n  web:\n    healthcheck:\n      test: []\n      interval: 1m\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (5, 17));
        assert_eq!(path, "services.web.healthcheck.interval");
        assert_eq!(msg, "expected an integer, got \"1m\"");
    }

    #[test]
    fn seq_and_map_mismatches() {
        let text = "services:\n  web:\n    ports: {a: 1}\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col, path.as_str()), (3, 12, "services.web.ports"));
        assert_eq!(msg, "expected a sequence, got a mapping");

        let (line, col, path, msg) = fail::<Project>("services:\n  - web\n");
        assert_eq!((line, col, path.as_str()), (2, 3, "services"));
        assert_eq!(msg, "expected a mapping, got a sequence");

        let (_, _, path, msg) = fail::<Project>("services:\n  web:\n");
        assert_eq!(path, "services.web");
        assert_eq!(msg, "expected a mapping, got null");
    }

    #[test]
    fn missing_field_is_at_the_mapping() {
        let text = "services:\n  web:\n    healthcheck:\n      interval: 3\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (4, 7));
        assert_eq!(path, "services.web.healthcheck");
        assert_eq!(msg, "missing required property \"test\"");

        let (line, col, path, _) = fail::<Project>("volumes: {}\n");
        assert_eq!((line, col, path.as_str()), (1, 1, ""));
    }

    #[test]
    fn custom_error_from_deserialize_with() {
        let text = "services:\n  a: {}\n  b:\n    scale: 3\n";
        let (line, col, path, msg) = fail::<Project>(text);
        assert_eq!((line, col), (4, 12));
        assert_eq!(path, "services.b.scale");
        assert_eq!(msg, "3 is odd");
    }

    #[test]
    fn custom_error_from_a_deserialize_impl() {
        #[derive(Debug)]
        struct Duration(u64);
        impl<'de> Deserialize<'de> for Duration {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                match s.strip_suffix('s').map(str::parse) {
                    Some(Ok(n)) => Ok(Duration(n)),
                    _ => Err(de::Error::invalid_value(
                        de::Unexpected::Str(&s),
                        &"a duration like 10s",
                    )),
                }
            }
        }
        #[derive(Debug, Deserialize)]
        struct T {
            #[allow(dead_code)]
            d: Vec<Duration>,
        }
        let t: T = load("d: [1s, 20s]\n");
        assert_eq!(t.d[1].0, 20);
        let (line, col, path, msg) = fail::<T>("d:\n  - 1s\n  - 2m\n");
        assert_eq!((line, col, path.as_str()), (3, 5, "d[1]"));
        assert!(msg.contains("a duration like 10s"), "{msg}");
    }

    #[test]
    fn extension_keys_are_skipped_in_structs_but_kept_in_maps() {
        #[derive(Debug, Deserialize)]
        struct S {
            a: i32,
            m: BTreeMap<String, i32>,
        }
        let s: S = load("x-a: {anything: [1]}\na: 1\nm: {x-b: 2, c: 3}\nx-z: ~\n");
        assert_eq!(s.a, 1);
        assert_eq!(s.m.len(), 2);
        assert_eq!(s.m["x-b"], 2);
    }

    #[test]
    fn unknown_keys_are_found_without_false_alarms() {
        #[derive(Debug, Deserialize)]
        struct S {
            #[allow(dead_code)]
            ignored: de::IgnoredAny,
            #[serde(rename = "x-kept")]
            kept: Option<i32>,
        }
        let s: S = load("ignored: [1, {a: b}]\nx-kept: 3\nx-other: 4\n");
        assert_eq!(s.kept, Some(3));
        let (line, col, path, msg) = fail::<S>("ignored: 1\nother:\n  deep: [1]\n");
        assert_eq!((line, col, path.as_str()), (2, 1, ""));
        assert_eq!(msg, "additional property \"other\" is not allowed");
        let (line, col, path, _) = fail::<BTreeMap<String, S>>("a:\n  ignored: 1\n  ignord: 2\n");
        assert_eq!((line, col, path.as_str()), (3, 3, "a"));
    }

    #[test]
    fn options() {
        #[derive(Debug, Deserialize)]
        struct O {
            a: Option<i32>,
            b: Option<i32>,
            #[serde(default)]
            c: Option<i32>,
            d: Option<Option<String>>,
        }
        let o: O = load("a: ~\nb: \"5\"\nd: x\n");
        assert_eq!((o.a, o.b, o.c), (None, Some(5), None));
        assert_eq!(o.d, Some(Some("x".into())));
    }

    #[test]
    fn enums() {
        #[derive(Debug, Deserialize)]
        struct E {
            r: Vec<Restart>,
        }
        let e: E = load(
            "r:\n  - no\n  - always\n  - on-failure: \"2\"\n  - custom: {policy: p}\n  - always: ~\n",
        );
        assert_eq!(
            e.r,
            vec![
                Restart::No,
                Restart::Always,
                Restart::OnFailure(2),
                Restart::Custom {
                    policy: "p".into(),
                    retries: None
                },
                Restart::Always,
            ]
        );

        let (line, col, path, msg) = fail::<E>("r:\n  - always\n  - alwys\n");
        assert_eq!((line, col, path.as_str()), (3, 5, "r[1]"));
        assert!(
            msg.starts_with("unknown value \"alwys\", expected one of"),
            "{msg}"
        );
        assert!(msg.ends_with("(did you mean \"always\"?)"), "{msg}");

        let (line, col, path, _) = fail::<E>("r:\n  - on-failur: 1\n");
        assert_eq!(
            (line, col, path.as_str()),
            (2, 5, "r[0]"),
            "the variant key"
        );

        let (line, col, path, msg) = fail::<E>("r:\n  - custom: {policy: p, retris: 1}\n");
        assert_eq!((line, col, path.as_str()), (2, 25, "r[0].custom"));
        assert!(msg.contains("did you mean \"retries\""), "{msg}");

        let (line, col, path, _) = fail::<E>("r:\n  - custom: {policy: p, retries: 300}\n");
        assert_eq!((line, col, path.as_str()), (2, 34, "r[0].custom.retries"));

        let (_, _, path, msg) = fail::<E>("r: [on-failure]\n");
        assert_eq!(path, "r[0]");
        assert!(msg.contains("needs a value"), "{msg}");

        let (_, _, _, msg) = fail::<E>("r: [{no: ~, always: ~}]\n");
        assert_eq!(
            msg,
            "expected a string or a mapping with one key, got a mapping with 2 keys"
        );
    }

    #[test]
    fn deny_unknown_fields_and_flatten() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            #[allow(dead_code)]
            name: String,
        }
        // Our own check runs first, so the message and position are the same either way.
        let (line, col, _, msg) = fail::<Strict>("name: a\nnmae: b\n");
        assert_eq!((line, col), (2, 1));
        assert_eq!(
            msg,
            "additional property \"nmae\" is not allowed (did you mean \"name\"?)"
        );

        #[derive(Debug, Deserialize)]
        struct Flat {
            name: String,
            #[serde(flatten)]
            rest: BTreeMap<String, serde_json::Value>,
        }
        let f: Flat = load("name: a\nother: [1, {b: c}]\n");
        assert_eq!(f.name, "a");
        assert_eq!(f.rest["other"], serde_json::json!([1, {"b": "c"}]));
    }

    #[test]
    fn struct_from_map_skips_extensions_and_untagged_enums_lose_casts() {
        let p: Vec<Port> = load("- {x-a: 1, target: \"80\"}\n");
        assert_eq!(
            p,
            vec![Port::Long(LongPort {
                target: 80,
                published: None
            })]
        );

        // serde's untagged enums buffer the input and cast nothing: `published: 8443` fails.
        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        enum Untagged {
            #[allow(dead_code)]
            Short(String),
            #[allow(dead_code)]
            Long(LongPort),
        }
        let (line, col, path, msg) = fail::<Vec<Untagged>>("- a\n- {target: 1, published: 2}\n");
        assert_eq!((line, col, path.as_str()), (2, 3, "[1]"));
        assert!(msg.contains("did not match any variant"), "{msg}");
    }

    #[test]
    fn any_gives_native_types() {
        let n = node("a: [1, 1.5, true, ~, s, {k: v}]\n\"1\": x\n");
        let j: serde_json::Value = from_node(&n, "").unwrap();
        assert_eq!(j, n.to_json());
        assert_eq!(j["a"][0], 1);
        assert_eq!(j["a"][1], 1.5);
        assert_eq!(j["a"][2], true);
        assert!(j["a"][3].is_null());
    }

    #[test]
    fn typed_map_keys_and_nested_maps() {
        let m: HashMap<u16, BTreeMap<String, IndexMap<String, bool>>> =
            load("80: {a: {x: yes, y: \"off\"}}\n443: {}\n");
        assert!(m[&80]["a"]["x"]);
        assert!(!m[&80]["a"]["y"]);
        assert!(m[&443].is_empty());

        let (line, col, path, msg) = fail::<HashMap<u16, i32>>("a: 1\nhttp: 2\n");
        assert_eq!((line, col, path.as_str()), (1, 1, ""));
        assert_eq!(msg, "expected an integer, got \"a\"");

        let (line, col, path, _) =
            fail::<BTreeMap<String, HashMap<String, i32>>>("outer:\n  inner: 1\n  bad: x\n");
        assert_eq!((line, col, path.as_str()), (3, 8, "outer.bad"));
    }

    #[test]
    fn prefix_path_and_tuples() {
        let n = node("services:\n  web:\n    image: 3\n    ports: [[1, 2], [3, x]]\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        #[derive(Debug, Deserialize)]
        struct W {
            #[allow(dead_code)]
            image: String,
            #[allow(dead_code)]
            ports: Vec<(u8, u8)>,
        }
        match from_node::<W>(web, "services.web") {
            Err(e) => assert_eq!(
                e.to_string(),
                "t.yaml:4:25: services.web.ports[1][1]: expected an integer, got \"x\""
            ),
            Ok(w) => panic!("{w:?}"),
        }
        let (_, _, path, msg) = fail::<Vec<(u8, u8)>>("- [1, 2, 3]\n");
        assert_eq!(path, "[0]");
        assert!(msg.contains("3"), "{msg}");
    }

    #[test]
    fn borrowed_strings_and_ignored_values() {
        let n = node("a: hello\nb: [deep, {x: 1}]\n");
        #[derive(Deserialize)]
        struct B<'a> {
            a: &'a str,
        }
        // `b` is not a field: an error. Via a map, values are ignored fine.
        assert!(B::deserialize(Deserializer::new(&n)).is_err());
        let m: BTreeMap<&str, de::IgnoredAny> =
            BTreeMap::deserialize(Deserializer::new(&n)).unwrap();
        assert_eq!(m.len(), 2);
        let one = node("a: hello\n");
        let b = B::deserialize(Deserializer::new(&one)).unwrap();
        assert_eq!(b.a, "hello");
    }

    #[test]
    fn a_thousand_services_load_quickly() {
        let mut text = String::from("services:\n");
        for i in 0..1000 {
            text.push_str(&format!(
                "  s{i}:\n    image: img{i}\n    tty: true\n    cpu_shares: {i}\n    mem: 1g\n    \
                 ports: [\"{i}:80\", {{target: 80}}]\n    environment: {{A: a, B: \"2\"}}\n    \
                 restart: always\n    healthcheck: {{test: [CMD, x], interval: 5}}\n"
            ));
        }
        let n = node(&text);
        let start = std::time::Instant::now();
        let p: Project = from_node(&n, "").unwrap();
        let took = start.elapsed();
        assert_eq!(p.services.len(), 1000);
        eprintln!("1000 services deserialized in {took:?}");
        assert!(took.as_secs() < 2, "{took:?}");
    }
}

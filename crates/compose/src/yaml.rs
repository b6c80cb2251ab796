//! A YAML tree that remembers where every node came from.
//!
//! The loader interpolates, merges and extends compose files on this tree rather than on a
//! plain value type, so that an error found at any later stage can still name the file, line
//! and column the user wrote. Scalars are resolved as YAML 1.2's core schema (what Docker
//! Compose's go-yaml does for untyped values); the typed model asks for what it needs later.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Where a node starts: file, 1-based line and 1-based column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Self {
        Pos {
            file: Arc::clone(file),
            line,
            col,
        }
    }

    /// A position for values that no file holds (command-line input, defaults).
    pub fn none() -> Self {
        Pos {
            file: Arc::from(""),
            line: 0,
            col: 0,
        }
    }

    fn from_span(file: &Arc<str>, span: &Span) -> Self {
        Pos::new(file, span.start.line(), span.start.col() + 1)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// The compose-specific YAML tags that steer merging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: drop what earlier files set for this key.
    Reset,
    /// `!override`: replace what earlier files set instead of merging.
    Override,
}

/// One node of the tree.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: Option<Tag>,
}

/// A node's value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// A mapping, in file order.
pub type Map = IndexMap<Key, Node, rustc_hash::FxBuildHasher>;

/// A mapping key: compared by name only, and remembering where it was written.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Key {
    pub fn new(name: impl Into<String>, pos: Pos) -> Self {
        Key {
            name: name.into(),
            pos,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}
impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.name
    }
}
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Self {
        Node {
            value,
            pos,
            tag: None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The entry `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Where the node at a model path (`services.web.ports[1]`) was written: the key's position
    /// for a mapping entry, the item's for a sequence index. When the path goes further than
    /// the tree (a value normalization added), the deepest node found answers.
    pub fn locate(&self, path: &str) -> &Pos {
        let mut node = self;
        let mut pos = &self.pos;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let (key, indexes) = match seg.find('[') {
                Some(i) => (&seg[..i], &seg[i..]),
                None => (seg, ""),
            };
            if !key.is_empty() {
                let Some((k, v)) = node.as_map().and_then(|m| m.get_key_value(key)) else {
                    return pos;
                };
                pos = &k.pos;
                node = v;
            }
            for idx in indexes.split('[').filter_map(|s| s.strip_suffix(']')) {
                let Some(item) = idx
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| node.as_seq()?.get(i))
                else {
                    return pos;
                };
                pos = &item.pos;
                node = item;
            }
        }
        pos
    }

    /// A scalar as text, as Docker Compose turns scalars into strings (`1` → "1").
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short name for the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    /// Converts to JSON, dropping positions and tags.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a tree from JSON, every node at `pos`.
    pub fn from_json(v: &serde_json::Value, pos: &Pos) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(|x| Node::from_json(x, pos)).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, x)| (Key::new(k.clone(), pos.clone()), Node::from_json(x, pos)))
                    .collect(),
            ),
        };
        Node::new(value, pos.clone())
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` would for ordinary values.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        let s = format!("{f}");
        s
    }
}

/// A YAML syntax error, or a structural one (duplicate key, bad merge key, alias bomb).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// How many nodes one document may expand to through aliases ("billion laughs" guard).
const MAX_NODES: usize = 1_000_000;
/// How deep collections may nest.
const MAX_DEPTH: usize = 256;

/// Texts at least this long are parsed on two threads: the scanner and parser on one, the
/// tree built from their events on the other.
const PIPELINE_MIN_BYTES: usize = 64 * 1024;
/// Events handed from the parsing thread to the building one at a time.
const BATCH: usize = 512;

fn scan_error(file: &Arc<str>, e: &saphyr_parser::ScanError) -> YamlError {
    YamlError {
        pos: Pos::new(file, e.marker().line(), e.marker().col() + 1),
        message: e.info().to_string(),
    }
}

/// Parses one YAML document. An empty document gives a null node.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Node, YamlError> {
    parse_with(file, text, text.len() >= PIPELINE_MIN_BYTES)
}

fn parse_with(file: &Arc<str>, text: &str, pipeline: bool) -> Result<Node, YamlError> {
    let mut b = Builder {
        file: Arc::clone(file),
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        nodes: 0,
        documents: 0,
    };
    // The same events in the same order either way, so the same tree and the same first
    // error: the parser stops at its first error, the builder at its own (then the parser's
    // next send fails and it stops too).
    let pipelined = pipeline
        && std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<_>>(8);
            let parse = move || {
                let mut batch = Vec::with_capacity(BATCH);
                for ev in Parser::new_from_str(text) {
                    let failed = ev.is_err();
                    batch.push(ev);
                    if failed || batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() || failed {
                            return;
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
            };
            // No thread to be had: parse on this one, below.
            if std::thread::Builder::new().spawn_scoped(s, parse).is_err() {
                return Ok(false);
            }
            for batch in rx {
                for ev in batch {
                    let (event, span) = ev.map_err(|e| scan_error(file, &e))?;
                    b.event(event, &span)?;
                }
            }
            Ok::<bool, YamlError>(true)
        })?;
    if !pipelined {
        for ev in Parser::new_from_str(text) {
            let (event, span) = ev.map_err(|e| scan_error(file, &e))?;
            b.event(event, &span)?;
        }
    }
    Ok(b.root
        .unwrap_or_else(|| Node::new(Value::Null, Pos::new(file, 1, 1))))
}

enum Frame {
    Seq {
        node: Node,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        node: Node,
        entries: Map,
        merges: Vec<Node>,
        key: Option<Node>,
        anchor: usize,
    },
}

struct Builder {
    file: Arc<str>,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
}

impl Builder {
    fn err(&self, pos: &Pos, message: impl Into<String>) -> YamlError {
        YamlError {
            pos: pos.clone(),
            message: message.into(),
        }
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = || Pos::from_span(&self.file, span);
        match event {
            Event::DocumentStart(_) => {
                let pos = pos();
                self.documents += 1;
                if self.documents > 1 {
                    return Err(
                        self.err(&pos, "only one YAML document per compose file is supported")
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let pos = pos();
                let (value, ctag) = resolve_scalar(text, style, tag.as_deref().map(tag_name))
                    .map_err(|m| self.err(&pos, m))?;
                let node = Node {
                    value,
                    pos,
                    tag: ctag,
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let pos = pos();
                self.push_depth(&pos)?;
                let node = Node {
                    value: Value::Null,
                    pos,
                    tag: compose_tag(tag.as_deref().map(tag_name)),
                };
                self.stack.push(Frame::Seq {
                    node,
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                let pos = pos();
                self.push_depth(&pos)?;
                let node = Node {
                    value: Value::Null,
                    pos,
                    tag: compose_tag(tag.as_deref().map(tag_name)),
                };
                self.stack.push(Frame::Map {
                    node,
                    entries: Map::default(),
                    merges: Vec::new(),
                    key: None,
                    anchor,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    mut node,
                    items,
                    anchor,
                }) = self.stack.pop()
                {
                    node.value = Value::Seq(items);
                    self.finish(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut node,
                    mut entries,
                    merges,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    apply_merge_keys(&mut entries, merges);
                    node.value = Value::Map(entries);
                    self.finish(node, anchor)?;
                }
            }
            Event::Alias(id) => {
                let pos = pos();
                let Some(target) = self.anchors.get(&id) else {
                    return Err(self.err(&pos, "unknown anchor"));
                };
                let mut node = target.clone();
                self.nodes += count_nodes(&node);
                if self.nodes > MAX_NODES {
                    return Err(
                        self.err(&pos, "document expands to too many nodes through aliases")
                    );
                }
                // An alias keeps its target's content but is reported where it is used.
                node.pos = pos;
                self.add(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn push_depth(&self, pos: &Pos) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err(pos, "collections nested too deeply"));
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err(&node.pos, "document has too many nodes"));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.add(node)
    }

    fn add(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => {
                    *key = Some(node);
                    Ok(())
                }
                Some(k) => {
                    let name = match k.value {
                        Value::Str(s) if s == "<<" && is_plain_merge(&k) => {
                            merges.push(node);
                            return Ok(());
                        }
                        Value::Str(s) => s,
                        Value::Seq(_) | Value::Map(_) => {
                            return Err(YamlError {
                                pos: k.pos,
                                message: "mapping keys must be scalars".into(),
                            });
                        }
                        _ => k.scalar_string().unwrap_or_else(|| "null".into()),
                    };
                    let (line, col) = (k.pos.line, k.pos.col);
                    match entries.entry(Key::new(name, k.pos)) {
                        // The error is at the second key; the names are equal.
                        indexmap::map::Entry::Occupied(prev) => Err(YamlError {
                            message: format!(
                                "mapping key {:?} already defined at line {}",
                                prev.key().name,
                                prev.key().pos.line
                            ),
                            pos: Pos::new(&self.file, line, col),
                        }),
                        indexmap::map::Entry::Vacant(slot) => {
                            slot.insert(node);
                            Ok(())
                        }
                    }
                }
            },
        }
    }
}

fn is_plain_merge(_k: &Node) -> bool {
    true
}

/// `<<: *a` / `<<: [*a, *b]`: keys of the merged maps fill in what the map itself lacks; of
/// several merged maps, the earlier one wins.
fn apply_merge_keys(entries: &mut Map, merges: Vec<Node>) {
    for m in merges {
        let sources: Vec<Node> = match m.value {
            Value::Seq(items) => items,
            _ => vec![m],
        };
        for src in sources {
            if let Value::Map(src) = src.value {
                for (k, v) in src {
                    if !entries.contains_key(k.name.as_str()) {
                        entries.insert(k, v);
                    }
                }
            }
        }
    }
}

fn count_nodes(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(s) => s.iter().map(count_nodes).sum(),
        Value::Map(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn tag_name(t: &saphyr_parser::Tag) -> String {
    format!("{}{}", t.handle, t.suffix)
}

fn compose_tag(tag: Option<String>) -> Option<Tag> {
    match tag.as_deref() {
        Some("!reset") => Some(Tag::Reset),
        Some("!override") => Some(Tag::Override),
        _ => None,
    }
}

fn resolve_scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<String>,
) -> Result<(Value, Option<Tag>), String> {
    let ctag = match tag {
        Some(_) => compose_tag(tag.clone()),
        None => None,
    };
    let value = match tag.as_deref() {
        None if style != ScalarStyle::Plain => Value::Str(text.into_owned()),
        Some("tag:yaml.org,2002:str") | Some("!!str") => Value::Str(text.into_owned()),
        Some("tag:yaml.org,2002:int") | Some("!!int") => match parse_int(&text) {
            Some(Int::Signed(i)) => Value::Int(i),
            Some(Int::Unsigned(u)) => Value::Str(u.to_string()),
            None => return Err(format!("cannot decode {text:?} as an integer")),
        },
        Some("tag:yaml.org,2002:float") | Some("!!float") => match parse_float(&text) {
            Some(f) => Value::Float(f),
            None => return Err(format!("cannot decode {text:?} as a float")),
        },
        Some("tag:yaml.org,2002:bool") | Some("!!bool") => match text.as_ref() {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => return Err(format!("cannot decode {text:?} as a boolean")),
        },
        Some("tag:yaml.org,2002:null") | Some("!!null") => Value::Null,
        _ if style != ScalarStyle::Plain => Value::Str(text.into_owned()),
        _ if ctag == Some(Tag::Reset) && text.is_empty() => Value::Null,
        _ => resolve_plain(text),
    };
    Ok((value, ctag))
}

/// The YAML 1.2 core schema, as go-yaml v3 applies it to untyped plain scalars.
fn resolve_plain(text: Cow<'_, str>) -> Value {
    match text.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    // Like go-yaml, only scalars that start like a number are tried as numbers, and `_` is
    // ignored in them.
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.')) {
        return Value::Str(text.into_owned());
    }
    let plain = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text.as_ref())
    };
    match parse_int(&plain) {
        Some(Int::Signed(i)) => return Value::Int(i),
        // Beyond i64: kept exact as text; typed fields parse it when they want a number.
        Some(Int::Unsigned(u)) => return Value::Str(u.to_string()),
        None => {}
    }
    if let Some(f) = parse_float(&plain) {
        return Value::Float(f);
    }
    drop(plain);
    Value::Str(text.into_owned())
}

enum Int {
    Signed(i64),
    Unsigned(u64),
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: `0x`, `0o`, `0b` prefixes, and a
/// leading `0` meaning octal (`0755` is 493, as in Docker Compose).
fn parse_int(text: &str) -> Option<Int> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // The prefixes in either case; digits of any case are accepted by `is_digit` and
    // `from_str_radix` alike.
    let b = body.as_bytes();
    let prefix = if b.len() > 1 && b[0] == b'0' {
        Some(b[1].to_ascii_lowercase())
    } else {
        None
    };
    let (radix, digits) = match prefix {
        Some(b'x') => (16, &body[2..]),
        Some(b'o') => (8, &body[2..]),
        Some(b'b') => (2, &body[2..]),
        Some(_) => (8, &body[1..]),
        None => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let v = i64::try_from(magnitude)
            .map(|m| -m)
            .or_else(|_| (magnitude == 1u64 << 63).then_some(i64::MIN).ok_or(()))
            .ok()?;
        return Some(Int::Signed(v));
    }
    Some(match i64::try_from(magnitude) {
        Ok(i) => Int::Signed(i),
        Err(_) => Int::Unsigned(magnitude),
    })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(&Arc::from("t.yaml"), text).unwrap()
    }

    #[test]
    fn scalars_resolve_as_core_schema() {
        let n = p("a: 1\nb: '1'\nc: true\nd: yes\ne: 1.5\nf: ~\ng: 0x10\nh: 8080:80\ni: 1e3\n");
        let j = n.to_json();
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], "1");
        assert_eq!(j["c"], true);
        assert_eq!(j["d"], "yes");
        assert_eq!(j["e"], 1.5);
        assert!(j["f"].is_null());
        assert_eq!(j["g"], 16);
        assert_eq!(j["h"], "8080:80");
        assert_eq!(j["i"], 1000.0);
    }

    #[test]
    fn integers_follow_go_yaml() {
        let j = p("a: 0755\nb: 0o17\nc: 0b101\nd: 1_000\ne: 12345678901234567890\nf: -9223372036854775808\ng: 08\nh: 0\n").to_json();
        assert_eq!(j["a"], 493);
        assert_eq!(j["b"], 15);
        assert_eq!(j["c"], 5);
        assert_eq!(j["d"], 1000);
        assert_eq!(j["e"], "12345678901234567890");
        assert_eq!(j["f"], i64::MIN);
        assert_eq!(j["g"], 8.0);
        assert_eq!(j["h"], 0);
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("services:\n  web:\n    image: x\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        let image = web.get("image").unwrap();
        assert_eq!((image.pos.line, image.pos.col), (3, 12));
        let (k, _) = web.as_map().unwrap().get_key_value("image").unwrap();
        assert_eq!((k.pos.line, k.pos.col), (3, 5));
        assert_eq!(image.pos.to_string(), "t.yaml:3:12");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x: &a {p: 1, q: 2}\ny: &b {r: 3}\nz:\n  <<: [*a, *b]\n  q: 9\nw: *b\n");
        let j = n.to_json();
        assert_eq!(j["z"], serde_json::json!({"q": 9, "p": 1, "r": 3}));
        assert_eq!(j["w"], serde_json::json!({"r": 3}));
        assert_eq!(n.get("w").unwrap().pos.line, 6);
    }

    #[test]
    fn tags_reset_and_override() {
        let n = p("a: !reset []\nb: !override {c: 1}\nc: !reset\n");
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
        assert!(n.get("c").unwrap().is_null());
        assert_eq!(n.get("c").unwrap().tag, Some(Tag::Reset));
    }

    #[test]
    fn duplicate_keys_are_errors_naming_both_lines() {
        let e = parse(&Arc::from("t.yaml"), "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse(&Arc::from("t.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.pos.line >= 1);
        assert!(e.to_string().starts_with("t.yaml:"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                std::iter::repeat_n(prev, 10).collect::<Vec<_>>().join(", ")
            ));
        }
        let e = parse(&Arc::from("t.yaml"), &s).unwrap_err();
        assert!(e.message.contains("too many"), "{}", e.message);
    }

    #[test]
    fn long_texts_parse_as_short_ones() {
        let mut text = String::from("x: &a {p: 1}\nservices:\n");
        for i in 0..3000 {
            text.push_str(&format!(
                "  s{i}:\n    <<: *a\n    image: \"img{i}\"\n    n: 0x{i:x}\n"
            ));
        }
        assert!(text.len() >= PIPELINE_MIN_BYTES);
        let n = p(&text);
        let s = n.get("services").unwrap().get("s2999").unwrap();
        assert_eq!(
            s.to_json(),
            serde_json::json!({"image": "img2999", "n": 2999, "p": 1})
        );
        assert_eq!(s.get("n").unwrap().pos.line, 3 + 2999 * 4 + 3);

        let same = |t: &str| {
            let f = Arc::from("t.yaml");
            match (parse_with(&f, t, true), parse_with(&f, t, false)) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
                (Err(a), Err(b)) => assert_eq!(a, b),
                (a, b) => panic!("{a:?} / {b:?}"),
            }
        };
        same(&text);
        let bad = format!("{text}  s1: {{}}\n");
        same(&bad);
        let e = parse(&Arc::from("t.yaml"), &bad).unwrap_err();
        assert!(
            e.message.contains("\"s1\" already defined at line 7"),
            "{}",
            e.message
        );
        let bad = format!("{text}  z: [1\n");
        same(&bad);
        let e = parse(&Arc::from("t.yaml"), &bad).unwrap_err();
        assert!(e.pos.line > 12000, "{e}");
        let early = text.replacen("s5:", "s5: [", 1);
        same(&early);
        let e = parse(&Arc::from("t.yaml"), &early).unwrap_err();
        assert!(e.pos.line < 40, "{e}");
    }

    #[test]
    fn paths_are_located() {
        let n = p("services:\n  web:\n    ports:\n      - '80'\n      - '81'\n    mem_limit: 1g\n");
        assert_eq!(n.locate("services.web.ports[1]").line, 5);
        assert_eq!(n.locate("services.web.mem_limit").line, 6);
        assert_eq!(n.locate("services.web.mem_limit").col, 5);
        assert_eq!(n.locate("services.web.nothing.deeper").line, 2);
        assert_eq!(n.locate("").line, 1);
    }

    #[test]
    fn empty_document_is_null() {
        assert!(p("").is_null());
        assert!(p("# only a comment\n").is_null());
    }
}

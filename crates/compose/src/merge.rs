//! Merging compose files (`-f a.yaml -f b.yaml`, override files) on the positioned tree, the way
//! Docker Compose v2 does it, before anything is typed.
//!
//! The general rule: mappings merge key by key, sequences append, scalars replace, and a null in
//! the later file leaves the earlier value alone. Some attributes have their own rule (see
//! [`rule`]): `command`, `entrypoint` and `healthcheck.test` are replaced; `environment`,
//! `labels` and friends merge by key whatever their form (map or `KEY=VALUE` list); `ports`,
//! `volumes`, `secrets`, ... stay unique by what they bind (a later entry replaces an earlier
//! one in its place); `depends_on` and `networks` merge by name whatever their form; `build`
//! may be a string on one side and a mapping on the other; `logging` options merge only for
//! the same driver.
//!
//! The `!reset` tag in the later file drops the key (or sequence item); `!override` replaces
//! the earlier value instead of merging with it. Nodes keep the position of the file they came
//! from; a merged mapping keeps the earlier file's position.
//!
//! Docker Compose also makes those lists unique within a single file; that is left to
//! normalization, which has to do it anyway for a project of one file.

use std::collections::{HashMap, HashSet};

use indexmap::map::MutableKeys;

use crate::Error;
use crate::yaml::{Key, Map, Node, Pos, Tag, Value};

/// How deep the merge descends before it gives up (the parser already bounds YAML nesting;
/// this guards trees built some other way).
const MAX_DEPTH: usize = 512;

/// The most entries a port range expands to when ranges must be compared one port at a time.
const MAX_PORT_RANGE: u64 = 65_536;

/// Merges `overlay` (a later compose file) into `base` (the earlier files, already merged).
///
/// Both are whole compose-file trees, already interpolated. An empty file (null) merges as an
/// empty mapping. The result carries no `!reset`/`!override` tags.
pub fn merge(base: Node, overlay: Node) -> Result<Node, Error> {
    let root = Path::root();
    check_top(&base)?;
    check_top(&overlay)?;
    if overlay.is_null() {
        return Ok(base);
    }
    if base.is_null() {
        let mut out = overlay;
        strip_tags(&mut out);
        return Ok(out);
    }
    merge_value(base, overlay, Rule::Deep(Ctx::Root), &root)
}

/// Merges a service definition over another (for `extends`): `overlay` is the extending
/// service, `base` the extended one; `name` is the extending service's name, for error paths.
pub fn merge_service(base: Node, overlay: Node, name: &str) -> Result<Node, Error> {
    let root = Path::root();
    let services = root.key("services");
    let path = services.key(name);
    if overlay.tag == Some(Tag::Override) || base.is_null() {
        let mut out = overlay;
        strip_tags(&mut out);
        return Ok(out);
    }
    merge_value(base, overlay, Rule::Deep(Ctx::Service), &path)
}

/// Applies the tags of a tree that is not merged into anything (a project of one file): keys and
/// items tagged `!reset` go, `!override` is dropped.
pub fn strip_tags(node: &mut Node) {
    strip(node, 0);
}

fn strip(node: &mut Node, depth: usize) {
    node.tag = None;
    if depth > MAX_DEPTH {
        return;
    }
    match &mut node.value {
        Value::Map(m) => {
            if m.values().any(|v| v.tag == Some(Tag::Reset)) {
                m.retain(|_, v| v.tag != Some(Tag::Reset));
            }
            for v in m.values_mut() {
                strip(v, depth + 1);
            }
        }
        Value::Seq(s) => {
            if s.iter().any(|v| v.tag == Some(Tag::Reset)) {
                s.retain(|v| v.tag != Some(Tag::Reset));
            }
            for v in s.iter_mut() {
                strip(v, depth + 1);
            }
        }
        _ => {}
    }
}

fn stripped(mut node: Node) -> Node {
    strip_tags(&mut node);
    node
}

fn check_top(node: &Node) -> Result<(), Error> {
    match node.value {
        Value::Map(_) | Value::Null => Ok(()),
        _ => Err(Error::at(
            &node.pos,
            "",
            format!(
                "the top level of a compose file must be a mapping, not a {}",
                node.kind()
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths, for error messages.

/// Where the merge is, as a chain of segments borrowed from the keys being merged.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
    depth: usize,
}

enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    fn root() -> Path<'static> {
        Path {
            parent: None,
            seg: Seg::Root,
            depth: 0,
        }
    }

    fn key(&'a self, k: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(k),
            depth: self.depth + 1,
        }
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
            depth: self.depth + 1,
        }
    }

    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut p = Some(self);
        while let Some(x) = p {
            segs.push(&x.seg);
            p = x.parent;
        }
        let mut out = String::new();
        for s in segs.iter().rev() {
            match s {
                Seg::Root => {}
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    fn err(&self, pos: &Pos, message: impl Into<String>) -> Error {
        Error::at(pos, self.render(), message)
    }
}

// ---------------------------------------------------------------------------------------------
// Rules.

/// Where in the compose model a mapping is, which decides the rules of its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Root,
    TopNetworks,
    TopNetwork,
    TopIpam,
    TopVolumes,
    TopVolume,
    Services,
    Service,
    Build,
    Healthcheck,
    Deploy,
    SvcNetworks,
    SvcNetwork,
    Ulimits,
    Plain,
}

/// How a key's value merges.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Mappings merge key by key (their keys ruled by the context), sequences append, scalars
    /// replace.
    Deep(Ctx),
    /// The later value replaces the earlier one, even a null.
    Replace,
    /// `KEY=VALUE` pairs, as a mapping or a list: merged by key, the later value winning (a bare
    /// `KEY` or a null unsets).
    KeyValue,
    /// A list whose entries are unique by `Index`: a later entry replaces an earlier one with
    /// the same index in its place. `promote`: a lone string counts as a one-item list.
    Unique(Index, bool),
    /// A list (a lone string counts as one item), appended.
    Append,
    /// `extra_hosts`: host/address pairs as a mapping or a list, appended without duplicates.
    ExtraHosts,
    /// `depends_on`: a list of names or a mapping of name → condition.
    DependsOn,
    /// A list of names or a mapping of name → settings (`networks`, `models`); the mapping's
    /// entries merge in the given context.
    NamedMap(Ctx),
    /// `build`: a context string or a mapping.
    Build,
    /// `logging`: options merge only when the driver stays the same.
    Logging,
    /// `networks.*.ipam.config`: entries matched by subnet.
    Ipam,
}

/// What makes an entry of a unique list unique.
#[derive(Clone, Copy, Debug)]
enum Index {
    /// The text before the first `=` (or the whole text).
    KeyValue,
    /// The mount target of a short (`src:dst:mode`) or long volume.
    Volume,
    /// The container path of a device.
    Device,
    /// A secret or config: the target, or the given directory + `/` + the name.
    Mount(&'static str),
    /// Host address, published port, container port and protocol.
    Port,
    /// The path of an env file.
    EnvFile,
    /// The port, whether written as a number or a string.
    Expose,
}

fn rule(ctx: Ctx, key: &str) -> Rule {
    use Rule::*;
    match ctx {
        Ctx::Root => match key {
            "services" => Deep(Ctx::Services),
            "networks" => Deep(Ctx::TopNetworks),
            "volumes" => Deep(Ctx::TopVolumes),
            _ => Deep(Ctx::Plain),
        },
        Ctx::Services => Deep(Ctx::Service),
        Ctx::TopNetworks => Deep(Ctx::TopNetwork),
        Ctx::TopNetwork => match key {
            "labels" => KeyValue,
            "ipam" => Deep(Ctx::TopIpam),
            _ => Deep(Ctx::Plain),
        },
        Ctx::TopIpam => match key {
            "config" => Ipam,
            "options" => Unique(Index::KeyValue, false),
            _ => Deep(Ctx::Plain),
        },
        Ctx::TopVolumes => Deep(Ctx::TopVolume),
        Ctx::TopVolume => match key {
            "labels" => KeyValue,
            _ => Deep(Ctx::Plain),
        },
        Ctx::Service => match key {
            "command" | "entrypoint" => Replace,
            "healthcheck" => Deep(Ctx::Healthcheck),
            "annotations" | "environment" | "labels" | "sysctls" => KeyValue,
            "build" => Build,
            "deploy" => Deep(Ctx::Deploy),
            "dns" | "dns_opt" | "dns_search" | "tmpfs" => Unique(Index::KeyValue, true),
            "env_file" => Unique(Index::EnvFile, true),
            "label_file" => Append,
            "extra_hosts" => ExtraHosts,
            "depends_on" => DependsOn,
            "networks" => NamedMap(Ctx::SvcNetworks),
            "models" => NamedMap(Ctx::Plain),
            "logging" => Logging,
            "ulimits" => Deep(Ctx::Ulimits),
            "ports" => Unique(Index::Port, false),
            "volumes" => Unique(Index::Volume, false),
            "devices" => Unique(Index::Device, false),
            "secrets" => Unique(Index::Mount("/run/secrets"), false),
            "configs" => Unique(Index::Mount(""), false),
            "expose" => Unique(Index::Expose, false),
            "cap_add" | "cap_drop" | "links" | "profiles" => Unique(Index::KeyValue, false),
            _ => Deep(Ctx::Plain),
        },
        Ctx::Build => match key {
            "args" | "labels" | "additional_contexts" => KeyValue,
            "extra_hosts" => ExtraHosts,
            "tags" => Unique(Index::KeyValue, false),
            _ => Deep(Ctx::Plain),
        },
        Ctx::Healthcheck => match key {
            "test" => Replace,
            _ => Deep(Ctx::Plain),
        },
        Ctx::Deploy => match key {
            "labels" => KeyValue,
            _ => Deep(Ctx::Plain),
        },
        Ctx::SvcNetworks => Deep(Ctx::SvcNetwork),
        Ctx::SvcNetwork => match key {
            "aliases" | "link_local_ips" => Unique(Index::KeyValue, false),
            _ => Deep(Ctx::Plain),
        },
        // Docker Compose replaces a whole ulimit (`nofile: {soft, hard}`) rather than merging.
        Ctx::Ulimits => Replace,
        Ctx::Plain => Deep(Ctx::Plain),
    }
}

// ---------------------------------------------------------------------------------------------
// The merge.

/// Merges two values that are both present and untagged-`!reset` (the overlay may still carry
/// `!override`, handled by the caller).
fn merge_value(base: Node, overlay: Node, rule: Rule, path: &Path<'_>) -> Result<Node, Error> {
    if path.depth > MAX_DEPTH {
        return Err(path.err(&overlay.pos, "nested too deeply"));
    }
    if let Rule::Replace = rule {
        return Ok(stripped(overlay));
    }
    if overlay.is_null() {
        return Ok(base);
    }
    if base.is_null() {
        return Ok(stripped(overlay));
    }
    match rule {
        Rule::Replace => Ok(stripped(overlay)),
        Rule::Deep(ctx) => generic(base, overlay, ctx, path),
        Rule::KeyValue => key_value(base, overlay, path),
        Rule::Unique(index, promote) => {
            let (base, overlay) = if promote {
                (promote_str(base), promote_str(overlay))
            } else {
                (base, overlay)
            };
            match (base.value, overlay.value) {
                (Value::Seq(b), Value::Seq(o)) => {
                    Ok(Node::new(Value::Seq(unique(b, o, index, path)?), base.pos))
                }
                (bv, ov) => generic(
                    Node::new(bv, base.pos),
                    Node {
                        value: ov,
                        pos: overlay.pos,
                        tag: overlay.tag,
                    },
                    Ctx::Plain,
                    path,
                ),
            }
        }
        Rule::Append => generic(promote_str(base), promote_str(overlay), Ctx::Plain, path),
        Rule::ExtraHosts => extra_hosts(base, overlay, path),
        Rule::DependsOn => named_map(base, overlay, true, Ctx::Plain, path),
        Rule::NamedMap(ctx) => named_map(base, overlay, false, ctx, path),
        Rule::Build => {
            let base = build_map(base);
            let overlay = build_map(overlay);
            generic(base, overlay, Ctx::Build, path)
        }
        Rule::Logging => {
            let driver = |n: &Node| n.get("driver").and_then(Node::scalar_string);
            match (driver(&base), driver(&overlay)) {
                (Some(b), Some(o)) if b != o && overlay.as_map().is_some() => Ok(stripped(overlay)),
                _ => generic(base, overlay, Ctx::Plain, path),
            }
        }
        Rule::Ipam => ipam(base, overlay, path),
    }
}

/// The general rule: mappings merge, sequences append, scalars replace; a collection can't be
/// replaced by something of another kind.
fn generic(base: Node, overlay: Node, ctx: Ctx, path: &Path<'_>) -> Result<Node, Error> {
    match (base.value, overlay.value) {
        (Value::Map(b), Value::Map(o)) => Ok(Node::new(
            Value::Map(merge_maps(b, o, ctx, path)?),
            base.pos,
        )),
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.reserve(o.len());
            b.extend(o.into_iter().filter_map(keep));
            Ok(Node::new(Value::Seq(b), base.pos))
        }
        (bv @ (Value::Map(_) | Value::Seq(_)), ov) => {
            let b = Node::new(bv, base.pos);
            let o = Node::new(ov, overlay.pos);
            Err(path.err(
                &o.pos,
                format!(
                    "cannot merge a {} into the {} defined at {}",
                    o.kind(),
                    b.kind(),
                    b.pos
                ),
            ))
        }
        (_, ov) => Ok(stripped(Node {
            value: ov,
            pos: overlay.pos,
            tag: overlay.tag,
        })),
    }
}

/// An overlay sequence item: dropped when tagged `!reset`, else cleaned of tags.
fn keep(item: Node) -> Option<Node> {
    if item.tag == Some(Tag::Reset) {
        None
    } else {
        Some(stripped(item))
    }
}

/// Marks a map entry for removal.
fn tombstone(pos: &Pos) -> Node {
    Node {
        value: Value::Null,
        pos: pos.clone(),
        tag: Some(Tag::Reset),
    }
}

fn same_pos(a: &Pos, b: &Pos) -> bool {
    a.line == b.line && a.col == b.col && a.file == b.file
}

/// Merges mapping `overlay` into mapping `base`, each key by its rule in `ctx`.
fn merge_maps(mut base: Map, overlay: Map, ctx: Ctx, path: &Path<'_>) -> Result<Map, Error> {
    let mut removed = false;
    base.reserve(overlay.len());
    for (okey, oval) in overlay {
        let Some((_, bkey, bval)) = base.get_full_mut2(okey.name.as_str()) else {
            if oval.tag != Some(Tag::Reset) {
                base.insert(okey, stripped(oval));
            }
            continue;
        };
        match oval.tag {
            Some(Tag::Reset) => {
                *bval = tombstone(&bval.pos);
                removed = true;
            }
            Some(Tag::Override) => {
                *bval = stripped(oval);
                *bkey = okey;
            }
            None => {
                let opos = oval.pos.clone();
                let old = std::mem::replace(bval, Node::new(Value::Null, opos.clone()));
                let merged = {
                    let child = path.key(&okey.name);
                    merge_value(old, oval, rule(ctx, &okey.name), &child)?
                };
                let from_overlay = same_pos(&merged.pos, &opos);
                *bval = merged;
                if from_overlay {
                    *bkey = okey;
                }
            }
        }
    }
    if removed {
        base.retain(|_, v| v.tag != Some(Tag::Reset));
    }
    Ok(base)
}

/// A lone string as a one-item list.
fn promote_str(node: Node) -> Node {
    match node.value {
        Value::Str(_) => {
            let pos = node.pos.clone();
            Node::new(Value::Seq(vec![node]), pos)
        }
        _ => node,
    }
}

/// `build: ./dir` as `build: {context: ./dir}`.
fn build_map(node: Node) -> Node {
    match node.value {
        Value::Str(_) => {
            let pos = node.pos.clone();
            let mut m = Map::default();
            m.insert(Key::new("context", pos.clone()), node);
            Node::new(Value::Map(m), pos)
        }
        _ => node,
    }
}

// ---------------------------------------------------------------------------------------------
// KEY=VALUE mappings.

fn key_value(base: Node, overlay: Node, path: &Path<'_>) -> Result<Node, Error> {
    let pos = base.pos.clone();
    let mut b = kv_map(base, path)?;
    let o = kv_map(overlay, path)?;
    let mut removed = false;
    for (okey, oval) in o {
        match b.get_full_mut2(okey.name.as_str()) {
            Some((_, bkey, bval)) => {
                if oval.tag == Some(Tag::Reset) {
                    *bval = tombstone(&bval.pos);
                    removed = true;
                } else {
                    *bval = stripped(oval);
                    *bkey = okey;
                }
            }
            None => {
                if oval.tag != Some(Tag::Reset) {
                    b.insert(okey, stripped(oval));
                }
            }
        }
    }
    if removed {
        b.retain(|_, v| v.tag != Some(Tag::Reset));
    }
    Ok(Node::new(Value::Map(b), pos))
}

/// A `KEY=VALUE` list (or a lone string) as a mapping: `KEY` alone maps to null.
fn kv_map(node: Node, path: &Path<'_>) -> Result<Map, Error> {
    match node.value {
        Value::Map(m) => Ok(m),
        Value::Seq(items) => {
            let mut m = Map::with_capacity_and_hasher(items.len(), Default::default());
            for (i, item) in items.into_iter().enumerate() {
                if item.tag == Some(Tag::Reset) {
                    continue;
                }
                let Some(text) = item.scalar_string() else {
                    return Err(path.index(i).err(
                        &item.pos,
                        format!("expected a KEY=VALUE string, found a {}", item.kind()),
                    ));
                };
                let (k, v) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                    None => (text, Value::Null),
                };
                // A later duplicate replaces the earlier one, in its place.
                m.insert(Key::new(k, item.pos.clone()), Node::new(v, item.pos));
            }
            Ok(m)
        }
        Value::Str(s) => {
            let items = vec![Node::new(Value::Str(s), node.pos.clone())];
            kv_map(Node::new(Value::Seq(items), node.pos), path)
        }
        _ => Err(path.err(
            &node.pos,
            format!(
                "expected a mapping or a list of KEY=VALUE strings, found a {}",
                node.kind()
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Unique lists.

/// Where each key was placed in a unique list: a linear scan for short lists (most of them),
/// a hash map for long ones.
enum Seen {
    Few(Vec<(String, usize)>),
    Many(HashMap<String, usize>),
}

impl Seen {
    fn new(n: usize) -> Self {
        if n <= 16 {
            Seen::Few(Vec::with_capacity(n))
        } else {
            Seen::Many(HashMap::with_capacity(n))
        }
    }

    fn get(&self, key: &str) -> Option<usize> {
        match self {
            Seen::Few(v) => v.iter().find(|(k, _)| k == key).map(|(_, i)| *i),
            Seen::Many(m) => m.get(key).copied(),
        }
    }

    fn insert(&mut self, key: String, at: usize) {
        match self {
            Seen::Few(v) if v.len() >= 32 => {
                let mut m: HashMap<String, usize> = v.drain(..).collect();
                m.insert(key, at);
                *self = Seen::Many(m);
            }
            Seen::Few(v) => v.push((key, at)),
            Seen::Many(m) => {
                m.insert(key, at);
            }
        }
    }

    /// Puts `node` in `out` under `key`: in place of the earlier entry with that key, if any.
    fn place(&mut self, node: Node, key: String, out: &mut Vec<Node>) {
        match self.get(&key) {
            Some(j) => out[j] = node,
            None => {
                self.insert(key, out.len());
                out.push(node);
            }
        }
    }
}

fn unique(
    base: Vec<Node>,
    overlay: Vec<Node>,
    index: Index,
    path: &Path<'_>,
) -> Result<Vec<Node>, Error> {
    // Each item with its index in its own file's list, for error paths.
    let items: Vec<(usize, Node)> = base
        .into_iter()
        .enumerate()
        .chain(
            overlay
                .into_iter()
                .enumerate()
                .filter_map(|(i, n)| keep(n).map(|n| (i, n))),
        )
        .collect();
    if let Index::Port = index {
        return unique_ports(items, path);
    }
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    let mut seen = Seen::new(items.len());
    for (i, item) in items {
        let key = index_key(index, &item, &path.index(i))?;
        seen.place(item, key, &mut out);
    }
    Ok(out)
}

fn index_key(index: Index, item: &Node, path: &Path<'_>) -> Result<String, Error> {
    let need = |what: &str| {
        path.err(
            &item.pos,
            format!("expected {what}, found a {}", item.kind()),
        )
    };
    match index {
        Index::KeyValue | Index::Expose => {
            let text = item.scalar_string().ok_or_else(|| need("a string"))?;
            if let (Index::KeyValue, Some((k, _))) = (index, text.split_once('=')) {
                return Ok(k.to_string());
            }
            Ok(text)
        }
        Index::Volume => match &item.value {
            Value::Str(s) => Ok(short_volume_target(s).to_string()),
            Value::Map(m) => target_of(m, item, path, "a volume needs a `target`"),
            _ => Err(need("a string or a mapping")),
        },
        Index::Device => match &item.value {
            Value::Str(s) => {
                let mut parts = s.split(':');
                let first = parts.next().unwrap_or_default();
                Ok(parts.next().unwrap_or(first).to_string())
            }
            Value::Map(m) => target_of(m, item, path, "a device needs a `target`"),
            _ => Err(need("a string or a mapping")),
        },
        Index::Mount(dir) => match &item.value {
            Value::Str(s) => Ok(format!("{dir}/{s}")),
            Value::Map(m) => match m.get("target").and_then(Node::scalar_string) {
                Some(t) => Ok(t),
                None => {
                    let source = m
                        .get("source")
                        .and_then(Node::scalar_string)
                        .unwrap_or_default();
                    Ok(format!("{dir}/{source}"))
                }
            },
            _ => Err(need("a string or a mapping")),
        },
        Index::EnvFile => match &item.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Map(m) => m
                .get("path")
                .and_then(Node::scalar_string)
                .ok_or_else(|| path.err(&item.pos, "an env file needs a `path`")),
            _ => Err(need("a string or a mapping")),
        },
        Index::Port => {
            let mut keys = port_keys(item, path)?;
            Ok(keys.pop().map(|k| k.key).unwrap_or_default())
        }
    }
}

fn target_of(m: &Map, item: &Node, path: &Path<'_>, missing: &str) -> Result<String, Error> {
    m.get("target")
        .and_then(Node::scalar_string)
        .ok_or_else(|| path.err(&item.pos, missing))
}

/// The container path of a short volume: `dst`, `src:dst` or `src:dst:mode` (a Windows drive
/// letter in `src` is part of it).
fn short_volume_target(spec: &str) -> &str {
    let mut rest = spec;
    // `C:\dir:/dst` or `C:/dir:/dst`: skip the drive letter.
    let b = rest.as_bytes();
    let skip = if b.len() > 2
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/')
    {
        2
    } else {
        0
    };
    match rest[skip..].find(':') {
        None => spec,
        Some(i) => {
            rest = &rest[skip + i + 1..];
            match rest.find(':') {
                Some(j) => &rest[..j],
                None => rest,
            }
        }
    }
}

/// A port entry's identity: one per port, more for a range of container ports.
struct PortKey {
    key: String,
    /// The entry, as a short-syntax string for this one port (ranges only).
    spec: Option<String>,
}

/// Ports are unique by host address, published port, container port and protocol, compared
/// port by port: a range is split into single ports when one of them meets another entry.
fn unique_ports(items: Vec<(usize, Node)>, path: &Path<'_>) -> Result<Vec<Node>, Error> {
    let mut keyed: Vec<(Node, Vec<PortKey>)> = Vec::with_capacity(items.len());
    for (i, item) in items {
        let keys = port_keys(&item, &path.index(i))?;
        keyed.push((item, keys));
    }
    // How often each port occurs, only needed when there are ranges.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    if keyed.iter().any(|(_, keys)| keys.len() > 1) {
        for (_, keys) in &keyed {
            for k in keys {
                *counts.entry(k.key.as_str()).or_default() += 1;
            }
        }
    }
    let split: Vec<bool> = keyed
        .iter()
        .map(|(_, keys)| {
            keys.len() > 1
                && keys
                    .iter()
                    .any(|k| counts.get(k.key.as_str()).copied().unwrap_or(0) > 1)
        })
        .collect();
    drop(counts);
    let mut out: Vec<Node> = Vec::with_capacity(keyed.len());
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(keyed.len());
    let mut place = |node: Node, key: String, out: &mut Vec<Node>| match seen.get(&key) {
        Some(&j) => out[j] = node,
        None => {
            seen.insert(key, out.len());
            out.push(node);
        }
    };
    for ((item, mut keys), split) in keyed.into_iter().zip(split) {
        if keys.len() == 1 {
            if let Some(k) = keys.pop() {
                place(item, k.key, &mut out);
            }
        } else if split {
            for k in keys {
                let spec = k.spec.unwrap_or_default();
                place(
                    Node::new(Value::Str(spec), item.pos.clone()),
                    k.key,
                    &mut out,
                );
            }
        } else {
            out.push(item);
        }
    }
    Ok(out)
}

fn port_keys(item: &Node, path: &Path<'_>) -> Result<Vec<PortKey>, Error> {
    let one = |host: &str, published: &str, target: &str, proto: &str| {
        vec![PortKey {
            key: format!("{host}|{published}|{target}|{proto}"),
            spec: None,
        }]
    };
    match &item.value {
        Value::Int(i) => Ok(one("", "", &i.to_string(), "tcp")),
        Value::Str(s) => Ok(short_port_keys(s)),
        Value::Map(m) => {
            let Some(target) = m.get("target").and_then(Node::scalar_string) else {
                return Err(path.err(&item.pos, "a port needs a `target`"));
            };
            let host = m
                .get("host_ip")
                .and_then(Node::scalar_string)
                .unwrap_or_default();
            let published = m
                .get("published")
                .and_then(Node::scalar_string)
                .unwrap_or_default();
            let proto = m
                .get("protocol")
                .and_then(Node::scalar_string)
                .unwrap_or_else(|| "tcp".into());
            Ok(one(&host, &published, &target, &proto))
        }
        _ => Err(path.err(
            &item.pos,
            format!(
                "expected a port string, number or mapping, found a {}",
                item.kind()
            ),
        )),
    }
}

/// `[host:][published:]target[/proto]`, host possibly an IPv6 address, bracketed or not.
fn short_port_keys(spec: &str) -> Vec<PortKey> {
    let (rest, proto, has_proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p, true),
        None => (spec, "tcp", false),
    };
    let (host, published, target) = if let Some(after) = rest.strip_prefix('[') {
        match after.split_once(']') {
            Some((h, tail)) => {
                let tail = tail.strip_prefix(':').unwrap_or(tail);
                match tail.split_once(':') {
                    Some((p, t)) => (h, p, t),
                    None => (h, "", tail),
                }
            }
            None => ("", "", rest),
        }
    } else {
        match rest.rsplit_once(':') {
            None => ("", "", rest),
            Some((head, t)) => match head.rsplit_once(':') {
                None => ("", head, t),
                Some((h, p)) => (h, p, t),
            },
        }
    };
    // Docker Compose drops the default address from the short syntax.
    let host = if host == "0.0.0.0" { "" } else { host };
    let key = |p: &str, t: &str| format!("{host}|{p}|{t}|{proto}");
    let single = || {
        vec![PortKey {
            key: key(published, target),
            spec: None,
        }]
    };
    let Some((t0, t1)) = port_range(target) else {
        return single();
    };
    let count = t1 - t0 + 1;
    let pub_range = if published.is_empty() {
        None
    } else {
        match port_range(published) {
            Some((p0, p1)) if p1 - p0 + 1 == count => Some(p0),
            _ => return single(),
        }
    };
    if count <= 1 || count > MAX_PORT_RANGE {
        return single();
    }
    let host_part = if host.is_empty() {
        String::new()
    } else if host.contains(':') {
        format!("[{host}]:")
    } else {
        format!("{host}:")
    };
    let proto_part = if has_proto {
        format!("/{proto}")
    } else {
        String::new()
    };
    (0..count)
        .map(|i| {
            let t = (t0 + i).to_string();
            match pub_range {
                Some(p0) => {
                    let p = (p0 + i).to_string();
                    PortKey {
                        key: key(&p, &t),
                        spec: Some(format!("{host_part}{p}:{t}{proto_part}")),
                    }
                }
                None => PortKey {
                    key: key("", &t),
                    spec: Some(format!("{host_part}{t}{proto_part}")),
                },
            }
        })
        .collect()
}

/// `a-b` (or a single port `a`) as numbers.
fn port_range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u64 = a.parse().ok()?;
    let b: u64 = b.parse().ok()?;
    if b > u64::from(u32::MAX) {
        return None;
    }
    (a <= b).then_some((a, b))
}

// ---------------------------------------------------------------------------------------------
// extra_hosts, depends_on / networks, ipam.

/// `extra_hosts` as a list of `host=address` strings; a host may have several addresses, so a
/// later file adds addresses rather than replacing them (as Docker Compose does).
fn extra_hosts(base: Node, overlay: Node, path: &Path<'_>) -> Result<Node, Error> {
    let pos = base.pos.clone();
    let mut out = host_list(base, path)?;
    let more = host_list(overlay, path)?;
    let mut seen: HashSet<(String, String)> = HashSet::with_capacity(out.len() + more.len());
    for n in &out {
        if let Some(k) = host_key(n) {
            seen.insert(k);
        }
    }
    for n in more {
        let fresh = host_key(&n).is_none_or(|k| seen.insert(k));
        if fresh {
            out.push(n);
        }
    }
    Ok(Node::new(Value::Seq(out), pos))
}

fn host_key(n: &Node) -> Option<(String, String)> {
    let s = n.as_str()?;
    let (h, a) = s.split_once('=').or_else(|| s.split_once(':'))?;
    Some((h.trim().to_string(), a.trim().to_string()))
}

fn host_list(node: Node, path: &Path<'_>) -> Result<Vec<Node>, Error> {
    match node.value {
        Value::Seq(items) => Ok(items.into_iter().filter_map(keep).collect()),
        Value::Str(_) => Ok(vec![node]),
        Value::Map(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                if v.tag == Some(Tag::Reset) {
                    continue;
                }
                match v.value {
                    Value::Seq(addrs) => {
                        for a in addrs {
                            let text = a.scalar_string().unwrap_or_default();
                            out.push(Node::new(Value::Str(format!("{}={text}", k.name)), a.pos));
                        }
                    }
                    Value::Null => out.push(Node::new(Value::Str(k.name), v.pos)),
                    other => {
                        let n = Node::new(other, v.pos);
                        let text = n.scalar_string().unwrap_or_default();
                        out.push(Node::new(Value::Str(format!("{}={text}", k.name)), n.pos));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(path.err(
            &node.pos,
            format!(
                "expected a mapping or a list of host:address strings, found a {}",
                node.kind()
            ),
        )),
    }
}

/// A list of names or a mapping keyed by name. Two lists stay a list (without duplicates);
/// otherwise both become mappings, a listed name mapping to null or (for `depends_on`) to
/// `{condition: service_started, required: true}`.
fn named_map(
    base: Node,
    overlay: Node,
    depends_on: bool,
    ctx: Ctx,
    path: &Path<'_>,
) -> Result<Node, Error> {
    match (base.value, overlay.value) {
        (Value::Seq(mut b), Value::Seq(o)) => {
            let mut seen: HashSet<String> = b.iter().filter_map(Node::scalar_string).collect();
            for item in o.into_iter().filter_map(keep) {
                let fresh = item.scalar_string().is_none_or(|s| seen.insert(s));
                if fresh {
                    b.push(item);
                }
            }
            Ok(Node::new(Value::Seq(b), base.pos))
        }
        (bv, ov) => {
            let b = names_to_map(Node::new(bv, base.pos.clone()), depends_on, path)?;
            let o = names_to_map(Node::new(ov, overlay.pos.clone()), depends_on, path)?;
            Ok(Node::new(
                Value::Map(merge_maps(b, o, ctx, path)?),
                base.pos,
            ))
        }
    }
}

fn names_to_map(node: Node, depends_on: bool, path: &Path<'_>) -> Result<Map, Error> {
    match node.value {
        Value::Map(m) => Ok(m),
        Value::Seq(items) => {
            let mut m = Map::with_capacity_and_hasher(items.len(), Default::default());
            for (i, item) in items.into_iter().enumerate() {
                let reset = item.tag == Some(Tag::Reset);
                let Some(name) = item.scalar_string() else {
                    return Err(path.index(i).err(
                        &item.pos,
                        format!("expected a name, found a {}", item.kind()),
                    ));
                };
                let value = if depends_on {
                    let mut d = Map::with_capacity_and_hasher(2, Default::default());
                    d.insert(
                        Key::new("condition", item.pos.clone()),
                        Node::new(Value::Str("service_started".into()), item.pos.clone()),
                    );
                    d.insert(
                        Key::new("required", item.pos.clone()),
                        Node::new(Value::Bool(true), item.pos.clone()),
                    );
                    Value::Map(d)
                } else {
                    Value::Null
                };
                let mut v = Node::new(value, item.pos.clone());
                if reset {
                    v.tag = Some(Tag::Reset);
                }
                m.insert(Key::new(name, item.pos), v);
            }
            Ok(m)
        }
        _ => Err(path.err(
            &node.pos,
            format!(
                "expected a mapping or a list of names, found a {}",
                node.kind()
            ),
        )),
    }
}

/// `ipam.config`: the later file's entries, each merged over the earlier entry with the same
/// subnet. (Docker Compose drops earlier entries the later file doesn't repeat.)
fn ipam(base: Node, overlay: Node, path: &Path<'_>) -> Result<Node, Error> {
    match (base.value, overlay.value) {
        (Value::Seq(b), Value::Seq(o)) => {
            let subnet = |n: &Node| n.get("subnet").and_then(Node::scalar_string);
            let mut earlier: HashMap<String, Node> = HashMap::with_capacity(b.len());
            for item in b {
                if let Some(s) = subnet(&item) {
                    earlier.entry(s).or_insert(item);
                }
            }
            let mut out: Vec<Node> = Vec::with_capacity(o.len());
            let mut placed: HashMap<String, usize> = HashMap::with_capacity(o.len());
            for (i, item) in o.into_iter().filter_map(keep).enumerate() {
                let Some(s) = subnet(&item) else {
                    out.push(item);
                    continue;
                };
                let child = path.index(i);
                match placed.get(&s) {
                    Some(&j) => {
                        let prev = std::mem::replace(
                            &mut out[j],
                            Node::new(Value::Null, item.pos.clone()),
                        );
                        out[j] = merge_value(prev, item, Rule::Deep(Ctx::Plain), &child)?;
                    }
                    None => {
                        let merged = match earlier.remove(&s) {
                            Some(prev) => merge_value(prev, item, Rule::Deep(Ctx::Plain), &child)?,
                            None => item,
                        };
                        placed.insert(s, out.len());
                        out.push(merged);
                    }
                }
            }
            Ok(Node::new(Value::Seq(out), base.pos))
        }
        (bv, ov) => generic(
            Node::new(bv, base.pos),
            Node::new(ov, overlay.pos),
            Ctx::Plain,
            path,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn parse(file: &str, text: &str) -> Node {
        crate::yaml::parse(&Arc::from(file), text).unwrap()
    }

    fn merged(a: &str, b: &str) -> Node {
        merge(parse("a.yaml", a), parse("b.yaml", b)).unwrap()
    }

    fn web(a: &str, b: &str) -> serde_json::Value {
        merged(a, b).to_json()["services"]["web"].clone()
    }

    #[test]
    fn scalars_replace_maps_merge_sequences_append() {
        let j = web(
            "services:\n  web:\n    image: a\n    stop_grace_period: 1s\n    security_opt: [x]\n    deploy: {resources: {limits: {cpus: '1'}}}\n",
            "services:\n  web:\n    image: b\n    stop_grace_period: null\n    security_opt: [y]\n    deploy: {resources: {limits: {memory: 1g}}}\n    read_only: true\n",
        );
        assert_eq!(
            j,
            json!({
                "image": "b",
                "stop_grace_period": "1s",
                "security_opt": ["x", "y"],
                "deploy": {"resources": {"limits": {"cpus": "1", "memory": "1g"}}},
                "read_only": true
            })
        );
    }

    #[test]
    fn command_entrypoint_healthcheck_test_are_replaced() {
        let j = web(
            "services:\n  web:\n    image: x\n    command: [a, b]\n    entrypoint: [e]\n    healthcheck: {test: [CMD, a], interval: 5s}\n",
            "services:\n  web:\n    command: [c]\n    entrypoint: f\n    healthcheck: {test: [CMD, b]}\n",
        );
        assert_eq!(j["command"], json!(["c"]));
        assert_eq!(j["entrypoint"], json!("f"));
        assert_eq!(
            j["healthcheck"],
            json!({"test": ["CMD", "b"], "interval": "5s"})
        );
        // A null command wipes the earlier one (v2: `command: null` in the override).
        let j = web(
            "services:\n  web:\n    image: x\n    command: [a]\n",
            "services:\n  web:\n    command: null\n",
        );
        assert_eq!(j["command"], json!(null));
    }

    #[test]
    fn dns_tmpfs_append_without_duplicates() {
        let j = web(
            "services:\n  web:\n    image: x\n    dns: [1.1.1.1, 8.8.8.8]\n    dns_search: a.com\n    tmpfs: ['/tmp', '/run', '/t:size=1']\n    cap_add: [A, B]\n    expose: [80, '81']\n",
            "services:\n  web:\n    dns: [8.8.8.8, 9.9.9.9]\n    dns_search: [b.com, a.com]\n    tmpfs: ['/x', '/t:size=2']\n    cap_add: [B, C]\n    expose: ['80', 82]\n",
        );
        assert_eq!(j["dns"], json!(["1.1.1.1", "8.8.8.8", "9.9.9.9"]));
        assert_eq!(j["dns_search"], json!(["a.com", "b.com"]));
        assert_eq!(j["tmpfs"], json!(["/tmp", "/run", "/t:size=2", "/x"]));
        assert_eq!(j["cap_add"], json!(["A", "B", "C"]));
        assert_eq!(j["expose"], json!(["80", "81", 82]));
    }

    #[test]
    fn key_value_attributes_merge_by_key_across_forms() {
        let j = web(
            "services:\n  web:\n    image: x\n    environment: {A: 1, B: two, C: null, D: x}\n    labels: [l1=a, l2]\n    sysctls: {net.a: 1}\n    annotations: [x=1]\n    build: {context: ., args: [X=1, Y]}\n",
            "services:\n  web:\n    environment: [A=9, C=3, E, D]\n    labels: {l1: b, l3: c}\n    sysctls: [net.a=2, net.b=3]\n    annotations: {x: 2, y: 3}\n    build: {args: {Y: '2'}}\n",
        );
        assert_eq!(
            j["environment"],
            json!({"A": "9", "B": "two", "C": "3", "D": null, "E": null})
        );
        assert_eq!(j["labels"], json!({"l1": "b", "l2": null, "l3": "c"}));
        assert_eq!(j["sysctls"], json!({"net.a": "2", "net.b": "3"}));
        assert_eq!(j["annotations"], json!({"x": 2, "y": 3}));
        assert_eq!(
            j["build"],
            json!({"context": ".", "args": {"X": "1", "Y": "2"}})
        );
        // Two maps: a later null unsets, unlike in ordinary mappings.
        let j = web(
            "services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n",
            "services:\n  web:\n    environment: {A: null}\n",
        );
        assert_eq!(j["environment"], json!({"A": null, "B": "2"}));
        // A null environment leaves the earlier one.
        let j = web(
            "services:\n  web:\n    image: x\n    environment: [A=1]\n",
            "services:\n  web:\n    environment:\n",
        );
        assert_eq!(j["environment"], json!(["A=1"]));
    }

    #[test]
    fn ports_unique_by_binding_across_short_and_long_syntax() {
        let j = web(
            "services:\n  web:\n    image: x\n    ports: ['8080:80', '127.0.0.1:9090:90', {target: 100, published: '1000'}, '5000:5000/udp', '3000', 4000, '0.0.0.0:7070:70']\n",
            "services:\n  web:\n    ports: [{target: 80, published: 8080, host_ip: '0.0.0.0'}, '127.0.0.1:9090:90/tcp', '1000:100', '5000:5000', '3000', 4000, '7070:70']\n",
        );
        assert_eq!(
            j["ports"],
            json!([
                "8080:80",
                "127.0.0.1:9090:90/tcp",
                "1000:100",
                "5000:5000/udp",
                "3000",
                4000,
                "7070:70",
                {"target": 80, "published": 8080, "host_ip": "0.0.0.0"},
                "5000:5000"
            ])
        );
    }

    #[test]
    fn port_ranges_split_only_where_they_meet_another_entry() {
        let j = web(
            "services:\n  web:\n    image: x\n    ports: ['8000-8010:80', '127.0.0.1:5000-5001:50-51/udp', '9000-9001:90-91', '3000-3001', '[::1]:6000-6001:60-61']\n",
            "services:\n  web:\n    ports: ['8000-8010:80', '127.0.0.1:5001:51/udp', 9000, '3001', {target: 61, published: '6001', host_ip: '::1', mode: host}]\n",
        );
        assert_eq!(
            j["ports"],
            json!([
                "8000-8010:80",
                "127.0.0.1:5000:50/udp",
                "127.0.0.1:5001:51/udp",
                "9000-9001:90-91",
                "3000",
                "3001",
                "[::1]:6000:60",
                {"target": 61, "published": "6001", "host_ip": "::1", "mode": "host"},
                9000
            ])
        );
    }

    #[test]
    fn volumes_secrets_configs_devices_unique_by_target() {
        let j = web(
            "services:\n  web:\n    image: x\n    volumes: [./a:/data, 'vol:/v:ro', {type: bind, source: ./c, target: /c}, /anon, 'C:\\w:/win']\n    secrets: [s1, {source: s2}, {source: s3, target: t3}]\n    configs: [c1, {source: c2, target: /c2}]\n    devices: ['/dev/a:/dev/b', /dev/c]\n    env_file: [a.env, {path: c.env, required: false}]\n",
            "services:\n  web:\n    volumes: [{type: volume, source: vol2, target: /data}, './z:/c:ro', /v, 'D:\\x:/win']\n    secrets: [{source: s1, mode: 0o400}, s2, {source: s3, target: /run/secrets/t3}]\n    configs: [{source: c1, target: /c1, mode: 0o400}, c2]\n    devices: [{source: /dev/x, target: /dev/b}, '/dev/c:/dev/c:rwm']\n    env_file: [b.env, a.env, {path: c.env, required: true}]\n",
        );
        assert_eq!(
            j["volumes"],
            json!([{"type": "volume", "source": "vol2", "target": "/data"}, "/v", "./z:/c:ro", "/anon", "D:\\x:/win"])
        );
        assert_eq!(
            j["secrets"],
            json!([{"source": "s1", "mode": 256}, "s2", {"source": "s3", "target": "t3"}, {"source": "s3", "target": "/run/secrets/t3"}])
        );
        assert_eq!(
            j["configs"],
            json!([{"source": "c1", "target": "/c1", "mode": 256}, "c2"])
        );
        assert_eq!(
            j["devices"],
            json!([{"source": "/dev/x", "target": "/dev/b"}, "/dev/c:/dev/c:rwm"])
        );
        assert_eq!(
            j["env_file"],
            json!(["a.env", {"path": "c.env", "required": true}, "b.env"])
        );
    }

    #[test]
    fn depends_on_networks_extra_hosts_ulimits_logging_build() {
        let j = merged(
            "services:\n  web:\n    image: x\n    networks: [a, b]\n    depends_on: [db]\n    extra_hosts: ['h1:1.1.1.1', 'h2=::1']\n    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5, core: {soft: 1, hard: 1}}\n    logging: {driver: json-file, options: {max-size: 1m}}\n    build: ./dir\n    links: [db]\n  db:\n    image: y\n    logging: {driver: json-file, options: {max-size: 1m}}\n    networks: [a]\n    depends_on: [x]\n",
            "services:\n  web:\n    networks: {b: {aliases: [x]}, c: null}\n    depends_on: {db: {condition: service_healthy}}\n    extra_hosts: {h1: 1.1.1.2, h2: ['::1', '::2']}\n    ulimits: {nofile: {soft: 3, hard: 4}, core: 7}\n    logging: {options: {max-file: '3'}}\n    build: {dockerfile: D}\n    links: [db]\n  db:\n    logging: {driver: syslog}\n    networks: [a, b]\n    depends_on: [x, y]\n",
        )
        .to_json();
        let web = &j["services"]["web"];
        assert_eq!(
            web["networks"],
            json!({"a": null, "b": {"aliases": ["x"]}, "c": null})
        );
        assert_eq!(
            web["depends_on"],
            json!({"db": {"condition": "service_healthy", "required": true}})
        );
        assert_eq!(
            web["extra_hosts"],
            json!(["h1:1.1.1.1", "h2=::1", "h1=1.1.1.2", "h2=::2"])
        );
        assert_eq!(
            web["ulimits"],
            json!({"nofile": {"soft": 3, "hard": 4}, "nproc": 5, "core": 7})
        );
        assert_eq!(
            web["logging"],
            json!({"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}})
        );
        assert_eq!(web["build"], json!({"context": "./dir", "dockerfile": "D"}));
        assert_eq!(web["links"], json!(["db"]));
        let db = &j["services"]["db"];
        assert_eq!(db["logging"], json!({"driver": "syslog"}));
        assert_eq!(db["networks"], json!(["a", "b"]));
        assert_eq!(db["depends_on"], json!(["x", "y"]));
    }

    #[test]
    fn build_over_image_keeps_both() {
        let j = web(
            "services:\n  web:\n    image: x\n",
            "services:\n  web:\n    build: .\n",
        );
        assert_eq!(j, json!({"image": "x", "build": "."}));
    }

    #[test]
    fn reset_and_override_tags() {
        let j = merged(
            "services:\n  web:\n    image: x\n    command: [a]\n    environment: {A: '1', B: '2'}\n    labels: {L: '1'}\n    ports: ['80:80', '90:90']\n    build: {context: ., args: {X: '1'}}\n    healthcheck: {test: [CMD, x], interval: 5s}\n    cap_add: [A]\n  db: {image: y, environment: {A: '1'}}\n",
            "services:\n  web:\n    environment: !override {C: '3'}\n    labels: !reset {}\n    ports: !override ['81:81']\n    build: {args: !reset null}\n    healthcheck: !override {interval: 1s}\n    cap_add: !reset [B]\n    image: !reset\n  db: !override {image: z}\n  new: {image: n, ports: !reset ['1:1'], environment: !override {A: x}, dns: [a, !reset b]}\n",
        )
        .to_json();
        assert_eq!(
            j["services"],
            json!({
                "web": {
                    "command": ["a"],
                    "environment": {"C": "3"},
                    "ports": ["81:81"],
                    "build": {"context": "."},
                    "healthcheck": {"interval": "1s"}
                },
                "db": {"image": "z"},
                "new": {"image": "n", "environment": {"A": "x"}, "dns": ["a"]}
            })
        );
    }

    #[test]
    fn reset_and_override_whole_services() {
        let j = merged(
            "services:\n  web: {image: x}\n  db: {image: y, ports: ['5:5']}\n",
            "services:\n  web: !reset\n  db: {image: z, ports: !reset ['1:1'], labels: !override {a: b}}\n  new: !override {image: n}\n",
        )
        .to_json();
        assert_eq!(
            j["services"],
            json!({"db": {"image": "z", "labels": {"a": "b"}}, "new": {"image": "n"}})
        );
    }

    #[test]
    fn reset_in_lists_and_key_value_maps() {
        let j = web(
            "services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n    volumes: [/a]\n",
            "services:\n  web:\n    environment: {A: !reset null}\n    volumes: [!reset /b, /c]\n",
        );
        assert_eq!(j["environment"], json!({"B": "2"}));
        assert_eq!(j["volumes"], json!(["/a", "/c"]));
    }

    #[test]
    fn top_level_labels_ipam_and_extensions() {
        let j = merged(
            "networks:\n  n:\n    labels: [a=1]\n    ipam:\n      driver: default\n      config:\n        - {subnet: 10.0.0.0/24, gateway: 10.0.0.1}\n  m:\n    ipam: {config: [{subnet: 10.5.0.0/24}]}\nvolumes:\n  v: {labels: {a: '1'}}\nx-foo: [1, 2]\nname: one\n",
            "networks:\n  n:\n    labels: {a: '2', b: '3'}\n    ipam:\n      config:\n        - {subnet: 10.0.0.0/24, ip_range: 10.0.0.0/25}\n        - {subnet: 10.2.0.0/24}\n  m:\n    ipam: {config: []}\nvolumes:\n  v: {labels: [b=2]}\nx-foo: [3]\nname: two\n",
        )
        .to_json();
        assert_eq!(
            j,
            json!({
                "networks": {
                    "n": {
                        "labels": {"a": "2", "b": "3"},
                        "ipam": {
                            "driver": "default",
                            "config": [
                                {"subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "ip_range": "10.0.0.0/25"},
                                {"subnet": "10.2.0.0/24"}
                            ]
                        }
                    },
                    "m": {"ipam": {"config": []}}
                },
                "volumes": {"v": {"labels": {"a": "1", "b": "2"}}},
                "x-foo": [1, 2, 3],
                "name": "two"
            })
        );
    }

    #[test]
    fn positions_stay_with_their_file() {
        let m = merged(
            "services:\n  web:\n    image: a\n    environment: {A: '1'}\n    ports: ['80:80']\n",
            "services:\n  web:\n    image: b\n    environment: [B=2]\n    ports: ['81:81']\n",
        );
        let web = m.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.pos.file.as_ref(), "a.yaml");
        let (k, image) = web.as_map().unwrap().get_key_value("image").unwrap();
        assert_eq!((image.pos.file.as_ref(), image.pos.line), ("b.yaml", 3));
        assert_eq!((k.pos.file.as_ref(), k.pos.line), ("b.yaml", 3));
        let env = web.get("environment").unwrap();
        assert_eq!(env.get("A").unwrap().pos.file.as_ref(), "a.yaml");
        assert_eq!(env.get("B").unwrap().pos.file.as_ref(), "b.yaml");
        let ports = web.get("ports").unwrap().as_seq().unwrap();
        assert_eq!(ports[0].pos.file.as_ref(), "a.yaml");
        assert_eq!(ports[1].pos.file.as_ref(), "b.yaml");
    }

    #[test]
    fn kind_mismatch_is_an_error_at_the_later_value() {
        let e = merge(
            parse("a.yaml", "services:\n  web: {image: x, cap_add: [A]}\n"),
            parse("b.yaml", "services:\n  web:\n    cap_add: B\n"),
        )
        .unwrap_err();
        match &e {
            Error::At { pos, path, .. } => {
                assert_eq!(path, "services.web.cap_add");
                assert_eq!((pos.file.as_ref(), pos.line, pos.col), ("b.yaml", 3, 14));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string()
                .contains("cannot merge a string into the sequence"),
            "{e}"
        );
        let e = merge(
            parse("a.yaml", "services:\n  web: {image: x, ports: ['80:80']}\n"),
            parse(
                "b.yaml",
                "services:\n  web:\n    ports: [{published: 80}]\n",
            ),
        )
        .unwrap_err();
        assert!(e.to_string().contains("services.web.ports[0]"), "{e}");
        let e = merge(parse("a.yaml", "[1]\n"), parse("b.yaml", "a: 1\n")).unwrap_err();
        assert!(e.to_string().contains("must be a mapping"), "{e}");
    }

    #[test]
    fn empty_files_and_strip_tags() {
        let m = merge(
            parse("a.yaml", ""),
            parse("b.yaml", "services:\n  web: {image: x, ports: !reset []}\n"),
        )
        .unwrap();
        assert_eq!(m.to_json(), json!({"services": {"web": {"image": "x"}}}));
        let m = merge(
            parse("a.yaml", "services: {web: {image: x}}\n"),
            parse("b.yaml", ""),
        )
        .unwrap();
        assert_eq!(m.to_json(), json!({"services": {"web": {"image": "x"}}}));
        let mut n = parse(
            "a.yaml",
            "services:\n  web: {image: !override x, dns: !reset [a]}\n",
        );
        strip_tags(&mut n);
        assert_eq!(n.to_json(), json!({"services": {"web": {"image": "x"}}}));
        assert!(
            n.get("services")
                .unwrap()
                .get("web")
                .unwrap()
                .get("image")
                .unwrap()
                .tag
                .is_none()
        );
    }

    #[test]
    fn odd_port_specs_do_not_panic() {
        let j = web(
            "services:\n  web:\n    image: x\n    ports: ['0-4294967295:0-4294967295', '1-99999999999', '::1:80:80', '127.0.0.1::90', '5-3', 'a-b:c']\n",
            "services:\n  web:\n    ports: ['[::1]:80:80', '127.0.0.1::90/tcp']\n",
        );
        assert_eq!(
            j["ports"],
            json!([
                "0-4294967295:0-4294967295",
                "1-99999999999",
                "[::1]:80:80",
                "127.0.0.1::90/tcp",
                "5-3",
                "a-b:c"
            ])
        );
    }

    /// Random trees over compose's vocabulary: errors are fine, panics are not.
    #[test]
    fn random_trees_never_panic() {
        const KEYS: &[&str] = &[
            "services",
            "web",
            "db",
            "ports",
            "volumes",
            "environment",
            "labels",
            "build",
            "args",
            "depends_on",
            "networks",
            "extra_hosts",
            "logging",
            "driver",
            "ulimits",
            "nofile",
            "ipam",
            "config",
            "subnet",
            "target",
            "published",
            "host_ip",
            "secrets",
            "configs",
            "devices",
            "env_file",
            "path",
            "dns",
            "command",
            "healthcheck",
            "test",
            "extends",
            "service",
            "file",
            "context",
            "source",
            "type",
            "models",
            "tmpfs",
            "expose",
        ];
        const STRS: &[&str] = &[
            "80:80",
            "1-3:4-6",
            "[::1]:1:2/udp",
            "a=b",
            "a",
            "./x:/y",
            "C:\\x:/y",
            "h:1.1.1.1",
            "",
            "=",
            ":",
            "web",
            "db",
            "bind",
            "sub/c.yaml",
            "::",
            "0-99999999999",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        fn tree(next: &mut dyn FnMut(usize) -> usize, depth: usize) -> Node {
            let pos = Pos::new(&Arc::from("r.yaml"), depth + 1, 1);
            let kind = if depth > 5 { next(5) } else { next(8) };
            let mut n = Node::new(
                match kind {
                    0 => Value::Null,
                    1 => Value::Int(next(70000) as i64),
                    2..=4 => Value::Str(STRS[next(STRS.len())].to_string()),
                    5 => Value::Seq((0..next(4)).map(|_| tree(next, depth + 1)).collect()),
                    _ => Value::Map(
                        (0..next(5))
                            .map(|_| {
                                (
                                    Key::new(KEYS[next(KEYS.len())], Pos::none()),
                                    tree(next, depth + 1),
                                )
                            })
                            .collect(),
                    ),
                },
                pos,
            );
            n.tag = match next(12) {
                0 => Some(Tag::Reset),
                1 => Some(Tag::Override),
                _ => None,
            };
            n
        }
        fn map(entries: Vec<(&str, Node)>) -> Node {
            Node::new(
                Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Key::new(k, Pos::none()), v))
                        .collect(),
                ),
                Pos::none(),
            )
        }
        fn service(next: &mut dyn FnMut(usize) -> usize) -> Node {
            let mut entries: Vec<(&str, Node)> = (0..next(6))
                .map(|_| (KEYS[next(KEYS.len())], tree(next, 2)))
                .collect();
            let target = ["web", "db", "x"][next(3)];
            match next(4) {
                0 => entries.push(("extends", Node::new(Value::Str(target.into()), Pos::none()))),
                1 => {
                    let file = Node::new(Value::Str("o.yaml".into()), Pos::none());
                    let svc = Node::new(Value::Str(target.into()), Pos::none());
                    entries.push(("extends", map(vec![("service", svc), ("file", file)])));
                }
                _ => {}
            }
            let mut seen = HashSet::new();
            entries.retain(|(k, _)| seen.insert(*k));
            map(entries)
        }
        fn project(next: &mut dyn FnMut(usize) -> usize) -> Node {
            let services = map(vec![
                ("web", service(next)),
                ("db", service(next)),
                ("x", service(next)),
            ]);
            map(vec![("services", services), ("networks", tree(next, 1))])
        }
        let mut next: Box<dyn FnMut(usize) -> usize> = Box::new(next);
        for i in 0..3000 {
            let (a, b) = if i % 2 == 0 {
                (tree(&mut *next, 0), tree(&mut *next, 0))
            } else {
                (project(&mut *next), project(&mut *next))
            };
            let _ = merge(a.clone(), b.clone());
            let _ = merge_service(a.clone(), b.clone(), "web");
            for mut root in [a, b] {
                let other = project(&mut *next);
                let mut load = |_: &std::path::Path| -> Result<Node, Error> { Ok(other.clone()) };
                let _ = crate::extends::resolve_extends(
                    &mut root,
                    &mut load,
                    std::path::Path::new("/p"),
                );
            }
        }
    }

    #[test]
    fn big_port_ranges_stay_linear() {
        let t = std::time::Instant::now();
        let j = web(
            "services:\n  web:\n    image: x\n    ports: ['1-60000']\n",
            "services:\n  web:\n    ports: ['60000']\n",
        );
        assert_eq!(j["ports"].as_array().unwrap().len(), 60000);
        assert_eq!(j["ports"][59999], "60000");
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn big_merge_is_fast() {
        let mut a = String::from("services:\n");
        let mut b = String::from("services:\n");
        for i in 0..1000 {
            a.push_str(&format!("  s{i}:\n    image: x\n    environment: [A=1, B=2]\n    ports: ['{p}:80']\n    volumes: ['./d:/d{i}']\n", p = 10000 + i));
            b.push_str(&format!(
                "  s{i}:\n    environment: {{A: '2'}}\n    ports: ['{p}:80', '{q}:81']\n",
                p = 10000 + i,
                q = 20000 + i
            ));
        }
        let (a, b) = (parse("a.yaml", &a), parse("b.yaml", &b));
        let t = std::time::Instant::now();
        let m = merge(a, b).unwrap();
        let took = t.elapsed();
        assert_eq!(m.get("services").unwrap().as_map().unwrap().len(), 1000);
        assert!(took.as_millis() < 500, "{took:?}");
    }
}

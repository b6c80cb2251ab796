//! Service `extends`, resolved on the positioned tree of one compose file before it is merged
//! with the other files.
//!
//! `extends: base` or `extends: {service: base, file: other.yaml}` builds the service from
//! `base` (itself resolved first, across files), then merges the service's own keys over it
//! with the rules of [`crate::merge`]. Docker Compose v2 inherits every attribute, including
//! `depends_on`, `links` and `volumes_from`.
//!
//! A service taken from a file in another directory has its relative paths (build context,
//! bind mounts, `env_file`, `label_file`, watch paths, ...) prefixed with that file's directory
//! as written in `file:` (`sub/common.yaml`: `./app` → `sub/app`), as Docker Compose does, so
//! that they stay relative to the extending file's directory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::merge;
use crate::yaml::{Key, Map, Node, Pos, Tag, Value};

/// Resolves every `extends` of the services of `root` (one compose file, interpolated).
///
/// `load_file` reads another compose file (interpolated) for `extends.file`; `base_dir` is the
/// directory `file` is relative to in `root`. A file referenced several times is loaded once.
/// Tags (`!reset`, `!override`) on the extending services' keys are kept on the result, for
/// the merge with earlier files.
pub fn resolve_extends(
    root: &mut Node,
    load_file: &mut dyn FnMut(&Path) -> Result<Node, Error>,
    base_dir: &Path,
) -> Result<(), Error> {
    let names: Vec<String> = match root.get("services").and_then(Node::as_map) {
        Some(services) => services
            .iter()
            .filter(|(_, s)| s.get("extends").is_some())
            .map(|(k, _)| k.name.clone())
            .collect(),
        None => return Ok(()),
    };
    if names.is_empty() {
        return Ok(());
    }
    if let Some(result) = resolve_independent(root, &names) {
        return result;
    }
    resolve_in_order(root, &names, load_file, base_dir)
}

/// Resolves the `extends` of the services `names` of `root` one after another, each after
/// what it extends.
fn resolve_in_order(
    root: &mut Node,
    names: &[String],
    load_file: &mut dyn FnMut(&Path) -> Result<Node, Error>,
    base_dir: &Path,
) -> Result<(), Error> {
    let mut r = Resolver {
        files: vec![File {
            root: std::mem::replace(root, Node::new(Value::Null, Pos::none())),
            dir: base_dir.to_path_buf(),
        }],
        by_path: HashMap::new(),
        load_file,
        bases: HashMap::new(),
    };
    let result = names.iter().try_for_each(|name| r.resolve(0, name));
    *root = std::mem::replace(&mut r.files[0].root, Node::new(Value::Null, Pos::none()));
    result
}

/// Below this many extending services, `extends` is resolved on one thread.
const PARALLEL_MIN_SERVICES: usize = 64;

/// The common case of many services extending a few plain services of the same file, which
/// makes each service's resolution independent of the others': resolved in two halves on two
/// threads. `None` (nothing changed) when the project is not of that kind, or small; else
/// what the resolution in order gives, the same first error included (each resolution is
/// the one [`Resolver::apply`] makes, and one depends on no other).
fn resolve_independent(root: &mut Node, names: &[String]) -> Option<Result<(), Error>> {
    if names.len() < PARALLEL_MIN_SERVICES {
        return None;
    }
    let services = root.get("services").and_then(Node::as_map)?;
    // Each service's base: same file, present, a mapping, extending nothing.
    let mut bases: HashMap<&str, Node> = HashMap::new();
    let mut targets: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let ext = parse_extends(services.get(name.as_str())?.get("extends")?, name).ok()?;
        if ext.file.is_some() {
            return None;
        }
        let (key, base) = services.get_key_value(ext.service.as_str())?;
        if base.as_map().is_none() || base.get("extends").is_some() {
            return None;
        }
        if !bases.contains_key(key.name.as_str()) {
            let mut stripped = base.clone();
            merge::strip_tags(&mut stripped);
            bases.insert(key.name.as_str(), stripped);
        }
        targets.push(ext.service);
    }
    let bases: HashMap<String, Node> = bases.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let services = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Node::as_map_mut)?;
    // The extending services in order, with their bases (`names` is in the same order).
    let mut work: Vec<(&str, &mut Node, &Node)> = Vec::with_capacity(names.len());
    let mut next = names.iter().zip(&targets).peekable();
    for (k, node) in services.iter_mut() {
        if let Some((name, target)) = next.peek()
            && **name == k.name
        {
            work.push((k.name.as_str(), node, bases.get(target.as_str())?));
            next.next();
        }
    }
    if next.peek().is_some() {
        return None;
    }
    let mid = work.len() / 2;
    let (head, tail) = work.split_at_mut(mid);
    let run = |part: &mut [(&str, &mut Node, &Node)]| {
        part.iter_mut()
            .try_for_each(|(name, own, base)| extend_one(own, (*base).clone(), name))
    };
    let (a, b) = crate::par::join(|| run(head), || run(tail));
    Some(a.and(b))
}

/// Replaces the service `own` (called `name`) by `base` (resolved, tags stripped) with `own`
/// merged over it, its tags kept for the merge with other files.
fn extend_one(own: &mut Node, base: Node, name: &str) -> Result<(), Error> {
    let mut own_node = std::mem::replace(own, Node::new(Value::Null, Pos::none()));
    if let Some(m) = own_node.as_map_mut() {
        m.shift_remove("extends");
    }
    let mut tagged = Vec::new();
    collect_tags(&own_node, &mut Vec::new(), &mut tagged, 0);
    let pos = own_node.pos.clone();
    let mut merged = merge::merge_service(base, own_node, name)?;
    merged.pos = pos;
    for (path, tag, tpos) in tagged {
        mark(&mut merged, &path, tag, &tpos);
    }
    *own = merged;
    Ok(())
}

struct File {
    root: Node,
    /// The directory the file's relative paths (and `extends.file`) are relative to.
    dir: PathBuf,
}

/// An `extends` as written.
struct Extends {
    service: String,
    /// Where the service name is written.
    service_pos: Pos,
    file: Option<(String, Pos)>,
    /// Where the `extends` value is.
    pos: Pos,
}

/// A service waiting for the service it extends.
struct Frame {
    file: usize,
    name: String,
    ext: Extends,
}

struct Resolver<'a> {
    files: Vec<File>,
    by_path: HashMap<PathBuf, usize>,
    load_file: &'a mut dyn FnMut(&Path) -> Result<Node, Error>,
    /// Resolved services already used as a base, without their merge tags, by file and name.
    /// A service is resolved before it is first used as a base and not changed after, so
    /// many services extending one base strip it once.
    bases: HashMap<(usize, String), Node>,
}

fn extends_path(name: &str) -> String {
    format!("services.{name}.extends")
}

impl Resolver<'_> {
    fn services(&self, file: usize) -> Option<&Map> {
        self.files
            .get(file)
            .and_then(|f| f.root.get("services"))
            .and_then(Node::as_map)
    }

    fn services_mut(&mut self, file: usize) -> Option<&mut Map> {
        self.files
            .get_mut(file)
            .and_then(|f| f.root.as_map_mut())
            .and_then(|m| m.get_mut("services"))
            .and_then(Node::as_map_mut)
    }

    /// The `extends` of a service still to be resolved.
    fn pending(&self, file: usize, name: &str) -> Result<Option<Extends>, Error> {
        match self
            .services(file)
            .and_then(|s| s.get(name))
            .and_then(|s| s.get("extends"))
        {
            Some(ext) => parse_extends(ext, name).map(Some),
            None => Ok(None),
        }
    }

    /// Resolves one service and, first, everything it extends (depth first, without recursion).
    fn resolve(&mut self, file: usize, name: &str) -> Result<(), Error> {
        let Some(ext) = self.pending(file, name)? else {
            return Ok(());
        };
        let mut stack = vec![Frame {
            file,
            name: name.to_string(),
            ext,
        }];
        let mut on_stack: HashSet<(usize, String)> = HashSet::new();
        on_stack.insert((file, name.to_string()));
        while let Some(top) = stack.last() {
            let (tfile, tname) = self.target(top.file, &top.name, &top.ext)?;
            if on_stack.contains(&(tfile, tname.clone())) {
                return Err(cycle_error(&stack, tfile, &tname));
            }
            if let Some(ext) = self.pending(tfile, &tname)? {
                on_stack.insert((tfile, tname.clone()));
                stack.push(Frame {
                    file: tfile,
                    name: tname,
                    ext,
                });
                continue;
            }
            let Some(frame) = stack.pop() else { break };
            on_stack.remove(&(frame.file, frame.name.clone()));
            self.apply(&frame, tfile, &tname)?;
        }
        Ok(())
    }

    /// The file and name of the service `ext` points at, loading the file if needed.
    fn target(&mut self, file: usize, name: &str, ext: &Extends) -> Result<(usize, String), Error> {
        let tfile = match &ext.file {
            None => file,
            Some((f, fpos)) => self.load(file, name, f, fpos)?,
        };
        let Some(services) = self.services(tfile) else {
            let what = match &ext.file {
                Some((f, _)) => format!("{f} has no services"),
                None => "the file has no services".to_string(),
            };
            return Err(Error::at(
                &ext.pos,
                extends_path(name),
                format!("cannot extend service {:?}: {what}", ext.service),
            ));
        };
        if !services.contains_key(ext.service.as_str()) {
            let mut message = format!("cannot extend service {:?}: service not found", ext.service);
            if let Some((f, _)) = &ext.file {
                message.push_str(&format!(" in {f}"));
            }
            if let Some(near) = nearest(&ext.service, services.keys().map(|k| k.name.as_str())) {
                message.push_str(&format!(" (did you mean {near:?}?)"));
            }
            return Err(Error::at(&ext.service_pos, extends_path(name), message));
        }
        Ok((tfile, ext.service.clone()))
    }

    /// The index of the file `rel` (relative to file `from`'s directory), loaded once.
    fn load(&mut self, from: usize, name: &str, rel: &str, pos: &Pos) -> Result<usize, Error> {
        let dir = self
            .files
            .get(from)
            .map(|f| f.dir.clone())
            .unwrap_or_default();
        let path = PathBuf::from(clean(&dir.join(rel).to_string_lossy()));
        if let Some(&i) = self.by_path.get(&path) {
            return Ok(i);
        }
        let root = (self.load_file)(&path).map_err(|e| {
            Error::at(
                pos,
                format!("{}.file", extends_path(name)),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let fdir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.files.push(File { root, dir: fdir });
        let i = self.files.len() - 1;
        self.by_path.insert(path, i);
        Ok(i)
    }

    /// Builds service `frame.name` from the (resolved) service `tname` of file `tfile`.
    fn apply(&mut self, frame: &Frame, tfile: usize, tname: &str) -> Result<(), Error> {
        let Some(base) = self.services(tfile).and_then(|s| s.get(tname)) else {
            return Err(Error::at(
                &frame.ext.service_pos,
                extends_path(&frame.name),
                format!("cannot extend service {tname:?}: service not found"),
            ));
        };
        if base.as_map().is_none() {
            return Err(Error::at(
                &base.pos,
                format!("services.{tname}"),
                format!(
                    "service {tname:?}, extended by {:?}, must be a mapping, not a {}",
                    frame.name,
                    base.kind()
                ),
            ));
        }
        let mut base = match self.bases.get(&(tfile, tname.to_string())) {
            Some(stripped) => stripped.clone(),
            None => {
                let mut stripped = base.clone();
                merge::strip_tags(&mut stripped);
                self.bases
                    .insert((tfile, tname.to_string()), stripped.clone());
                stripped
            }
        };
        if let Some((f, _)) = &frame.ext.file
            && let Some(prefix) = Path::new(f).parent().and_then(Path::to_str)
        {
            let prefix = clean(prefix);
            if prefix != "." {
                rebase_service(&mut base, &prefix);
            }
        }
        let Some(slot) = self
            .services_mut(frame.file)
            .and_then(|s| s.get_mut(frame.name.as_str()))
        else {
            return Ok(());
        };
        extend_one(slot, base, &frame.name)
    }
}

fn parse_extends(node: &Node, name: &str) -> Result<Extends, Error> {
    let path = extends_path(name);
    match &node.value {
        Value::Str(s) => Ok(Extends {
            service: s.clone(),
            service_pos: node.pos.clone(),
            file: None,
            pos: node.pos.clone(),
        }),
        Value::Map(m) => {
            let Some(service) = m.get("service") else {
                return Err(Error::at(&node.pos, path, "extends needs a `service`"));
            };
            let Some(s) = service.as_str() else {
                return Err(Error::at(
                    &service.pos,
                    format!("{path}.service"),
                    format!("must be a string, not a {}", service.kind()),
                ));
            };
            let file = match m.get("file") {
                None => None,
                Some(f) if f.is_null() => None,
                Some(f) => match f.as_str() {
                    Some(text) => Some((text.to_string(), f.pos.clone())),
                    None => {
                        return Err(Error::at(
                            &f.pos,
                            format!("{path}.file"),
                            format!("must be a string, not a {}", f.kind()),
                        ));
                    }
                },
            };
            Ok(Extends {
                service: s.to_string(),
                service_pos: service.pos.clone(),
                file,
                pos: node.pos.clone(),
            })
        }
        _ => Err(Error::at(
            &node.pos,
            path,
            format!("must be a service name or a mapping, not a {}", node.kind()),
        )),
    }
}

/// `extends cycle: web (a.yaml:2:10) -> base (a.yaml:4:14) -> web`.
fn cycle_error(stack: &[Frame], tfile: usize, tname: &str) -> Error {
    let start = stack
        .iter()
        .position(|f| f.file == tfile && f.name == tname)
        .unwrap_or(0);
    let chain = &stack[start..];
    let mut message = String::from("extends cycle: ");
    for f in chain {
        if f.ext.pos.file.is_empty() {
            message.push_str(&format!("{} -> ", f.name));
        } else {
            message.push_str(&format!("{} ({}) -> ", f.name, f.ext.pos));
        }
    }
    message.push_str(tname);
    match stack.last() {
        Some(last) => Error::at(&last.ext.pos, extends_path(&last.name), message),
        None => Error::Other(message),
    }
}

/// The candidate closest to `name`, if close enough to be a likely typo.
fn nearest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len().max(name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Keeping the extending service's tags for the merge with earlier files.

const MAX_TAG_DEPTH: usize = 64;

/// The mapping paths of `node` that carry a tag.
fn collect_tags<'a>(
    node: &'a Node,
    path: &mut Vec<&'a str>,
    out: &mut Vec<(Vec<String>, Tag, Pos)>,
    depth: usize,
) {
    if depth > MAX_TAG_DEPTH {
        return;
    }
    if let Value::Map(m) = &node.value {
        for (k, v) in m {
            path.push(&k.name);
            match v.tag {
                Some(tag) => out.push((
                    path.iter().map(|s| s.to_string()).collect(),
                    tag,
                    v.pos.clone(),
                )),
                None => collect_tags(v, path, out, depth + 1),
            }
            path.pop();
        }
    }
}

/// Puts a tag back on the merged tree: `!override` on the node, `!reset` as a null entry.
fn mark(node: &mut Node, path: &[String], tag: Tag, pos: &Pos) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = node;
    for p in parents {
        match cur.as_map_mut().and_then(|m| m.get_mut(p.as_str())) {
            Some(next) => cur = next,
            None => return,
        }
    }
    let Some(m) = cur.as_map_mut() else { return };
    match tag {
        Tag::Override => {
            if let Some(v) = m.get_mut(last.as_str()) {
                v.tag = Some(Tag::Override);
            }
        }
        Tag::Reset => {
            if !m.contains_key(last.as_str()) {
                m.insert(
                    Key::new(last.clone(), pos.clone()),
                    Node {
                        value: Value::Null,
                        pos: pos.clone(),
                        tag: Some(Tag::Reset),
                    },
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rebasing relative paths.

/// Lexically cleans a `/`-separated path: `a/./b/../c` → `a/c`, `` → `.`.
fn clean(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&l) if l != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

fn is_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with('\\')
        || p.starts_with('~')
        || (b.len() > 2
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'\\' || b[2] == b'/'))
}

/// `prefix/p`, cleaned, unless `p` is absolute or empty.
fn rebase_str(prefix: &str, p: &str) -> Option<String> {
    if p.is_empty() || is_absolute(p) {
        return None;
    }
    Some(clean(&format!("{prefix}/{p}")))
}

fn rebase_node(n: &mut Node, prefix: &str) {
    if let Value::Str(s) = &mut n.value
        && let Some(r) = rebase_str(prefix, s)
    {
        *s = r;
    }
}

/// A build context or additional context: URLs and `service:`/`docker-image://` references
/// stay as they are.
fn rebase_context(n: &mut Node, prefix: &str) {
    if let Value::Str(s) = &n.value {
        let remote = s.contains("://")
            || s.starts_with("service:")
            || ["github.com/", "git@"].iter().any(|p| s.starts_with(p));
        if remote {
            return;
        }
    }
    rebase_node(n, prefix);
}

/// `KEY=path` strings (additional contexts or ssh keys as a list) or a mapping of them.
fn rebase_pairs(n: &mut Node, prefix: &str, context: bool) {
    match &mut n.value {
        Value::Map(m) => {
            for v in m.values_mut() {
                if context {
                    rebase_context(v, prefix);
                } else {
                    rebase_node(v, prefix);
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                let Value::Str(s) = &mut item.value else {
                    continue;
                };
                let Some((k, v)) = s.split_once('=') else {
                    continue;
                };
                let mut value = Node::new(Value::Str(v.to_string()), item.pos.clone());
                if context {
                    rebase_context(&mut value, prefix);
                } else {
                    rebase_node(&mut value, prefix);
                }
                if let Value::Str(v) = value.value {
                    *s = format!("{k}={v}");
                }
            }
        }
        _ => {}
    }
}

/// A string or list of files (`env_file`, `label_file`), list items possibly `{path: ...}`.
fn rebase_files(n: &mut Node, prefix: &str) {
    match &mut n.value {
        Value::Str(_) => rebase_node(n, prefix),
        Value::Seq(items) => {
            for item in items {
                match item.as_map_mut() {
                    Some(m) => {
                        if let Some(p) = m.get_mut("path") {
                            rebase_node(p, prefix);
                        }
                    }
                    None => rebase_node(item, prefix),
                }
            }
        }
        _ => {}
    }
}

/// A short volume whose source is a relative host path (`./data:/data`): the result keeps a
/// leading `.` so that it still reads as a path, not a volume name.
fn rebase_short_volume(n: &mut Node, prefix: &str) {
    let Value::Str(s) = &mut n.value else { return };
    let Some((source, rest)) = s.split_once(':') else {
        return;
    };
    if !source.starts_with('.') {
        return;
    }
    let Some(mut r) = rebase_str(prefix, source) else {
        return;
    };
    if !r.starts_with('.') && !r.starts_with('/') {
        r.insert_str(0, "./");
    }
    *s = format!("{r}:{rest}");
}

/// Prefixes the relative paths of a service taken from a file in directory `prefix`.
fn rebase_service(svc: &mut Node, prefix: &str) {
    let Some(m) = svc.as_map_mut() else { return };
    if let Some(b) = m.get_mut("build") {
        match b.as_map_mut() {
            Some(bm) => {
                if let Some(c) = bm.get_mut("context") {
                    rebase_context(c, prefix);
                }
                if let Some(ac) = bm.get_mut("additional_contexts") {
                    rebase_pairs(ac, prefix, true);
                }
                if let Some(ssh) = bm.get_mut("ssh") {
                    rebase_pairs(ssh, prefix, false);
                }
            }
            None => rebase_context(b, prefix),
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(n) = m.get_mut(key) {
            rebase_files(n, prefix);
        }
    }
    if let Some(Value::Seq(vols)) = m.get_mut("volumes").map(|n| &mut n.value) {
        for v in vols {
            match v.as_map_mut() {
                Some(vm) => {
                    if vm.get("type").and_then(Node::as_str) == Some("bind")
                        && let Some(src) = vm.get_mut("source")
                    {
                        rebase_node(src, prefix);
                    }
                }
                None => rebase_short_volume(v, prefix),
            }
        }
    }
    if let Some(Value::Seq(rules)) = m
        .get_mut("develop")
        .and_then(Node::as_map_mut)
        .and_then(|d| d.get_mut("watch"))
        .map(|w| &mut w.value)
    {
        for r in rules {
            if let Some(p) = r.as_map_mut().and_then(|rm| rm.get_mut("path")) {
                rebase_node(p, prefix);
            }
        }
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

    /// Resolves `main` (a.yaml in /p) with `others` as the files `load_file` can read.
    fn resolve(main: &str, others: &[(&str, &str)]) -> Result<Node, Error> {
        let mut root = parse("/p/a.yaml", main);
        let files: HashMap<PathBuf, (String, String)> = others
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (p.to_string(), t.to_string())))
            .collect();
        let mut load = |p: &Path| -> Result<Node, Error> {
            match files.get(p) {
                Some((name, text)) => Ok(parse(name, text)),
                None => Err(Error::Other(format!("{}: no such file", p.display()))),
            }
        };
        resolve_extends(&mut root, &mut load, Path::new("/p"))?;
        Ok(root)
    }

    fn services(main: &str, others: &[(&str, &str)]) -> serde_json::Value {
        resolve(main, others).unwrap().to_json()["services"].clone()
    }

    fn at(e: &Error) -> (String, usize, String) {
        match e {
            Error::At { pos, path, .. } => (pos.file.to_string(), pos.line, path.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_services_extending_plain_ones_resolve_as_in_order() {
        let mut text = String::from(
            "services:\n  base:\n    image: b\n    environment: [A=1]\n    ports: [\"80\"]\n  other:\n    image: o\n    command: [x]\n",
        );
        for i in 0..150 {
            let base = if i % 3 == 0 { "other" } else { "base" };
            text.push_str(&format!("  s{i}:\n    extends: {base}\n    environment: [B={i}]\n    ports: !override [\"{i}\"]\n"));
        }
        let names = |root: &Node| -> Vec<String> {
            root.get("services")
                .unwrap()
                .as_map()
                .unwrap()
                .iter()
                .filter(|(_, s)| s.get("extends").is_some())
                .map(|(k, _)| k.name.clone())
                .collect()
        };
        let check = |text: &str| {
            let mut fast = parse("compose.yaml", text);
            let mut slow = fast.clone();
            let n = names(&fast);
            let a = resolve_independent(&mut fast, &n).expect("the parallel path applies");
            let b = resolve_in_order(
                &mut slow,
                &n,
                &mut |_| panic!("no other file"),
                Path::new("/p"),
            );
            match (a, b) {
                (Ok(()), Ok(())) => {
                    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                    None
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string());
                    Some(a.to_string())
                }
                (a, b) => panic!("{a:?} / {b:?}"),
            }
        };
        assert_eq!(check(&text), None);
        // Merge errors (a port that is not one), the first in order wins.
        let bad = text
            .replace(
                "ports: !override [\"100\"]",
                "ports: [{published: x, target: 1}, {}]",
            )
            .replace("ports: !override [\"40\"]", "ports: [[1]]");
        let e = check(&bad).expect("an error");
        assert!(e.contains("s40"), "{e}");
        // A base that extends: not this path.
        let chained = text.replace("  other:\n", "  other:\n    extends: base\n");
        let mut root = parse("compose.yaml", &chained);
        let n = names(&root);
        assert!(resolve_independent(&mut root, &n).is_none());
    }

    #[test]
    fn same_file_nested_extends_merge_like_override_files() {
        let s = services(
            "services:\n  base:\n    image: x\n    command: [a]\n    environment: {A: '1'}\n    ports: ['80:80']\n    depends_on: [db]\n    links: [db]\n    volumes_from: [db]\n    networks: [n]\n    healthcheck: {test: [CMD, x], interval: 5s}\n  mid:\n    extends: base\n    environment: [B=2]\n    ports: ['81:81', '80:80']\n  web:\n    extends: {service: mid}\n    command: [b]\n    environment: {A: '9'}\n    container_name: webc\n    healthcheck: {test: [CMD, y]}\n  db: {image: y}\n",
            &[],
        );
        let mid = json!({
            "image": "x", "command": ["a"], "environment": {"A": "1", "B": "2"},
            "ports": ["80:80", "81:81"], "depends_on": ["db"], "links": ["db"],
            "volumes_from": ["db"], "networks": ["n"],
            "healthcheck": {"test": ["CMD", "x"], "interval": "5s"}
        });
        assert_eq!(s["mid"], mid);
        assert_eq!(
            s["web"],
            json!({
                "image": "x", "command": ["b"], "environment": {"A": "9", "B": "2"},
                "ports": ["80:80", "81:81"], "depends_on": ["db"], "links": ["db"],
                "volumes_from": ["db"], "networks": ["n"],
                "healthcheck": {"test": ["CMD", "y"], "interval": "5s"},
                "container_name": "webc"
            })
        );
        assert_eq!(s["base"]["command"], json!(["a"]));
    }

    #[test]
    fn positions_of_inherited_and_own_keys() {
        let root = resolve(
            "services:\n  base:\n    image: x\n  web:\n    extends: base\n    command: [b]\n",
            &[],
        )
        .unwrap();
        let web = root.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.pos.line, 5);
        assert_eq!(web.get("image").unwrap().pos.line, 3);
        assert_eq!(web.get("command").unwrap().pos.line, 6);
        assert!(web.get("extends").is_none());
    }

    #[test]
    fn other_files_and_directories_rebase_relative_paths() {
        let common = "services:\n  app:\n    build: ./app\n    env_file: [./app.env, {path: x.env, required: false}]\n    label_file: ./labels\n    volumes: ['./data:/data', 'named:/n', {type: bind, source: ./src, target: /src}, '/abs:/abs', '~/h:/h', {type: volume, source: v, target: /v}, '../up:/up', '.:/dot']\n    develop: {watch: [{path: ./w, action: sync, target: /w}]}\n  derived:\n    extends: {file: deeper/more.yaml, service: m}\n    environment: {D: '1'}\n  b2:\n    build: {dockerfile: D, ssh: [default, 'id=./key'], additional_contexts: ['foo=./foo', 'img=docker-image://alpine']}\n  b3:\n    build: {context: 'https://github.com/x/y.git', additional_contexts: {c: ../c}}\n";
        let more =
            "services:\n  m:\n    image: m\n    volumes: ['./mdata:/mdata']\n    build: ctx\n";
        let s = services(
            "services:\n  web:\n    extends: {file: sub/common.yaml, service: app}\n    environment: {W: '1'}\n  w2:\n    extends: {file: sub/common.yaml, service: derived}\n  w3:\n    extends: {file: ./sub/common.yaml, service: b2}\n  w4:\n    extends: {file: sub/common.yaml, service: b3}\n  w5:\n    extends: {file: /elsewhere/c.yaml, service: c}\n  w6:\n    extends: {file: here.yaml, service: h}\n",
            &[
                ("/p/sub/common.yaml", common),
                ("/p/sub/deeper/more.yaml", more),
                (
                    "/elsewhere/c.yaml",
                    "services:\n  c: {build: ., volumes: ['./x:/x']}\n",
                ),
                (
                    "/p/here.yaml",
                    "services:\n  h: {build: ., volumes: ['./x:/x']}\n",
                ),
            ],
        );
        assert_eq!(
            s["web"],
            json!({
                "build": "sub/app",
                "env_file": ["sub/app.env", {"path": "sub/x.env", "required": false}],
                "label_file": "sub/labels",
                "volumes": ["./sub/data:/data", "named:/n", {"type": "bind", "source": "sub/src", "target": "/src"}, "/abs:/abs", "~/h:/h", {"type": "volume", "source": "v", "target": "/v"}, "./up:/up", "./sub:/dot"],
                "develop": {"watch": [{"path": "sub/w", "action": "sync", "target": "/w"}]},
                "environment": {"W": "1"}
            })
        );
        assert_eq!(
            s["w2"],
            json!({"image": "m", "volumes": ["./sub/deeper/mdata:/mdata"], "build": "sub/deeper/ctx", "environment": {"D": "1"}})
        );
        assert_eq!(
            s["w3"],
            json!({"build": {"dockerfile": "D", "ssh": ["default", "id=sub/key"], "additional_contexts": ["foo=sub/foo", "img=docker-image://alpine"]}})
        );
        assert_eq!(
            s["w4"],
            json!({"build": {"context": "https://github.com/x/y.git", "additional_contexts": {"c": "c"}}})
        );
        assert_eq!(
            s["w5"],
            json!({"build": "/elsewhere", "volumes": ["/elsewhere/x:/x"]})
        );
        assert_eq!(s["w6"], json!({"build": ".", "volumes": ["./x:/x"]}));
    }

    #[test]
    fn a_file_is_loaded_once() {
        let mut root = parse(
            "/p/a.yaml",
            "services:\n  a: {extends: {file: c.yaml, service: x}}\n  b: {extends: {file: ./c.yaml, service: y}}\n",
        );
        let mut loads = 0;
        let mut load = |_: &Path| -> Result<Node, Error> {
            loads += 1;
            Ok(parse(
                "/p/c.yaml",
                "services:\n  x: {image: x}\n  y: {image: y}\n",
            ))
        };
        resolve_extends(&mut root, &mut load, Path::new("/p")).unwrap();
        assert_eq!(loads, 1);
        assert_eq!(root.to_json()["services"]["b"], json!({"image": "y"}));
    }

    #[test]
    fn cycles_are_errors_naming_the_chain() {
        let e = resolve(
            "services:\n  web: {extends: base, image: x}\n  base: {extends: mid}\n  mid: {extends: web}\n",
            &[],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("extends cycle: web (/p/a.yaml:2:18) -> base (/p/a.yaml:3:19) -> mid (/p/a.yaml:4:18) -> web"),
            "{msg}"
        );
        assert_eq!(
            at(&e),
            ("/p/a.yaml".into(), 4, "services.mid.extends".into())
        );
        let e = resolve("services:\n  web: {extends: web}\n", &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("extends cycle: web (/p/a.yaml:2:18) -> web"),
            "{e}"
        );
        // Across files.
        let e = resolve(
            "services:\n  web: {extends: {file: b.yaml, service: x}}\n",
            &[
                (
                    "/p/b.yaml",
                    "services:\n  x: {extends: {file: a.yaml, service: web}}\n",
                ),
                (
                    "/p/a.yaml",
                    "services:\n  web: {extends: {file: b.yaml, service: x}}\n",
                ),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("extends cycle: x ("), "{e}");
    }

    #[test]
    fn missing_services_and_files_are_errors_at_the_extends() {
        let e = resolve(
            "services:\n  web:\n    image: x\n    extends: bsae\n  base: {image: y}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            at(&e),
            ("/p/a.yaml".into(), 4, "services.web.extends".into())
        );
        assert!(
            e.to_string()
                .contains("service not found (did you mean \"base\"?)"),
            "{e}"
        );
        let e = resolve(
            "services:\n  web:\n    extends:\n      file: nope.yaml\n      service: x\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            at(&e),
            ("/p/a.yaml".into(), 4, "services.web.extends.file".into())
        );
        assert!(e.to_string().contains("cannot read /p/nope.yaml"), "{e}");
        let e = resolve(
            "services:\n  web:\n    extends:\n      file: b.yaml\n      service: x\n",
            &[("/p/b.yaml", "services:\n  y: {image: y}\n")],
        )
        .unwrap_err();
        assert_eq!(
            at(&e),
            ("/p/a.yaml".into(), 5, "services.web.extends".into())
        );
        assert!(e.to_string().contains("service not found in b.yaml"), "{e}");
        let e = resolve("services:\n  web:\n    extends: {file: b.yaml}\n", &[]).unwrap_err();
        assert!(e.to_string().contains("extends needs a `service`"), "{e}");
        let e = resolve("services:\n  web: {extends: base}\n  base:\n", &[]).unwrap_err();
        assert_eq!(at(&e).2, "services.base");
        let e = resolve("services:\n  web: {extends: [base]}\n", &[]).unwrap_err();
        assert_eq!(at(&e).2, "services.web.extends");
    }

    #[test]
    fn tags_apply_to_the_extended_service_and_stay_for_the_file_merge() {
        let root = resolve(
            "services:\n  base:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1'}\n    build: {context: ., args: {X: '1'}}\n    dns: !reset [gone]\n  web:\n    extends: base\n    ports: !reset []\n    environment: !override {Z: '1'}\n    build: {args: !reset null}\n",
            &[],
        )
        .unwrap();
        let web = root.get("services").unwrap().get("web").unwrap();
        assert_eq!(
            web.to_json(),
            json!({"image": "x", "environment": {"Z": "1"}, "build": {"context": ".", "args": null}, "ports": null})
        );
        assert_eq!(web.get("ports").unwrap().tag, Some(Tag::Reset));
        assert_eq!(web.get("environment").unwrap().tag, Some(Tag::Override));
        assert_eq!(
            web.get("build").unwrap().get("args").unwrap().tag,
            Some(Tag::Reset)
        );
        // Merged over an earlier file, the tags still act.
        let earlier = parse(
            "/p/0.yaml",
            "services:\n  web: {image: y, ports: ['1:1'], environment: {B: '2'}, build: {args: {Y: '1'}}}\n",
        );
        let m = merge::merge(earlier, root).unwrap().to_json();
        assert_eq!(
            m["services"]["web"],
            json!({"image": "x", "environment": {"Z": "1"}, "build": {"context": "."}})
        );
    }

    #[test]
    fn many_services_extending_is_fast() {
        let mut text = String::from(
            "services:\n  base:\n    image: x\n    environment: [A=1]\n    ports: ['80']\n",
        );
        for i in 0..1000 {
            let parent = if i % 10 == 0 {
                "base".to_string()
            } else {
                format!("s{}", i - 1)
            };
            text.push_str(&format!(
                "  s{i}:\n    extends: {parent}\n    environment: {{B{i}: '1'}}\n    ports: ['{}:80']\n",
                10000 + i
            ));
        }
        let mut root = parse("/p/a.yaml", &text);
        let t = std::time::Instant::now();
        let mut load = |_: &Path| -> Result<Node, Error> { Err(Error::Other("no".into())) };
        resolve_extends(&mut root, &mut load, Path::new("/p")).unwrap();
        let took = t.elapsed();
        let j = root.to_json();
        assert_eq!(
            j["services"]["s9"]["environment"]
                .as_object()
                .unwrap()
                .len(),
            11
        );
        assert!(took.as_millis() < 1000, "{took:?}");
        // A long chain resolves without deep recursion.
        let mut text = String::from("services:\n");
        for i in 0..2999 {
            text.push_str(&format!("  s{i}: {{extends: s{}}}\n", i + 1));
        }
        text.push_str("  s2999: {image: x}\n");
        let mut root = parse("/p/a.yaml", &text);
        resolve_extends(&mut root, &mut load, Path::new("/p")).unwrap();
        assert_eq!(root.to_json()["services"]["s0"], json!({"image": "x"}));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("sub/./app"), "sub/app");
        assert_eq!(clean("sub/../.."), "..");
        assert_eq!(clean("/a/../../b"), "/b");
        assert_eq!(clean("./"), ".");
        assert_eq!(clean("a//b/"), "a/b");
    }
}

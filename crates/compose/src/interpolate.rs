//! Variable interpolation in Compose files, as Docker Compose v2 (compose-go v2.9) does it.
//!
//! Forms: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`,
//! `${NAME?message}`, `${NAME:+alternative}`, `${NAME+alternative}`, and `$$` for a literal `$`.
//! Defaults, alternatives and messages are themselves interpolated, so they nest.
//!
//! compose-go finds these with a regular expression and then re-splits what it matched by
//! counting braces, and this module reproduces that scan rule for rule rather than a cleaner
//! grammar, because the differences are observable. What follows is what Docker Compose v2.40.3
//! actually does:
//!
//! * A name is `[_A-Za-z][_A-Za-z0-9]*`, matched case-insensitively the Go way, so the Unicode
//!   case-fold partners of `s` and `k` (`ſ` U+017F and `K` U+212A) are name characters too.
//! * `$` followed by anything that starts neither a name, nor `{`, nor another `$` (a digit, a
//!   space, `-`, the end of the string) is left as a literal `$`; it is not an error.
//! * `${` that does not start a valid braced form is an error ("invalid interpolation format").
//! * A braced form with an operator extends, at first, to the LAST `}` on the same line (the
//!   default's text cannot contain a newline); that stretch is then cut at the first brace that
//!   balances the opening one, where every `{` counts as an opener *and hides the character
//!   right after it*. Text after the cut is interpolated on its own. So `${A:-x}}` is `x}`, and
//!   `${A:-{}x}${B}` is an error (the default becomes `{}x}${B`).
//! * Defaults, alternatives and messages are interpolated before the variable is even looked
//!   at: `${A:-${B:?oops}}` fails even when `A` is set, and `${A:-$B}` warns about an unset `B`.
//! * Only the first error of a string is reported.

use std::fmt;

use crate::Error;
use crate::yaml::{Key, Node, Value};

/// How deeply defaults may nest (`${A:-${B:-${C:-…}}}`) before we give up. Compose has no limit;
/// anything real stays in single digits.
pub const MAX_DEPTH: usize = 128;

/// The result of substituting one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The string with every variable replaced.
    pub value: String,
    /// Variables that were used without a default and are not set (each name once, in order).
    /// Docker Compose warns `The "X" variable is not set. Defaulting to a blank string.` for each.
    pub unset: Vec<String>,
}

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// Malformed `${…}`. `template` is the text compose-go names: the whole string, or the
    /// default / trailing piece the error was found in.
    Invalid { template: String },
    /// `${NAME:?reason}` / `${NAME?reason}` with `NAME` missing.
    MissingRequired { variable: String, reason: String },
    /// Defaults nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpolationError::Invalid { template } => {
                write!(f, "Invalid template: {}", go_quote(template))
            }
            InterpolationError::MissingRequired { variable, reason } => {
                if reason.is_empty() {
                    write!(f, "required variable {variable} is missing a value")
                } else {
                    write!(
                        f,
                        "required variable {variable} is missing a value: {reason}"
                    )
                }
            }
            InterpolationError::TooDeep => write!(
                f,
                "variable substitutions nested more than {MAX_DEPTH} levels deep"
            ),
        }
    }
}

impl std::error::Error for InterpolationError {}

impl InterpolationError {
    /// The message used in a compose-file error (the path is printed separately).
    pub fn file_message(&self) -> String {
        match self {
            InterpolationError::Invalid { template } => format!(
                "invalid interpolation format for {}: you may need to escape any $ with another $",
                go_quote(template)
            ),
            other => other.to_string(),
        }
    }
}

/// Substitutes every variable of `input`. `lookup` says whether a variable is set (and to what).
pub fn substitute(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substitution, InterpolationError> {
    let mut unset = Vec::new();
    let value = match substitute_in(input, lookup, &mut unset)? {
        Some(v) => v,
        None => input.to_owned(),
    };
    Ok(Substitution { value, unset })
}

/// Substitutes in `input`, returning `None` when it holds no `$` at all (nothing to do, nothing
/// allocated). Unset variables are appended to `unset` unless already there.
pub fn substitute_in(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<Option<String>, InterpolationError> {
    if !input.as_bytes().contains(&b'$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(input.len());
    Scanner { lookup, unset }.run(input, &mut out, 0)?;
    Ok(Some(out))
}

/// Interpolates every string scalar value of `node` (never mapping keys) in place. `path` is the
/// dotted model path of `node` itself (`""` for a document root). Unset variables are appended to
/// `unset` (each once). Every failing string is reported, as `Error::At` at its node.
pub fn interpolate_node(
    node: &mut Node,
    path: &str,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    unset: &mut Vec<String>,
) -> Result<(), Error> {
    let mut errors = Vec::new();
    let root = PathSeg::Root(path);
    let big = |m: &crate::yaml::Map| {
        m.get("services")
            .and_then(Node::as_map)
            .is_some_and(|s| s.len() >= PARALLEL_MIN_SERVICES)
    };
    match &mut node.value {
        // What `walk` does, with a big project's services walked in two halves on two
        // threads; the unset variables and the errors are put together in the same order.
        Value::Map(map) if big(map) => {
            for (k, v) in map.iter_mut() {
                let seg = PathSeg::Key(&root, &k.name);
                match &mut v.value {
                    Value::Map(services) if k.name == "services" => {
                        let mut entries: Vec<(&Key, &mut Node)> = services.iter_mut().collect();
                        let mid = entries.len() / 2;
                        let (head, tail) = entries.split_at_mut(mid);
                        let half = |part: &mut [(&Key, &mut Node)]| {
                            let (mut unset, mut errors) = (Vec::new(), Vec::new());
                            for (k, v) in part.iter_mut() {
                                let seg = PathSeg::Key(&seg, &k.name);
                                walk(v, &seg, lookup, &mut unset, &mut errors);
                            }
                            (unset, errors)
                        };
                        let (a, b) = crate::par::join(|| half(head), || half(tail));
                        for (names, errs) in [a, b] {
                            for name in names {
                                if !unset.contains(&name) {
                                    unset.push(name);
                                }
                            }
                            errors.extend(errs);
                        }
                    }
                    _ => walk(v, &seg, lookup, unset, &mut errors),
                }
            }
        }
        _ => walk(node, &root, lookup, unset, &mut errors),
    }
    Error::collect(errors)
}

/// Below this many services a project is interpolated on one thread.
const PARALLEL_MIN_SERVICES: usize = 64;

enum PathSeg<'a> {
    Root(&'a str),
    Key(&'a PathSeg<'a>, &'a str),
    Index(&'a PathSeg<'a>, usize),
}

impl PathSeg<'_> {
    fn render(&self, out: &mut String) {
        match self {
            PathSeg::Root(p) => out.push_str(p),
            PathSeg::Key(parent, k) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(parent, i) => {
                parent.render(out);
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
}

fn walk(
    node: &mut Node,
    path: &PathSeg<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    errors: &mut Vec<Error>,
) {
    match &mut node.value {
        Value::Str(s) => match substitute_in(s, lookup, unset) {
            Ok(None) => {}
            Ok(Some(v)) => *s = v,
            Err(e) => {
                let mut p = String::new();
                path.render(&mut p);
                errors.push(Error::at(&node.pos, p, e.file_message()));
            }
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &PathSeg::Index(path, i), lookup, unset, errors);
            }
        }
        Value::Map(map) => {
            for (k, v) in map.iter_mut() {
                walk(v, &PathSeg::Key(path, &k.name), lookup, unset, errors);
            }
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
    }
}

/// The operator of a braced form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `:?`
    RequiredNonEmpty,
    /// `?`
    Required,
    /// `:-`
    DefaultIfEmpty,
    /// `-`
    DefaultIfUnset,
    /// `:+`
    AltIfNonEmpty,
    /// `+`
    AltIfSet,
}

/// Parses an operator at `at`; returns it and where its argument starts.
fn parse_op(b: &[u8], at: usize) -> Option<(Op, usize)> {
    let colon = b.get(at) == Some(&b':');
    let c = if colon { b.get(at + 1)? } else { b.get(at)? };
    let op = match (colon, c) {
        (true, b'?') => Op::RequiredNonEmpty,
        (false, b'?') => Op::Required,
        (true, b'-') => Op::DefaultIfEmpty,
        (false, b'-') => Op::DefaultIfUnset,
        (true, b'+') => Op::AltIfNonEmpty,
        (false, b'+') => Op::AltIfSet,
        _ => return None,
    };
    Some((op, at + 1 + usize::from(colon)))
}

/// Whether `c` may start a variable name (Go regexp `(?i)[_a-z]`).
fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || c == '\u{17F}' || c == '\u{212A}'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// The end of the name starting at `start`, if one starts there.
fn name_end(s: &str, start: usize) -> Option<usize> {
    let rest = s.get(start..)?;
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return None,
    }
    for (i, c) in chars {
        if !is_name_char(c) {
            return Some(start + i);
        }
    }
    Some(s.len())
}

/// compose-go's `getFirstBraceClosingIndex`: counts `{` and `}`, skipping the byte after
/// every `{`, and returns the index of the `}` that brings the count back to zero.
fn first_brace_closing(m: &[u8]) -> Option<usize> {
    let mut open = 0usize;
    let mut i = 0;
    while i < m.len() {
        if m[i] == b'}' {
            open = open.saturating_sub(1);
            if open == 0 {
                return Some(i);
            }
        }
        if m[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// Remembers the last `}` of the line being scanned, so that a line full of `${X:-y}` is not
/// rescanned for every one of them.
#[derive(Default)]
struct LineCache {
    valid: bool,
    from: usize,
    line_end: usize,
    last_brace: Option<usize>,
}

impl LineCache {
    /// The last `}` in `s[from..]` before the next newline.
    fn last_brace(&mut self, s: &[u8], from: usize) -> Option<usize> {
        if !(self.valid && from >= self.from && from <= self.line_end) {
            let line_end = s[from..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(s.len(), |k| from + k);
            self.last_brace = s[from..line_end]
                .iter()
                .rposition(|&c| c == b'}')
                .map(|k| from + k);
            self.from = from;
            self.line_end = line_end;
            self.valid = true;
        }
        self.last_brace.filter(|&c| c >= from)
    }
}

struct Scanner<'l> {
    lookup: &'l dyn Fn(&str) -> Option<String>,
    unset: &'l mut Vec<String>,
}

impl Scanner<'_> {
    fn note_unset(&mut self, name: &str) {
        if !self.unset.iter().any(|n| n == name) {
            self.unset.push(name.to_owned());
        }
    }

    /// A plain lookup (`$NAME`, `${NAME}`): unset becomes empty, with a warning.
    fn plain(&mut self, name: &str, out: &mut String) {
        match (self.lookup)(name) {
            Some(v) => out.push_str(&v),
            None => self.note_unset(name),
        }
    }

    /// Substitutes `s` (one compose-go `Substitute` call) into `out`.
    fn run(&mut self, s: &str, out: &mut String, depth: usize) -> Result<(), InterpolationError> {
        if depth > MAX_DEPTH {
            return Err(InterpolationError::TooDeep);
        }
        let b = s.as_bytes();
        let mut i = 0; // where to look for the next `$`
        let mut lit = 0; // start of the literal text not yet copied to `out`
        // The trailing piece compose-go interpolates separately after a braced form; errors
        // found in it name it, not the whole string.
        let mut piece: Option<(usize, usize)> = None;
        let mut cache = LineCache::default();
        let invalid = |piece: Option<(usize, usize)>, p: usize| {
            let template = match piece {
                Some((a, z)) if p < z => &s[a..z],
                _ => s,
            };
            InterpolationError::Invalid {
                template: template.to_owned(),
            }
        };
        while let Some(off) = s[i..].find('$') {
            let p = i + off;
            if matches!(piece, Some((_, z)) if p >= z) {
                piece = None;
            }
            match b.get(p + 1) {
                Some(b'$') => {
                    out.push_str(&s[lit..p]);
                    out.push('$');
                    i = p + 2;
                    lit = i;
                }
                Some(b'{') => {
                    let q = p + 2;
                    let Some(ne) = name_end(s, q) else {
                        return Err(invalid(piece, p));
                    };
                    let name = &s[q..ne];
                    if b.get(ne) == Some(&b'}') {
                        out.push_str(&s[lit..p]);
                        self.plain(name, out);
                        i = ne + 1;
                        lit = i;
                        continue;
                    }
                    let Some((op, arg_start)) = parse_op(b, ne) else {
                        return Err(invalid(piece, p));
                    };
                    let Some(close) = cache.last_brace(b, arg_start) else {
                        return Err(invalid(piece, p));
                    };
                    let m_end = close + 1;
                    let (sub_end, rest) = match first_brace_closing(&b[p..m_end]) {
                        Some(k) => (p + k + 1, Some((p + k + 1, m_end))),
                        None => (m_end, None),
                    };
                    let mut arg = String::new();
                    self.run(&s[arg_start..sub_end - 1], &mut arg, depth + 1)?;
                    out.push_str(&s[lit..p]);
                    self.apply(op, name, arg, out)?;
                    i = sub_end;
                    lit = i;
                    if let Some((a, z)) = rest
                        && a < z
                    {
                        piece = Some((a, z));
                    }
                }
                _ => match name_end(s, p + 1) {
                    Some(ne) => {
                        out.push_str(&s[lit..p]);
                        self.plain(&s[p + 1..ne], out);
                        i = ne;
                        lit = i;
                    }
                    // `$` before anything else stays a literal `$`.
                    None => i = p + 1,
                },
            }
        }
        out.push_str(&s[lit..]);
        Ok(())
    }

    fn apply(
        &mut self,
        op: Op,
        name: &str,
        arg: String,
        out: &mut String,
    ) -> Result<(), InterpolationError> {
        let value = (self.lookup)(name);
        let missing = |reason: String| InterpolationError::MissingRequired {
            variable: name.to_owned(),
            reason,
        };
        let result = match (op, value) {
            (Op::RequiredNonEmpty, Some(v)) if !v.is_empty() => v,
            (Op::RequiredNonEmpty, _) => return Err(missing(arg)),
            (Op::Required, Some(v)) => v,
            (Op::Required, None) => return Err(missing(arg)),
            (Op::DefaultIfEmpty, Some(v)) if !v.is_empty() => v,
            (Op::DefaultIfEmpty, _) => arg,
            (Op::DefaultIfUnset, Some(v)) => v,
            (Op::DefaultIfUnset, None) => arg,
            (Op::AltIfNonEmpty, Some(v)) if !v.is_empty() => arg,
            (Op::AltIfNonEmpty, v) => v.unwrap_or_default(),
            (Op::AltIfSet, Some(_)) => arg,
            (Op::AltIfSet, None) => String::new(),
        };
        out.push_str(&result);
        Ok(())
    }
}

/// A variable a compose file uses, as `config --variables` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// `${V:?err}` / `${V?err}`.
    pub required: bool,
    /// `${V:-d}` / `${V-d}`: the default as written (not interpolated).
    pub default: Option<String>,
    /// `${V:+x}` / `${V+x}`: the alternate value as written.
    pub alternate: Option<String>,
}

/// Every variable in the string values of a tree (never keys), by name; the first use of a
/// name decides what is shown.
pub fn variables(node: &Node) -> Vec<Variable> {
    let mut out = std::collections::BTreeMap::new();
    collect_node(node, &mut out);
    out.into_values().collect()
}

fn collect_node(node: &Node, out: &mut std::collections::BTreeMap<String, Variable>) {
    match &node.value {
        Value::Str(s) => variables_in(s, out, 0),
        Value::Seq(items) => items.iter().for_each(|n| collect_node(n, out)),
        Value::Map(m) => m.values().for_each(|n| collect_node(n, out)),
        _ => {}
    }
}

fn variables_in(s: &str, out: &mut std::collections::BTreeMap<String, Variable>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut record = |name: &str, op: Option<Op>, arg: &str| {
        out.entry(name.to_owned()).or_insert_with(|| Variable {
            name: name.to_owned(),
            required: matches!(op, Some(Op::Required | Op::RequiredNonEmpty)),
            default: matches!(op, Some(Op::DefaultIfEmpty | Op::DefaultIfUnset))
                .then(|| arg.to_owned()),
            alternate: matches!(op, Some(Op::AltIfNonEmpty | Op::AltIfSet)).then(|| arg.to_owned()),
        });
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut nested = Vec::new();
    while let Some(off) = s[i..].find('$') {
        let p = i + off;
        match b.get(p + 1) {
            Some(b'$') => i = p + 2,
            Some(b'{') => {
                let Some(ne) = name_end(s, p + 2) else {
                    i = p + 1;
                    continue;
                };
                let name = &s[p + 2..ne];
                if b.get(ne) == Some(&b'}') {
                    record(name, None, "");
                    i = ne + 1;
                    continue;
                }
                let Some((op, arg_start)) = parse_op(b, ne) else {
                    i = p + 1;
                    continue;
                };
                let mut open = 1usize;
                let mut j = arg_start;
                while j < b.len() {
                    match b[j] {
                        b'{' => open += 1,
                        b'}' => {
                            open -= 1;
                            if open == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= b.len() {
                    i = p + 1;
                    continue;
                }
                record(name, Some(op), &s[arg_start..j]);
                nested.push(&s[arg_start..j]);
                i = j + 1;
            }
            _ => match name_end(s, p + 1) {
                Some(ne) => {
                    record(&s[p + 1..ne], None, "");
                    i = ne;
                }
                None => i = p + 1,
            },
        }
    }
    for arg in nested {
        variables_in(arg, out, depth + 1);
    }
}

#[cfg(test)]
mod variable_tests {
    use super::*;

    #[test]
    fn variables_are_listed_with_defaults_as_written() {
        let root = crate::yaml::parse(
            &std::sync::Arc::from("c.yaml"),
            "a: ${A}:${B:-x}\nb: [\"${C:?err}\", \"${D:+alt}\", $E, \"${F-def}\", \"${G:-${H:-inner}}\", $$I]\n",
        )
        .unwrap();
        let v = variables(&root);
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "D", "E", "F", "G", "H"]);
        assert_eq!(v[1].default.as_deref(), Some("x"));
        assert!(v[2].required);
        assert_eq!(v[3].alternate.as_deref(), Some("alt"));
        assert_eq!(v[6].default.as_deref(), Some("${H:-inner}"));
        assert_eq!(v[7].default.as_deref(), Some("inner"));
    }
}

/// Quotes `s` as Go's `strconv.Quote` does (what compose-go's `%q` / `%#v` messages show).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: no controls, no spaces but ' ', no common
/// format characters, no private use.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xD800..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xF0000..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(input: &str, pairs: &[(&str, &str)]) -> Result<Substitution, InterpolationError> {
        let e = env(pairs);
        substitute(input, &|k| e.get(k).cloned())
    }

    fn ok(input: &str, pairs: &[(&str, &str)]) -> String {
        sub(input, pairs).unwrap().value
    }

    fn invalid(input: &str, pairs: &[(&str, &str)]) -> String {
        match sub(input, pairs) {
            Err(InterpolationError::Invalid { template }) => template,
            other => panic!("{input:?}: expected invalid, got {other:?}"),
        }
    }

    fn missing(input: &str, pairs: &[(&str, &str)]) -> String {
        match sub(input, pairs) {
            Err(e @ InterpolationError::MissingRequired { .. }) => e.to_string(),
            other => panic!("{input:?}: expected missing, got {other:?}"),
        }
    }

    #[test]
    fn plain_forms() {
        assert_eq!(ok("$A", &[("A", "v")]), "v");
        assert_eq!(ok("${A}", &[("A", "v")]), "v");
        assert_eq!(ok("$A$B", &[("A", "1"), ("B", "2")]), "12");
        assert_eq!(ok("${A}${B}", &[("A", "1"), ("B", "2")]), "12");
        assert_eq!(ok("$A-b", &[("A", "1")]), "1-b");
        assert_eq!(ok("${a_1}", &[("a_1", "low")]), "low");
        assert_eq!(ok("${_}", &[("_", "u")]), "u");
        assert_eq!(ok("$_1x", &[("_1x", "u")]), "u");
        assert_eq!(ok("$Aé", &[("A", "1")]), "1é");
        assert_eq!(ok("no dollars", &[]), "no dollars");
    }

    #[test]
    fn unset_is_empty_and_reported_once() {
        let s = sub("${A}-$A-${B:-x}-$C", &[]).unwrap();
        assert_eq!(s.value, "--x-");
        assert_eq!(s.unset, vec!["A".to_string(), "C".to_string()]);
        // Set but empty is not unset.
        let s = sub("${A}", &[("A", "")]).unwrap();
        assert_eq!(s.value, "");
        assert!(s.unset.is_empty());
    }

    #[test]
    fn defaults() {
        assert_eq!(ok("${A:-d}", &[]), "d");
        assert_eq!(ok("${A:-d}", &[("A", "")]), "d");
        assert_eq!(ok("${A:-d}", &[("A", "v")]), "v");
        assert_eq!(ok("${A-d}", &[]), "d");
        assert_eq!(ok("${A-d}", &[("A", "")]), "");
        assert_eq!(ok("${A-}", &[("A", "q")]), "q");
        assert_eq!(ok("${A:-}", &[]), "");
        assert_eq!(ok("${A:-a:b-c}", &[]), "a:b-c");
        assert_eq!(ok("${A-a:-b}", &[]), "a:-b");
        assert_eq!(ok("${A-x}${B:-y}", &[]), "xy");
    }

    #[test]
    fn alternatives() {
        assert_eq!(ok("${A:+alt}", &[("A", "x")]), "alt");
        assert_eq!(ok("${A:+alt}", &[("A", "")]), "");
        assert_eq!(ok("${A:+alt}", &[]), "");
        assert_eq!(ok("${A+alt}", &[("A", "")]), "alt");
        assert_eq!(ok("${A+alt}", &[]), "");
        assert_eq!(ok("${A:+$B}", &[("A", "1"), ("B", "b")]), "b");
        // `+` forms never warn.
        assert!(sub("${A+x}${B:+y}", &[]).unwrap().unset.is_empty());
    }

    #[test]
    fn required() {
        assert_eq!(
            missing("${A:?msg}", &[("A", "")]),
            "required variable A is missing a value: msg"
        );
        assert_eq!(ok("${A?msg}", &[("A", "")]), "");
        assert_eq!(
            missing("${A?msg}", &[]),
            "required variable A is missing a value: msg"
        );
        assert_eq!(
            missing("${A:?}", &[]),
            "required variable A is missing a value"
        );
        assert_eq!(
            missing("${A?x:-y}", &[]),
            "required variable A is missing a value: x:-y"
        );
        assert_eq!(
            missing("${A:?${B:-dm}}", &[]),
            "required variable A is missing a value: dm"
        );
        assert_eq!(ok("${A:?e}${B:-y}", &[("A", "1")]), "1y");
    }

    #[test]
    fn nesting() {
        assert_eq!(ok("${A:-${B:-d}}", &[]), "d");
        assert_eq!(ok("${A:-${B:-${C:-deep}}}", &[]), "deep");
        assert_eq!(ok("${A:-$B}", &[("B", "bb")]), "bb");
        assert_eq!(ok("${A:-${B}}", &[]), "");
        assert_eq!(ok("${A:-$$}", &[]), "$");
    }

    #[test]
    fn defaults_are_evaluated_eagerly() {
        // v2 interpolates the default before looking at the variable.
        let s = sub("${A:-$B}", &[("A", "a")]).unwrap();
        assert_eq!(s.value, "a");
        assert_eq!(s.unset, vec!["B".to_string()]);
        assert_eq!(
            missing("${A:-${B:?bneeded}}", &[("A", "a")]),
            "required variable B is missing a value: bneeded"
        );
        assert_eq!(
            missing("${A+${B:?e}}", &[]),
            "required variable B is missing a value: e"
        );
    }

    #[test]
    fn dollars() {
        assert_eq!(ok("$$", &[]), "$");
        assert_eq!(ok("$$$$A", &[]), "$$A");
        assert_eq!(ok("$${A}", &[("A", "1")]), "${A}");
        // A `$` that starts nothing is kept.
        assert_eq!(ok("$", &[]), "$");
        assert_eq!(ok("a$", &[]), "a$");
        assert_eq!(ok("${A}$", &[]), "$");
        assert_eq!(ok("$1 $- $ x", &[]), "$1 $- $ x");
        assert_eq!(ok("${A:-x}$$ $1 $- $", &[("A", "1")]), "1$ $1 $- $");
    }

    #[test]
    fn braces_after_forms() {
        assert_eq!(ok("${A:-x}}", &[]), "x}");
        assert_eq!(ok("${A:-x}y}z", &[]), "xy}z");
        assert_eq!(ok("${A}}", &[("A", "1")]), "1}");
        assert_eq!(ok("$A}", &[("A", "1")]), "1}");
        assert_eq!(ok("${A:-{}}", &[]), "{}");
        assert_eq!(ok("${A:-{}", &[]), "{");
        assert_eq!(ok("${A:-{x}", &[]), "{x");
        assert_eq!(ok("${A:-}}", &[]), "}");
    }

    #[test]
    fn brace_counting_quirk() {
        // `{` hides the next character from the brace counter, so the split goes wrong.
        assert_eq!(invalid("${A:-{}x}${B}", &[("B", "b")]), "{}x}${B");
    }

    #[test]
    fn newline_ends_a_default() {
        assert_eq!(invalid("a${A:-x\ny}", &[]), "a${A:-x\ny}");
        let s = sub("${A:-x}\n${B}", &[]).unwrap();
        assert_eq!(s.value, "x\n");
        assert_eq!(s.unset, vec!["B".to_string()]);
    }

    #[test]
    fn invalid_forms() {
        for t in [
            "${", "${}", "${A:x}", "${1}", "${A", "${A B}", "${Aé}", "x ${ y",
        ] {
            assert_eq!(invalid(t, &[]), t, "{t:?}");
        }
        // The template named is the piece compose-go was working on.
        assert_eq!(invalid("${A:-x} ${B} ${}", &[]), " ${B} ${}");
        assert_eq!(invalid("${A:-x}${B:-${}}", &[]), "${}");
        assert_eq!(invalid("${A:-${}}", &[]), "${}");
        assert_eq!(
            InterpolationError::Invalid {
                template: "${A".into()
            }
            .to_string(),
            "Invalid template: \"${A\""
        );
    }

    #[test]
    fn go_case_folding_in_names() {
        assert_eq!(ok("${ſ:-x}", &[]), "x");
        assert_eq!(ok("${\u{212A}:-y}", &[]), "y");
        assert_eq!(sub("$ſ", &[]).unwrap().unset, vec!["ſ".to_string()]);
    }

    #[test]
    fn depth_is_bounded() {
        let mut s = String::new();
        for _ in 0..100_000 {
            s.push_str("${A:-");
        }
        s.push('x');
        for _ in 0..100_000 {
            s.push('}');
        }
        assert_eq!(sub(&s, &[]), Err(InterpolationError::TooDeep));
        // Within the limit it works.
        let mut s = String::new();
        for _ in 0..50 {
            s.push_str("${A:-");
        }
        s.push('x');
        for _ in 0..50 {
            s.push('}');
        }
        assert_eq!(ok(&s, &[]), "x");
    }

    #[test]
    fn long_lines_stay_linear() {
        let s = "${A:-x}".repeat(20_000);
        assert_eq!(ok(&s, &[]), "x".repeat(20_000));
        let s = "${A:-x} ".repeat(20_000);
        assert_eq!(ok(&s, &[]).len(), 40_000);
    }

    fn parse(text: &str) -> Node {
        crate::yaml::parse(&Arc::from("compose.yaml"), text).unwrap()
    }

    #[test]
    fn big_projects_interpolate_as_small_ones_do() {
        let mut text = String::from("x-a: $Z\nservices:\n");
        for i in 0..150 {
            let v = match i % 50 {
                7 => "${E:?missing}".to_string(),
                3 => format!("$U{}", i % 7),
                _ => format!("${{S:-d}}{i}"),
            };
            text.push_str(&format!("  s{i}:\n    image: \"{v}\"\n"));
        }
        text.push_str("x-b: [$U1, $Y]\n");
        let e = env(&[("S", "s")]);
        let lookup = |k: &str| e.get(k).cloned();
        let (mut big, mut small) = (parse(&text), parse(&text));
        let mut unset = vec!["Y".to_string()];
        let err = interpolate_node(&mut big, "", &lookup, &mut unset).unwrap_err();
        let (mut unset2, mut errors) = (vec!["Y".to_string()], Vec::new());
        walk(
            &mut small,
            &PathSeg::Root(""),
            &lookup,
            &mut unset2,
            &mut errors,
        );
        assert_eq!(unset, unset2);
        assert_eq!(
            err.to_string(),
            Error::collect(errors).unwrap_err().to_string()
        );
        assert_eq!(format!("{big:?}"), format!("{small:?}"));
        assert_eq!(
            big.get("services")
                .unwrap()
                .get("s149")
                .unwrap()
                .get("image")
                .unwrap()
                .as_str(),
            Some("s149")
        );
    }

    #[test]
    fn node_values_not_keys() {
        let mut n = parse(
            "services:\n  web:\n    image: ${IMG:-busybox}\n    environment:\n      ${K}: $V\n    command: [echo, $$HOME, 3]\n",
        );
        let e = env(&[("V", "vv")]);
        let mut unset = Vec::new();
        interpolate_node(&mut n, "", &|k| e.get(k).cloned(), &mut unset).unwrap();
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().as_str(), Some("busybox"));
        assert_eq!(
            web.get("environment")
                .unwrap()
                .get("${K}")
                .unwrap()
                .as_str(),
            Some("vv")
        );
        let cmd = web.get("command").unwrap().as_seq().unwrap();
        assert_eq!(cmd[1].as_str(), Some("$HOME"));
        assert!(matches!(cmd[2].value, Value::Int(3)));
        assert!(unset.is_empty());
    }

    #[test]
    fn node_errors_are_positioned_and_collected() {
        let mut n = parse(
            "services:\n  web:\n    image: ${TAG:?tag is needed}\n    command: [a, \"${}\"]\n",
        );
        let mut unset = Vec::new();
        let err = interpolate_node(&mut n, "", &|_| None, &mut unset).unwrap_err();
        let Error::Many(errs) = err else {
            panic!("expected two errors")
        };
        assert_eq!(
            errs[0].to_string(),
            "compose.yaml:3:12: services.web.image: required variable TAG is missing a value: tag is needed"
        );
        match &errs[1] {
            Error::At { pos, path, message } => {
                assert_eq!((pos.line, pos.col), (4, 18));
                assert_eq!(path, "services.web.command[1]");
                assert!(message.starts_with("invalid interpolation format for \"${}\""));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn node_unset_deduped_and_root_path() {
        let mut n = parse("a: $X\nb: [$X, $Y]\n");
        let mut unset = vec!["Y".to_string()];
        interpolate_node(&mut n, "x-root", &|_| None, &mut unset).unwrap();
        assert_eq!(unset, vec!["Y".to_string(), "X".to_string()]);
        let mut n = parse("a: ${B:?}\n");
        let err = interpolate_node(&mut n, "x-root", &|_| None, &mut unset).unwrap_err();
        assert!(err.to_string().contains(": x-root.a: "), "{err}");
    }

    #[test]
    fn thousand_services_fast() {
        let mut text = String::from("services:\n");
        for i in 0..1000 {
            text.push_str(&format!(
                "  s{i}:\n    image: ${{REG:-docker.io}}/app:${{TAG:-latest}}\n    environment:\n      A: plain value\n      B: \"$$literal\"\n    ports: [\"80{i}:80\"]\n    labels: {{x: y, z: w}}\n"
            ));
        }
        let n = parse(&text);
        let e = env(&[("TAG", "1.0")]);
        let lookup = |k: &str| e.get(k).cloned();
        let start = std::time::Instant::now();
        let mut m = n.clone();
        let mut unset = Vec::new();
        interpolate_node(&mut m, "", &lookup, &mut unset).unwrap();
        let took = start.elapsed();
        assert_eq!(
            m.get("services")
                .unwrap()
                .get("s7")
                .unwrap()
                .get("image")
                .unwrap()
                .as_str(),
            Some("docker.io/app:1.0")
        );
        // Debug build, shared machine: generous bound (release is ~1 ms).
        assert!(took.as_millis() < 200, "{took:?}");
    }
}

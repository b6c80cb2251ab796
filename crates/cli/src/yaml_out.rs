//! A block-style YAML writer for JSON values, laid out as `docker compose config` prints
//! (two-space indentation, sequences indented under their key).
//!
//! Faster than a general emitter because the input is plain data: strings are written plain
//! when a YAML 1.2 (and 1.1) reader would read them back as the same string, and
//! double-quoted with JSON escapes (valid YAML) otherwise.

use std::fmt::Write;

use serde_json::Value;

/// The YAML text of `v`.
pub fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    match v {
        Value::Object(o) if !o.is_empty() => write_map(&mut out, o, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            write_scalar(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

/// Below this many entries a mapping is written on one thread.
const PARALLEL_MIN_ENTRIES: usize = 64;

/// The YAML text of `v`, after escaping `$` as `$$` in its strings when `escape_dollars`
/// (see [`crate::output::escape_dollars`]). A big top-level section (a project's services) is
/// escaped and written in two halves on two threads; the text is the same.
pub fn to_string_escaped(v: &mut Value, escape_dollars: bool) -> String {
    let Value::Object(o) = v else {
        if escape_dollars {
            crate::output::escape_dollars(v);
        }
        return to_string(v);
    };
    if o.is_empty() {
        return to_string(v);
    }
    omit_empty_fields(o);
    let mut out = String::with_capacity(64 * 1024);
    let mut entries: Vec<(&String, &mut Value)> = o.iter_mut().collect();
    entries.sort_by_key(|(k, _)| top_level_rank(k));
    for (k, v) in entries {
        match v {
            Value::Object(m) if m.len() >= PARALLEL_MIN_ENTRIES => {
                write_str(&mut out, k);
                out.push_str(":\n");
                let mut entries: Vec<(&String, &mut Value)> = m.iter_mut().collect();
                let mid = entries.len() / 2;
                let (head, tail) = entries.split_at_mut(mid);
                let half = |part: &mut [(&String, &mut Value)]| {
                    let mut text = String::with_capacity(64 * 1024);
                    for (k, v) in part.iter_mut() {
                        if escape_dollars {
                            crate::output::escape_dollars(v);
                        }
                        indent(&mut text, 2);
                        write_str(&mut text, k);
                        text.push(':');
                        write_value_after_key(&mut text, v, 2);
                    }
                    text
                };
                let (a, b) = compose::par::join(|| half(head), || half(tail));
                out.push_str(&a);
                out.push_str(&b);
            }
            _ => {
                if escape_dollars {
                    crate::output::escape_dollars(v);
                }
                write_str(&mut out, k);
                out.push(':');
                write_value_after_key(&mut out, v, 0);
            }
        }
    }
    out
}

/// Where a top-level key goes: Docker Compose prints a project's sections in this order,
/// then the rest (extensions) as they come.
fn top_level_rank(key: &str) -> usize {
    const ORDER: &[&str] = &[
        "name", "services", "networks", "volumes", "secrets", "configs", "models",
    ];
    ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len())
}

/// Drops what Docker Compose's JSON has but its YAML leaves out (Go's `omitempty` on the YAML
/// side only): a service's null `command` and `entrypoint`, a network's empty `ipam`, an empty
/// `deploy.placement` or `deploy.resources`, a watch rule's unset `exec`.
fn omit_empty_fields(project: &mut serde_json::Map<String, Value>) {
    let is_empty_map = |v: &Value| v.as_object().is_some_and(serde_json::Map::is_empty);
    if let Some(Value::Object(services)) = project.get_mut("services") {
        for svc in services.values_mut().filter_map(Value::as_object_mut) {
            for key in ["command", "entrypoint"] {
                if svc.get(key).is_some_and(Value::is_null) {
                    svc.shift_remove(key);
                }
            }
            if let Some(Value::Object(deploy)) = svc.get_mut("deploy") {
                for key in ["placement", "resources"] {
                    if deploy.get(key).is_some_and(is_empty_map) {
                        deploy.shift_remove(key);
                    }
                }
            }
            // A watch rule's `exec` when the rule has none: `{command: null}`.
            let rules = svc
                .get_mut("develop")
                .and_then(|d| d.get_mut("watch"))
                .and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten().filter_map(Value::as_object_mut) {
                let unset = |e: &Value| {
                    e.as_object()
                        .is_some_and(|o| o.values().all(Value::is_null))
                };
                if rule.get("exec").is_some_and(unset) {
                    rule.shift_remove("exec");
                }
            }
        }
    }
    if let Some(Value::Object(networks)) = project.get_mut("networks") {
        for net in networks.values_mut().filter_map(Value::as_object_mut) {
            if net.get("ipam").is_some_and(is_empty_map) {
                net.shift_remove("ipam");
            }
        }
    }
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, o: &serde_json::Map<String, Value>, depth: usize) {
    for (k, v) in o {
        indent(out, depth);
        write_str(out, k);
        out.push(':');
        write_value_after_key(out, v, depth);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, depth + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, depth + 2);
        }
        other => {
            out.push(' ');
            write_scalar(out, other, depth);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], depth: usize) {
    for item in a {
        indent(out, depth);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key goes on the dash's line, the others under it.
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        indent(out, depth + 2);
                    }
                    first = false;
                    write_str(out, k);
                    out.push(':');
                    write_value_after_key(out, v, depth + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, depth + 2);
            }
            other => {
                write_scalar(out, other, depth);
                out.push('\n');
            }
        }
    }
}

fn write_scalar(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str_at(out, s, depth),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A key, or a string at the top: never a block.
fn write_str(out: &mut String, s: &str) {
    match style(s) {
        Style::Literal => write_json_str(out, s),
        _ => write_str_at(out, s, 0),
    }
}

/// `s` as Go's yaml.v3 writes it (what `docker compose config` prints): plain when a reader
/// takes it back as the same string, double-quoted when plain it would read as another type
/// (`"true"`, `"1e3"`, `"12:30"`), a literal block for several lines, single-quoted when
/// YAML's syntax forbids it plain (`'#x'`, `'a: b'`), double-quoted with escapes for
/// characters YAML cannot print. `depth`: the indentation of the key or dash it follows.
fn write_str_at(out: &mut String, s: &str, depth: usize) {
    match style(s) {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Literal => write_literal(out, s, depth),
        // JSON's string escapes are a subset of YAML's double-quoted ones.
        Style::Double => write_json_str(out, s),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn style(s: &str) -> Style {
    if reads_as_other_type(s) {
        return Style::Double;
    }
    if s.chars().any(|c| !printable(c)) {
        return Style::Double;
    }
    if s.contains('\n') {
        return if literal_allowed(s) {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if plain_allowed(s) {
        Style::Plain
    } else {
        Style::Single
    }
}

/// Characters YAML prints as they are (a line feed is handled as a break, not here); a
/// tab, control characters, NEL and the Unicode line separators need escapes.
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
        && c != '\u{2028}'
        && c != '\u{2029}'
}

/// Whether YAML's syntax lets `s` (one line, printable) stand unquoted in block context.
fn plain_allowed(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if first == b' ' || last == b' ' {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let blank_after = |i: usize| b.get(i + 1).is_none_or(|&c| c == b' ');
    if matches!(
        first,
        b'#' | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) || (matches!(first, b'?' | b':' | b'-') && blank_after(0))
    {
        return false;
    }
    b.iter().enumerate().skip(1).all(|(i, &c)| match c {
        b':' => !blank_after(i),
        b'#' => b[i - 1] != b' ',
        _ => true,
    })
}

/// Whether `s` (several lines) can be a literal block: no line but the last may end in a
/// space, it does not start with a space or a break, and at most one break ends it.
fn literal_allowed(s: &str) -> bool {
    !s.starts_with([' ', '\n']) && !s.contains(" \n") && !s.ends_with("\n\n") && !s.ends_with(' ')
}

/// `|` (or `|-` when `s` does not end with a break) and its lines under `depth + 2`.
fn write_literal(out: &mut String, s: &str, depth: usize) {
    let body = s.strip_suffix('\n');
    out.push_str(if body.is_some() { "|" } else { "|-" });
    for line in body.unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, depth + 2);
            out.push_str(line);
        }
    }
}

/// Words YAML readers (1.1 and 1.2) take for booleans or null, and the merge key.
const RESERVED: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "<<",
    ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN",
    ".NAN",
];

/// Whether `s`, unquoted, would be read as something else than a string: null, a boolean,
/// a number (decimal, `0x`, `0o`, `0b`, leading-zero octal, `_` separators, floats, YAML
/// 1.1's base 60 `1:20`) or a timestamp.
fn reads_as_other_type(s: &str) -> bool {
    if s.is_empty() || RESERVED.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return false;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    is_int(unsigned) || is_float(s) || is_base60(unsigned) || is_timestamp(s)
}

fn is_int(s: &str) -> bool {
    let (digits, radix) = match s.get(..2) {
        Some("0x" | "0X") => (&s[2..], 16),
        Some("0o" | "0O") => (&s[2..], 8),
        Some("0b" | "0B") => (&s[2..], 2),
        _ => (s, 10),
    };
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    !clean.is_empty() && clean.chars().all(|c| c.is_digit(radix)) && !digits.starts_with('_')
}

fn is_float(s: &str) -> bool {
    // Rust's parser takes `inf`, `nan` and `infinity` in any case, as Go's does.
    s.parse::<f64>().is_ok()
}

/// `[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`
fn is_base60(s: &str) -> bool {
    let (whole, _frac) = match s.split_once('.') {
        Some((w, f)) if f.bytes().all(|c| c.is_ascii_digit() || c == b'_') => (w, Some(f)),
        Some(_) => return false,
        None => (s, None),
    };
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or("");
    let head_ok = head.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && head.bytes().all(|c| c.is_ascii_digit() || c == b'_');
    let mut rest = parts.peekable();
    head_ok
        && rest.peek().is_some()
        && rest.all(|p| {
            let b = p.as_bytes();
            match b {
                [d] => d.is_ascii_digit(),
                [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
                _ => false,
            }
        })
}

/// `YYYY-M-D`, alone or followed by a time (`T`, `t` or a space).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, min: usize, max: usize| -> Option<usize> {
        let n = b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (min..=max).contains(&n).then_some(from + n)
    };
    let Some(y) = num(0, 4, 4) else { return false };
    if b.get(y) != Some(&b'-') {
        return false;
    }
    let Some(m) = num(y + 1, 1, 2) else {
        return false;
    };
    if b.get(m) != Some(&b'-') {
        return false;
    }
    let Some(d) = num(m + 1, 1, 2) else {
        return false;
    };
    d == b.len() || matches!(b[d], b'T' | b't' | b' ')
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn write_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte: a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_string(v);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, v, "{text}");
    }

    #[test]
    fn quoted_strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..=0x7f).map(char::from).collect();
        all.push_str("é\u{2028}\u{ffff}\"\\");
        for s in [all.as_str(), "", "a\"b", "\\", "\u{1f}x", "naïve \n"] {
            let mut out = String::new();
            write_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn big_sections_written_in_halves_read_the_same() {
        let services: serde_json::Map<String, Value> = (0..101)
            .map(|i| {
                (
                    format!("s{i}"),
                    json!({"image": format!("i$x{i}"), "p": [1, "$y"]}),
                )
            })
            .collect();
        for escape in [false, true] {
            let mut v = json!({"name": "p$", "services": services, "x-a": {"k": "$z"}});
            let mut expected = v.clone();
            if escape {
                crate::output::escape_dollars(&mut expected);
            }
            assert_eq!(to_string_escaped(&mut v, escape), to_string(&expected));
        }
    }

    #[test]
    fn layout_matches_compose() {
        let v = json!({"name": "p", "services": {"web": {"command": ["echo", "hi"], "ports": [{"mode": "ingress", "target": 80}], "networks": {"default": null}, "x": {}}}});
        assert_eq!(
            to_string(&v),
            "name: p\nservices:\n  web:\n    command:\n      - echo\n      - hi\n    ports:\n      - mode: ingress\n        target: 80\n    networks:\n      default: null\n    x: {}\n"
        );
    }

    #[test]
    fn strings_that_would_change_meaning_are_quoted() {
        for s in [
            "",
            " x",
            "x ",
            "yes",
            "on",
            "null",
            "~",
            "1",
            "1.5",
            "1e3",
            "0x1F",
            "-1",
            ".5",
            "8080:80",
            "a: b",
            "a #b",
            "#c",
            "*a",
            "&a",
            "!t",
            "[x]",
            "{x}",
            "'q'",
            "\"q\"",
            "line\nbreak",
            "tab\there",
            "x:",
            "é",
            "%x",
            "@x",
            "?x",
            ":x",
            ",x",
            "|x",
            ">x",
            "`x",
        ] {
            round_trip(&json!({ "k": s, s: "v" }));
        }
    }

    #[test]
    fn scalars_are_styled_as_docker_compose_prints_them() {
        // What `docker compose config` (yaml.v3) printed for each value.
        for (value, printed) in [
            ("-f", "-f"),
            ("--x", "--x"),
            ("1s", "1s"),
            ("a*b&c", "a*b&c"),
            ("x{y}", "x{y}"),
            ("x[y]", "x[y]"),
            ("a,b", "a,b"),
            ("?x", "?x"),
            (":x", ":x"),
            ("x:y", "x:y"),
            ("+x", "+x"),
            (".x", ".x"),
            ("it's", "it's"),
            ("1.2.3", "1.2.3"),
            ("é", "é"),
            ("a\\b", "a\\b"),
            ("8080:80", "8080:80"),
            ("@x", "'@x'"),
            ("x #y", "'x #y'"),
            ("#x", "'#x'"),
            ("a: b", "'a: b'"),
            ("x:", "'x:'"),
            ("-", "'-'"),
            ("- x", "'- x'"),
            ("[x]", "'[x]'"),
            ("*a", "'*a'"),
            ("!t", "'!t'"),
            ("'q'", "'''q'''"),
            ("\"q\"", "'\"q\"'"),
            (" x", "' x'"),
            ("x ", "'x '"),
            ("%x", "'%x'"),
            ("|x", "'|x'"),
            ("`x", "'`x'"),
            ("", "\"\""),
            ("~", "\"~\""),
            ("on", "\"on\""),
            ("N", "\"N\""),
            ("true", "\"true\""),
            ("null", "\"null\""),
            ("01", "\"01\""),
            ("08", "\"08\""),
            ("0o17", "\"0o17\""),
            ("0b101", "\"0b101\""),
            ("0x1F", "\"0x1F\""),
            ("1_0", "\"1_0\""),
            ("1e3", "\"1e3\""),
            (".5", "\".5\""),
            (".inf", "\".inf\""),
            ("-1", "\"-1\""),
            ("+1", "\"+1\""),
            ("1:20", "\"1:20\""),
            ("12:30:00", "\"12:30:00\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("tab\there", "\"tab\\there\""),
        ] {
            assert_eq!(
                to_string(&json!({ "k": value })),
                format!("k: {printed}\n"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn several_lines_are_a_literal_block() {
        let v = json!({"a": {"k": "line1\nline2", "s": ["sh", "echo a\necho b\n"]}});
        assert_eq!(
            to_string(&v),
            "a:\n  k: |-\n    line1\n    line2\n  s:\n    - sh\n    - |\n      echo a\n      echo b\n"
        );
        round_trip(&v);
        // Where a block cannot say it exactly, quotes do.
        for s in [" lead\nx", "x \ny", "x\n\n", "x\ny ", "\nx"] {
            assert!(to_string(&json!({ "k": s })).starts_with("k: \""), "{s:?}");
            round_trip(&json!({ "k": s }));
        }
    }

    #[test]
    fn plain_strings_stay_plain() {
        assert_eq!(
            to_string(&json!({"k": "busybox:latest"})),
            "k: busybox:latest\n"
        );
        assert_eq!(to_string(&json!({"k": "/tmp/a b"})), "k: /tmp/a b\n");
        assert_eq!(to_string(&json!({"k": "hi $$HOME"})), "k: hi $$HOME\n");
    }

    #[test]
    fn nested_sequences_and_numbers_round_trip() {
        round_trip(
            &json!({"a": [[1, 2], [], {}, [{"b": [3]}]], "f": 0.5, "n": -3, "t": true, "z": null}),
        );
    }
}

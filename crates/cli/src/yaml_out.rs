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
            write_scalar(&mut out, other);
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
    let mut out = String::with_capacity(64 * 1024);
    for (k, v) in o.iter_mut() {
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
            write_scalar(out, other);
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
                write_scalar(out, other);
                out.push('\n');
            }
        }
    }
}

fn write_scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_str(out: &mut String, s: &str) {
    if plain_safe(s) {
        out.push_str(s);
    } else {
        // JSON's string escapes are a subset of YAML's double-quoted ones.
        write_json_str(out, s);
    }
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

/// Words some YAML readers (1.1) take for booleans or null.
const RESERVED: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// The bytes a plain scalar may hold: ASCII letters and digits and ` _-./=+@%$()^~:#`.
const PLAIN_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'_'
                    | b'-'
                    | b'.'
                    | b'/'
                    | b'='
                    | b'+'
                    | b'@'
                    | b'%'
                    | b'$'
                    | b'('
                    | b')'
                    | b'^'
                    | b'~'
                    | b':'
                    | b'#'
            );
        c += 1;
    }
    t
};

/// Whether `s` can be written without quotes and read back as the same string.
fn plain_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    // The longest reserved word has five letters.
    if b.len() <= 5 && RESERVED.contains(&s) {
        return false;
    }
    // Anything that starts like a number is quoted: `1e3`, `0x1`, `.5`, `-1`, `1_000`, `1:2`.
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        return false;
    }
    if last == b' ' || last == b':' || first == b' ' {
        return false;
    }
    // Indicators that may not start a plain scalar.
    if matches!(
        first,
        b'!' | b'&'
            | b'*'
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b','
            | b'#'
            | b'|'
            | b'>'
            | b'@'
            | b'`'
            | b'"'
            | b'\''
            | b'%'
            | b'?'
            | b':'
    ) {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        if !PLAIN_BYTE[usize::from(c)] {
            return false;
        }
        // `: ` starts a mapping value and ` #` a comment.
        if (prev == b':' && c == b' ') || (prev == b' ' && c == b'#') {
            return false;
        }
        prev = c;
    }
    true
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

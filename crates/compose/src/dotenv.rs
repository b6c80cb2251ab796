//! The `.env` / `env_file` dialect of Docker Compose v2 (compose-go v2.9's `dotenv` package),
//! and the `raw` env_file format (docker CLI's `--env-file` parser).
//!
//! The default dialect, as Docker Compose v2.40.3 reads it:
//!
//! * A UTF-8 byte order mark at the start is ignored. Blank lines and lines whose first
//!   non-blank character is `#` are skipped.
//! * `export ` (followed by any whitespace) before a key is dropped.
//! * A key ends at `=` or `:` (`KEY: value` works) and may hold letters, digits (Unicode ones
//!   too), `_`, `.`, `-`, `[`, `]` and inner tabs, but not spaces. Keys may start with a digit.
//! * `KEY` alone on a line takes its value from the lookup only (not from the file); when the
//!   lookup does not have it, the line is ignored.
//! * Unquoted values run to the end of the line; whatever follows ` #` (a space, then `#`) is a
//!   comment; trailing whitespace is trimmed; the value is interpolated.
//! * `'…'` values are literal, except that `\'` is a quote. `"…"` values understand `\"`, the
//!   escapes `\a \b \f \n \r \t \v \\ \$` and octal `\0NNN`, and are interpolated; any other
//!   backslash stays. Both may span lines. Text after the closing quote on the same line is
//!   read as the next statement (`A='x' B=2` sets both).
//! * Interpolation asks the lookup first and only then the values defined earlier in the file.
//! * A later definition of a key replaces the earlier one (the key keeps its first position).

use std::fmt;

use indexmap::IndexMap;

use crate::interpolate::{self, go_quote};

/// A syntax or interpolation error in an env file, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DotenvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DotenvError {}

/// What [`parse_with_unset`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// The variables, in order of first definition, each with its last value.
    pub vars: Vec<(String, String)>,
    /// Variables interpolated without a default that neither the lookup nor the file had
    /// (Docker Compose warns about each).
    pub unset: Vec<String>,
}

/// Parses an env file in Compose's `.env` dialect. `lookup` resolves `KEY` lines and, before
/// the file's own earlier definitions, variables in values.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotenvError> {
    parse_with_unset(text, lookup).map(|p| p.vars)
}

/// [`parse`], also returning the variables that interpolation found unset.
pub fn parse_with_unset(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, DotenvError> {
    let mut p = Parser {
        line: 1,
        out: IndexMap::new(),
        unset: Vec::new(),
        lookup,
    };
    p.parse(text.strip_prefix('\u{FEFF}').unwrap_or(text))?;
    Ok(Parsed {
        vars: p.out.into_iter().collect(),
        unset: p.unset,
    })
}

/// compose-go's `isSpace`: whitespace other than a line break.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{85}' | '\u{A0}'
    )
}

fn trim_left_space(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Go's `unicode.IsLetter || unicode.IsNumber`, as near as std gets.
fn is_key_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric()
}

struct Parser<'l> {
    line: usize,
    out: IndexMap<String, String>,
    unset: Vec<String>,
    lookup: &'l dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> DotenvError {
        DotenvError {
            line: self.line,
            message: message.into(),
        }
    }

    fn parse(&mut self, text: &str) -> Result<(), DotenvError> {
        let mut cur = text;
        loop {
            match self.statement_start(cur) {
                Some(s) => cur = s,
                None => return Ok(()),
            }
            let (key, rest, inherited) = self.key_name(cur)?;
            if key.contains(' ') {
                return Err(self.err("key cannot contain a space"));
            }
            if inherited {
                if let Some(v) = (self.lookup)(key) {
                    self.out.insert(key.to_owned(), v);
                }
                cur = rest;
                continue;
            }
            let (value, rest) = self.value(rest)?;
            self.out.insert(key.to_owned(), value);
            cur = rest;
        }
    }

    /// Skips whitespace and comment lines, counting lines; `None` at the end of the text.
    fn statement_start<'t>(&mut self, mut src: &'t str) -> Option<&'t str> {
        loop {
            let mut found = None;
            for (i, c) in src.char_indices() {
                if c == '\n' {
                    self.line += 1;
                }
                if !c.is_whitespace() {
                    found = Some(i);
                    break;
                }
            }
            src = &src[found?..];
            if !src.starts_with('#') {
                return Some(src);
            }
            // Keep the newline: the next round counts it.
            src = &src[src.find('\n')?..];
        }
    }

    /// Reads a key; returns it, what follows its `=` / `:` (leading blanks dropped), and whether
    /// the key stood alone on its line.
    fn key_name<'t>(&mut self, mut src: &'t str) -> Result<(&'t str, &'t str, bool), DotenvError> {
        if let Some(after) = src.strip_prefix("export")
            && after.starts_with(['\t', '\n', '\u{C}', '\r', ' '])
        {
            src = trim_left_space(after);
        }
        let mut key = "";
        let mut offset = 0;
        let mut inherited = false;
        for (i, c) in src.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key = &src[..i];
                    offset = i + 1;
                    inherited = c == '\n';
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if is_key_char(c) => {}
                c => {
                    let first_line = src.split('\n').next().unwrap_or(src);
                    return Err(self.err(format!(
                        "unexpected character {} in variable name {}",
                        go_quote(c.encode_utf8(&mut [0; 4])),
                        go_quote(first_line)
                    )));
                }
            }
        }
        // Running out of text without `=`, `:` or a newline leaves the key empty and the text
        // to be read as its value (a last line `FOO` sets "" to "FOO").
        if inherited && !key.contains(' ') {
            self.line += 1;
        }
        let key = key.trim_end_matches(char::is_whitespace);
        Ok((key, trim_left_space(&src[offset..]), inherited))
    }

    /// Reads a value; returns it and the text after it.
    fn value<'t>(&mut self, src: &'t str) -> Result<(String, &'t str), DotenvError> {
        let start_line = self.line;
        let quote = match src.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q as char,
            _ => {
                let (value, rest) = src.split_once('\n').unwrap_or((src, ""));
                self.line += 1;
                let value = value.split(" #").next().unwrap_or(value);
                let value = value.trim_end_matches(char::is_whitespace);
                let value = self.expand(value, start_line)?;
                return Ok((value, rest));
            }
        };
        let mut chars = String::new();
        let mut escaped = false;
        for (i, c) in src.char_indices().skip(1) {
            if c == '\n' {
                self.line += 1;
            }
            if c != quote {
                if !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push('\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            let rest = &src[i + 1..];
            if quote == '"' {
                let unescaped = expand_escapes(&chars);
                return Ok((self.expand(&unescaped, start_line)?, rest));
            }
            return Ok((chars, rest));
        }
        let first_line = src.split('\n').next().unwrap_or(src);
        Err(self.err(format!("unterminated quoted value {first_line}")))
    }

    /// Interpolates a value: the lookup first, then what the file defined before.
    fn expand(&mut self, value: &str, line: usize) -> Result<String, DotenvError> {
        let out = &self.out;
        let lookup = self.lookup;
        let resolve = |k: &str| lookup(k).or_else(|| out.get(k).cloned());
        match interpolate::substitute_in(value, &resolve, &mut self.unset) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Ok(value.to_owned()),
            Err(e) => Err(DotenvError {
                line,
                message: e.to_string(),
            }),
        }
    }
}

/// Double-quoted escapes: `\a \b \f \n \r \t \v \" \\`, `\$` (a literal `$`), and `\0` followed
/// by up to three digits (three octal digits ≤ 0377 make that byte's character; otherwise the
/// `0` is just dropped). Anything else after a backslash is kept as written, backslash included.
fn expand_escapes(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut lit = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'\\') {
        let p = i + off;
        let replacement: Option<(String, usize)> = match b.get(p + 1) {
            Some(b'a') => Some(("\u{7}".into(), 2)),
            Some(b'b') => Some(("\u{8}".into(), 2)),
            Some(b'f') => Some(("\u{C}".into(), 2)),
            Some(b'n') => Some(("\n".into(), 2)),
            Some(b'r') => Some(("\r".into(), 2)),
            Some(b't') => Some(("\t".into(), 2)),
            Some(b'v') => Some(("\u{B}".into(), 2)),
            Some(b'"') => Some(("\"".into(), 2)),
            Some(b'\\') => Some(("\\".into(), 2)),
            // Escaped for the interpolation that follows.
            Some(b'$') => Some(("$$".into(), 2)),
            Some(b'c') => Some(("\\c".into(), 2)),
            Some(b'0') => {
                let digits = b[p + 2..]
                    .iter()
                    .take(3)
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let ds = &s[p + 2..p + 2 + digits];
                let octal = if digits == 3 {
                    u32::from_str_radix(ds, 8).ok().filter(|&v| v <= 0xFF)
                } else {
                    None
                };
                Some(match octal.and_then(char::from_u32) {
                    Some(c) => (c.to_string(), 2 + digits),
                    None => (format!("\\{ds}"), 2 + digits),
                })
            }
            _ => None,
        };
        match replacement {
            Some((r, len)) => {
                out.push_str(&s[lit..p]);
                out.push_str(&r);
                i = p + len;
                lit = i;
            }
            None => i = p + 1,
        }
    }
    out.push_str(&s[lit..]);
    out
}

/// Parses an env file in the `raw` format (`env_file: {path: …, format: raw}`): `KEY=VALUE`
/// lines taken literally (no quotes removed, no escapes, no interpolation, no comments after a
/// value, trailing whitespace kept); leading whitespace, blank lines and `#` lines skipped; a
/// `KEY` line without `=` is dropped.
pub fn parse_raw(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    parse_raw_with_lookup(text, &|_| None)
}

/// [`parse_raw`], where a `KEY` line without `=` takes its value from `lookup` (verbatim) and is
/// dropped only when `lookup` does not have it.
pub fn parse_raw_with_lookup(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotenvError> {
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut body = text;
    let mut n = 0;
    while !body.is_empty() {
        n += 1;
        let (raw, rest) = body.split_once('\n').unwrap_or((body, ""));
        body = rest;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.len() >= 64 * 1024 {
            return Err(DotenvError {
                line: n,
                message: "bufio.Scanner: token too long".into(),
            });
        }
        let raw = if n == 1 {
            raw.strip_prefix('\u{FEFF}').unwrap_or(raw)
        } else {
            raw
        };
        let line = raw.trim_start_matches(char::is_whitespace);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(DotenvError {
                line: n,
                message: format!("no variable name on line '{line}'"),
            });
        }
        if key.contains([' ', '\t']) {
            return Err(DotenvError {
                line: n,
                message: format!("variable '{key}' contains whitespaces"),
            });
        }
        match value {
            Some(v) => {
                out.insert(key.to_owned(), v.to_owned());
            }
            None => {
                if let Some(v) = lookup(key) {
                    out.insert(key.to_owned(), v);
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn p(text: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let e = env(pairs);
        parse(text, &|k| e.get(k).cloned()).unwrap()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn perr(text: &str) -> String {
        parse(text, &|_| None).unwrap_err().to_string()
    }

    #[test]
    fn basics() {
        assert_eq!(p("A=1\nB=2\n", &[]), kv(&[("A", "1"), ("B", "2")]));
        assert_eq!(
            p("# c\n  A = 1 \n\nexport B=2\nexport  C=3\n", &[]),
            kv(&[("A", "1"), ("B", "2"), ("C", "3")])
        );
        assert_eq!(p("A: 1\nB : x y \n", &[]), kv(&[("A", "1"), ("B", "x y")]));
        assert_eq!(p("A=1\r\nB=2\r\n", &[]), kv(&[("A", "1"), ("B", "2")]));
        assert_eq!(p("\u{FEFF}A=bom\n", &[]), kv(&[("A", "bom")]));
        assert_eq!(p("A= \n", &[]), kv(&[("A", "")]));
        assert_eq!(p("A=\n#B=1\n", &[]), kv(&[("A", "")]));
        assert_eq!(p("  \t\n", &[]), kv(&[]));
        assert_eq!(p("#only", &[]), kv(&[]));
        assert_eq!(p("", &[]), kv(&[]));
    }

    #[test]
    fn keys() {
        assert_eq!(p("9A=1\n", &[]), kv(&[("9A", "1")]));
        assert_eq!(p("A.b-c[0]=1\n", &[]), kv(&[("A.b-c[0]", "1")]));
        assert_eq!(p("A\tB=1\n", &[]), kv(&[("A\tB", "1")]));
        assert_eq!(p("é=1\n", &[]), kv(&[("é", "1")]));
        assert_eq!(p("export=5\n", &[]), kv(&[("export", "5")]));
        assert_eq!(p("exportA=1\n", &[]), kv(&[("exportA", "1")]));
        assert_eq!(p("export\tA=1\n", &[]), kv(&[("A", "1")]));
        assert_eq!(p("export\nA=1\n", &[]), kv(&[("A", "1")]));
        assert_eq!(
            p("A==1\nB=1=2\nC:=1\n", &[]),
            kv(&[("A", "=1"), ("B", "1=2"), ("C", "=1")])
        );
        assert_eq!(p("A:\"b\"\n", &[]), kv(&[("A", "b")]));
        // A last line without `=` and without a newline sets the empty key.
        assert_eq!(p("A=1\nFOO", &[]), kv(&[("A", "1"), ("", "FOO")]));
    }

    #[test]
    fn duplicates_keep_first_position_last_value() {
        assert_eq!(p("A=1\nB=2\nA=3\n", &[]), kv(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn inherited_keys() {
        assert_eq!(p("K\n", &[]), kv(&[]));
        assert_eq!(p("export A\n", &[]), kv(&[]));
        assert_eq!(p("K\nL\n", &[("K", "k")]), kv(&[("K", "k")]));
        // The file's own earlier value is not consulted, and stays.
        assert_eq!(p("A=1\nA\n", &[]), kv(&[("A", "1")]));
        assert_eq!(p("A=1\nA\n", &[("A", "2")]), kv(&[("A", "2")]));
    }

    #[test]
    fn unquoted_values() {
        assert_eq!(
            p(
                "A=x #comment\nB=x#nocomment\nC=x\t#tab\nD=x y # c # d\n",
                &[]
            ),
            kv(&[
                ("A", "x"),
                ("B", "x#nocomment"),
                ("C", "x\t#tab"),
                ("D", "x y")
            ])
        );
        assert_eq!(p("A=#x\nB= #x\n", &[]), kv(&[("A", "#x"), ("B", "#x")]));
        assert_eq!(p("A=x\\\nB=2\n", &[]), kv(&[("A", "x\\"), ("B", "2")]));
        assert_eq!(
            p("A=$$X\nB=\\$X\nC=$\n", &[]),
            kv(&[("A", "$X"), ("B", "\\"), ("C", "$")])
        );
        assert_eq!(p("A=${B:-x\"y}\n", &[]), kv(&[("A", "x\"y")]));
    }

    #[test]
    fn single_quoted() {
        assert_eq!(p("A='lit $X \\n'\n", &[]), kv(&[("A", "lit $X \\n")]));
        assert_eq!(
            p("A='a\\'b'\nB='c\\\\'\n", &[]),
            kv(&[("A", "a'b"), ("B", "c\\\\")])
        );
        assert_eq!(p("A=  'q'  # c\n", &[]), kv(&[("A", "q")]));
        assert_eq!(p("A='x'#c\nB=1\n", &[]), kv(&[("A", "x"), ("B", "1")]));
    }

    #[test]
    fn double_quoted() {
        assert_eq!(
            p(
                "A=\"dq \\n \\t \\\" \\\\ \\$X \\a \\c \\0101 \\01 \\q\"\n",
                &[]
            ),
            kv(&[("A", "dq \n \t \" \\ $X \u{7} \\c A \\1 \\q")])
        );
        assert_eq!(
            p("A=\"\\0\" B=\"\\0123x\\0400\\08\"\n", &[]),
            kv(&[("A", "\\"), ("B", "Sx\\400\\8")])
        );
        assert_eq!(p("A=\"\\\\$X\"\n", &[("X", "x")]), kv(&[("A", "\\x")]));
        assert_eq!(p("A=\"\\$\\$X\"\n", &[]), kv(&[("A", "$$X")]));
        assert_eq!(p("A=\"$\"\n", &[]), kv(&[("A", "$")]));
        assert_eq!(p("A=\"${X:-\\\"q\\\"}\"\n", &[]), kv(&[("A", "\"q\"")]));
        assert_eq!(
            p("A=\"multi\nline\"\nB=2\n", &[]),
            kv(&[("A", "multi\nline"), ("B", "2")])
        );
        assert_eq!(
            p("A=\"x\" # c\nB=\"\"\n", &[]),
            kv(&[("A", "x"), ("B", "")])
        );
    }

    #[test]
    fn text_after_a_quote_is_the_next_statement() {
        assert_eq!(p("A='x' B=2\n", &[]), kv(&[("A", "x"), ("B", "2")]));
        assert_eq!(p("A=\"a\" B=\"b\"\n", &[]), kv(&[("A", "a"), ("B", "b")]));
        // `junk` is read as a key standing alone.
        assert_eq!(p("A=\"x\"junk\n", &[]), kv(&[("A", "x")]));
        assert_eq!(
            p("A=\"x\"junk\n", &[("junk", "j")]),
            kv(&[("A", "x"), ("junk", "j")])
        );
    }

    #[test]
    fn interpolation_order() {
        assert_eq!(
            p("A=1\nB=$A\nC=${A}${A}\n", &[]),
            kv(&[("A", "1"), ("B", "1"), ("C", "11")])
        );
        // The lookup wins over the file's own earlier definition.
        assert_eq!(
            p("A=1\nB=$A\n", &[("A", "2")]),
            kv(&[("A", "1"), ("B", "2")])
        );
        let r = parse_with_unset("U=$UNSET\nV=${W:-x}\n", &|_| None).unwrap();
        assert_eq!(r.vars, kv(&[("U", ""), ("V", "x")]));
        assert_eq!(r.unset, vec!["UNSET".to_string()]);
    }

    #[test]
    fn errors() {
        assert_eq!(perr("A B=1\n"), "line 1: key cannot contain a space");
        assert_eq!(
            perr("\n\n# c\nA B=1\n"),
            "line 4: key cannot contain a space"
        );
        assert_eq!(perr("K M\nA=1\n"), "line 1: key cannot contain a space");
        assert_eq!(
            perr("A=\"x\ny\nz\"\nB C=1\n"),
            "line 4: key cannot contain a space"
        );
        assert_eq!(
            perr("A=1\n  # c\nB=\"x\" C D\n"),
            "line 3: key cannot contain a space"
        );
        assert_eq!(
            parse("K\nL\nA B=1\n", &|k| (k == "K").then(|| "k".to_string()))
                .unwrap_err()
                .to_string(),
            "line 3: key cannot contain a space"
        );
        assert_eq!(
            perr("$A=1\n"),
            "line 1: unexpected character \"$\" in variable name \"$A=1\""
        );
        assert_eq!(
            perr("A=1\n\n$=2\n"),
            "line 3: unexpected character \"$\" in variable name \"$=2\""
        );
        assert_eq!(
            perr("A='it''s'\n"),
            "line 1: unexpected character \"'\" in variable name \"'s'\""
        );
        assert_eq!(
            perr("A=1\nB='x\n\ny\n"),
            "line 5: unterminated quoted value 'x"
        );
        assert_eq!(
            perr("A=\"unterminated\nB=2\n"),
            "line 3: unterminated quoted value \"unterminated"
        );
        assert_eq!(
            perr("A=1\nB=${X:?needed}\n"),
            "line 2: required variable X is missing a value: needed"
        );
        assert_eq!(perr("A=$\nB=${A\n"), "line 2: Invalid template: \"${A\"");
        assert_eq!(perr("A=\"${\"\n"), "line 1: Invalid template: \"${\"");
    }

    #[test]
    fn raw_format() {
        let text = "A=1\nB= 2 \n#c\n  # c2\nC='q'\nD=\"dq\"\nE='mis\"\nF=$X ${Y} \\n\nG=a=b\nH='\nI=''\nJ=\"'x'\"\n";
        assert_eq!(
            parse_raw(text).unwrap(),
            kv(&[
                ("A", "1"),
                ("B", " 2 "),
                ("C", "'q'"),
                ("D", "\"dq\""),
                ("E", "'mis\""),
                ("F", "$X ${Y} \\n"),
                ("G", "a=b"),
                ("H", "'"),
                ("I", "''"),
                ("J", "\"'x'\""),
            ])
        );
        assert_eq!(
            parse_raw(" A=1\n\tB=2\n\u{A0}C=3\n").unwrap(),
            kv(&[("A", "1"), ("B", "2"), ("C", "3")])
        );
        assert_eq!(
            parse_raw("A=1\r\nB=2\r\n").unwrap(),
            kv(&[("A", "1"), ("B", "2")])
        );
        assert_eq!(parse_raw("\u{FEFF}A=1").unwrap(), kv(&[("A", "1")]));
        assert_eq!(parse_raw("A=x #c\n").unwrap(), kv(&[("A", "x #c")]));
        assert_eq!(parse_raw("A=1\nA=2\n").unwrap(), kv(&[("A", "2")]));
        assert_eq!(parse_raw("$A=$$\n").unwrap(), kv(&[("$A", "$$")]));
        assert_eq!(parse_raw("A\n").unwrap(), kv(&[]));
        let e = env(&[("K", "'kq'")]);
        assert_eq!(
            parse_raw_with_lookup("K\nP\n", &|k| e.get(k).cloned()).unwrap(),
            kv(&[("K", "'kq'")])
        );
    }

    #[test]
    fn raw_errors() {
        let err = |t: &str| parse_raw(t).unwrap_err().to_string();
        assert_eq!(
            err("A B=1\n"),
            "line 1: variable 'A B' contains whitespaces"
        );
        assert_eq!(
            err("A=1\nB =1\n"),
            "line 2: variable 'B ' contains whitespaces"
        );
        assert_eq!(
            err("A\tB=1\n"),
            "line 1: variable 'A\tB' contains whitespaces"
        );
        assert_eq!(err("A \n"), "line 1: variable 'A ' contains whitespaces");
        assert_eq!(
            err("export A=1\n"),
            "line 1: variable 'export A' contains whitespaces"
        );
        assert_eq!(err("=1\n"), "line 1: no variable name on line '=1'");
    }

    #[test]
    fn deep_input_does_not_overflow() {
        let mut s = String::from("A=\"");
        for _ in 0..10_000 {
            s.push_str("${B:-");
        }
        s.push_str("\"\n");
        assert!(parse(&s, &|_| None).is_err());
        let many_comments = "# c\n".repeat(100_000) + "A=1\n";
        assert_eq!(p(&many_comments, &[]), kv(&[("A", "1")]));
    }
}

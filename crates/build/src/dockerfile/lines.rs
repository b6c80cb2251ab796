//! From text to logical lines: parser directives at the top, comments and blank lines
//! dropped, lines joined at a trailing escape character, and here-document bodies taken
//! from the lines that follow a `RUN`, `COPY` or `ADD` that opens them.

use super::{Heredoc, ParseError};

/// The parser directives (`# syntax=...`, `# escape=...`, `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// Accepted and kept; the frontend it names is never fetched.
    pub syntax: Option<String>,
    /// `\` (the default) or `` ` ``.
    pub escape: char,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// One instruction's text, continuation lines joined, with its here-documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logical {
    /// 1-based line where it starts.
    pub line: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// Splits the file into directives and logical lines.
pub(crate) fn logical_lines(
    file: &str,
    src: &str,
) -> Result<(Directives, Vec<Logical>), ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<&str> = src.lines().collect();
    let (directives, start) = directives(file, &lines)?;
    let mut out = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        if is_blank_or_comment(raw) {
            continue;
        }
        let first = i;
        let mut text = String::new();
        let mut more = push_part(&mut text, raw, directives.escape);
        while more && i < lines.len() {
            let raw = lines[i];
            i += 1;
            if is_blank_or_comment(raw) {
                continue;
            }
            more = push_part(&mut text, raw, directives.escape);
        }
        let mut logical = Logical {
            line: first,
            text,
            heredocs: Vec::new(),
        };
        if takes_heredocs(&logical.text) {
            for opener in openers(&logical.text) {
                let (doc, next) = heredoc_body(file, &lines, i, opener, logical.line)?;
                logical.heredocs.push(doc);
                i = next;
            }
        }
        out.push(logical);
    }
    Ok((directives, out))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Appends one physical line; true when it ends with the escape character (more follows).
fn push_part(text: &mut String, raw: &str, escape: char) -> bool {
    let trimmed = raw.trim_end_matches([' ', '\t', '\r']);
    match trimmed.strip_suffix(escape) {
        Some(head) => {
            text.push_str(head);
            true
        }
        None => {
            text.push_str(raw.trim_end_matches('\r'));
            false
        }
    }
}

/// Reads the directives at the top of the file; returns them and the first line after.
fn directives(file: &str, lines: &[&str]) -> Result<(Directives, usize), ParseError> {
    let mut d = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            return Ok((d, i));
        };
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: i + 1,
            message,
        };
        if seen.contains(&key) {
            return Err(err(format!("only one {key} parser directive can be used")));
        }
        match key.as_str() {
            "escape" => {
                d.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(format!(
                            "invalid escape token {value:?}: it must be \\ or `"
                        )));
                    }
                }
            }
            "syntax" => d.syntax = Some(value),
            "check" => d.check = Some(value),
            // An unknown directive is a comment, and comments end the directives.
            _ => return Ok((d, i)),
        }
        seen.push(key);
    }
    Ok((d, lines.len()))
}

/// `# key=value` with a name of letters and digits.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    let mut chars = key.chars();
    if !chars.next()?.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

fn takes_heredocs(text: &str) -> bool {
    let word = text.split_whitespace().next().unwrap_or("");
    ["RUN", "COPY", "ADD"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

/// A `<<NAME`, `<<-NAME`, `<<"NAME"` or `<<'NAME'` word.
#[derive(Debug, Clone)]
struct Opener {
    name: String,
    strip_tabs: bool,
    expand: bool,
}

/// The here-document openers of a line, in order; quoted text is not searched.
fn openers(text: &str) -> Vec<Opener> {
    let mut found = Vec::new();
    for word in unquoted_words(text) {
        let Some(pos) = word.find("<<") else {
            continue;
        };
        // Only a file-descriptor number may come before `<<` (`2<<EOF`).
        if !word[..pos].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let mut rest = &word[pos + 2..];
        let strip_tabs = rest.starts_with('-');
        if strip_tabs {
            rest = &rest[1..];
        }
        let quoted = rest.contains(['"', '\'']);
        let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
        if name.is_empty() || name.contains('<') {
            continue;
        }
        found.push(Opener {
            name,
            strip_tabs,
            expand: !quoted,
        });
    }
    found
}

/// Whitespace-separated words, skipping those that start inside a quoted string.
fn unquoted_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut in_quoted_word = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() && !in_quoted_word {
                    words.push(std::mem::take(&mut cur));
                }
                cur.clear();
                in_quoted_word = false;
            }
            None => {
                if (c == '"' || c == '\'') && cur.is_empty() {
                    in_quoted_word = true;
                }
                if (c == '"' || c == '\'') && !cur.contains("<<") {
                    quote = Some(c);
                }
                cur.push(c);
            }
        }
    }
    if !cur.is_empty() && !in_quoted_word {
        words.push(cur);
    }
    words
}

/// Reads a here-document body starting at `lines[from]`; returns it and the next line.
fn heredoc_body(
    file: &str,
    lines: &[&str],
    from: usize,
    opener: Opener,
    at: usize,
) -> Result<(Heredoc, usize), ParseError> {
    let mut content = String::new();
    for (i, raw) in lines.iter().enumerate().skip(from) {
        let raw = raw.trim_end_matches('\r');
        let line = if opener.strip_tabs {
            raw.trim_start_matches('\t')
        } else {
            raw
        };
        if line == opener.name {
            return Ok((
                Heredoc {
                    name: opener.name,
                    content,
                    expand: opener.expand,
                    strip_tabs: opener.strip_tabs,
                },
                i + 1,
            ));
        }
        content.push_str(line);
        content.push('\n');
    }
    Err(ParseError {
        file: file.to_string(),
        line: at,
        message: format!(
            "here-document {:?} is not terminated (no line {:?} follows)",
            opener.name, opener.name
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (Directives, Vec<Logical>) {
        logical_lines("Dockerfile", src).unwrap()
    }

    #[test]
    fn directives_only_at_the_top() {
        let (d, l) = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n# escape=\\\n");
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(l.len(), 1);
        let (d, _) = parse("# a comment\n# escape=`\nFROM x\n");
        assert_eq!(d.escape, '\\');
        let (d, _) = parse("\n# escape=`\nFROM x\n");
        assert_eq!(d.escape, '\\', "a blank line ends the directives");
        let e = logical_lines("Dockerfile", "# escape=`\n# escape=\\\nFROM x").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(logical_lines("Dockerfile", "# escape=x\nFROM x").is_err());
    }

    #[test]
    fn continuations_comments_and_blanks() {
        let (_, l) = parse(
            "FROM x\n\n# c\nRUN a \\\n  # inside\n\n  b \\  \n  c\nCMD d\n\u{20}\u{20}# indented comment\n",
        );
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].line, 4);
        assert_eq!(l[1].text, "RUN a   b   c");
        assert_eq!(l[2].line, 9);
        let (_, l) = parse("# escape=`\nRUN dir c:\\ `\n  /s\n");
        assert_eq!(l[0].text, "RUN dir c:\\   /s");
    }

    #[test]
    fn heredocs() {
        let (_, l) = parse(
            "FROM x\nRUN <<EOF\necho $A\n  EOF\nEOF\nCOPY <<-'ONE' <<TWO /dst/\n\t\tfirst\n\tONE\nsecond\nTWO\nRUN echo '<<NOT'\n",
        );
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].heredocs.len(), 1);
        assert_eq!(l[1].heredocs[0].content, "echo $A\n  EOF\n");
        assert!(l[1].heredocs[0].expand);
        let docs = &l[2].heredocs;
        assert_eq!(docs[0].name, "ONE");
        assert_eq!(docs[0].content, "first\n");
        assert!(!docs[0].expand && docs[0].strip_tabs);
        assert_eq!(docs[1].content, "second\n");
        assert!(l[3].heredocs.is_empty());
        assert_eq!(l[3].line, 11);
        let e = logical_lines("Dockerfile", "FROM x\nRUN cat <<EOF\nno end\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("EOF"));
        // Not for other instructions, and not in quotes.
        let (_, l) = parse("FROM x\nCMD cat <<EOF\nRUN echo \"<<EOF\"\n");
        assert_eq!(l.len(), 3);
    }
}

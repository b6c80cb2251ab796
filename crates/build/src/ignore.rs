//! `.dockerignore` rules, as Docker reads and matches them: one pattern a line, `#` lines
//! are comments, patterns are cleaned (`./a/../b` is `b`, a leading `/` dropped), `*` and
//! `?` stay within one path component, `**` spans any number of them, `\` escapes, and `!`
//! makes an exception. The last pattern that matches a path decides, and a pattern that
//! matches a parent directory matches everything under it.
//!
//! Shared by the builder (what is sent from the context) and `develop.watch` (what is
//! synced).

use std::path::Path;

/// Why an ignore file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("{file}:{line}: bad pattern {pattern:?}: {reason}")]
    Pattern {
        file: String,
        line: usize,
        pattern: String,
        reason: String,
    },
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, as `Ignore::patterns` shows it.
    text: String,
    exception: bool,
    re: regex::Regex,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the content of an ignore file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Ignore, IgnoreError> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, raw) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(raw);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => cleaned,
            };
            let re = regex::Regex::new(&to_regex(&cleaned)).map_err(|e| IgnoreError::Pattern {
                file: file.to_string(),
                line: i + 1,
                pattern: line.to_string(),
                reason: e.to_string(),
            })?;
            patterns.push(Pattern {
                text: cleaned,
                exception,
                re,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Reads the ignore file of a build: `<dockerfile>.dockerignore` beside the Dockerfile
    /// when there is one, else `.dockerignore` at the context root; none is an empty set.
    pub fn for_build(context: &Path, dockerfile: Option<&Path>) -> Result<Ignore, IgnoreError> {
        let specific = dockerfile.map(|d| {
            let mut name = d.as_os_str().to_owned();
            name.push(".dockerignore");
            std::path::PathBuf::from(name)
        });
        for path in specific.into_iter().chain([context.join(".dockerignore")]) {
            match std::fs::read_to_string(&path) {
                Ok(text) => return Ignore::parse(&path.display().to_string(), &text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(IgnoreError::Read {
                        file: path.display().to_string(),
                        source,
                    });
                }
            }
        }
        Ok(Ignore::default())
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for p in &self.patterns {
            // An exception can only undo an exclusion, and the reverse.
            if p.exception != excluded {
                continue;
            }
            let mut hit = p.re.is_match(&path);
            if !hit {
                hit = (1..=parents.len()).any(|n| p.re.is_match(&parents[..n].join("/")));
            }
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether any `!` exception exists: then an excluded directory must still be walked,
    /// since something under it may be let back in.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// The cleaned patterns, `!` kept, in order.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

/// Lexical cleaning as Go's `filepath.Clean`: no empty, `.` or inner `..` components.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The pattern as an anchored regular expression.
fn to_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is `**`: the slash is part of what it spans.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => re.push_str(r"\\"),
            },
            // Character classes go through as they are.
            '[' | ']' | '^' | '-' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(".dockerignore", text).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/a/../../b"), "/b");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("."), ".");
        let i = ig("/abs\n ./sub/../tmp \n# comment\n  # not a comment\n!keep\n");
        assert_eq!(i.patterns(), ["abs", "tmp", "# not a comment", "!keep"]);
    }

    #[test]
    fn star_question_and_double_star() {
        let i = ig("*.log\nbuild/?\n**/secret\ndocs/**\n");
        assert!(i.is_excluded("a.log"));
        assert!(!i.is_excluded("dir/a.log"), "* stays in one component");
        assert!(i.is_excluded("build/x"));
        assert!(!i.is_excluded("build/xy"));
        assert!(i.is_excluded("secret"));
        assert!(i.is_excluded("a/b/secret"));
        assert!(i.is_excluded("docs/a/b.md"));
        assert!(!i.is_excluded("src/main.rs"));
    }

    #[test]
    fn parents_and_exceptions() {
        let i = ig("node_modules\n*.md\n!README.md\n");
        assert!(
            i.is_excluded("node_modules/a/b.js"),
            "a matched parent dir excludes"
        );
        assert!(i.is_excluded("CHANGES.md"));
        assert!(!i.is_excluded("README.md"));
        assert!(i.has_exceptions());
        // The last match wins, both ways.
        let i = ig("!a.txt\n*.txt\n");
        assert!(i.is_excluded("a.txt"));
        let i = ig("dir\n!dir/keep\n");
        assert!(i.is_excluded("dir/other"));
        assert!(!i.is_excluded("dir/keep"));
    }

    #[test]
    fn escapes_and_classes() {
        let i = ig("\\*literal\nfile[0-9].txt\na.b\n");
        assert!(i.is_excluded("*literal"));
        assert!(!i.is_excluded("xliteral"));
        assert!(i.is_excluded("file7.txt"));
        assert!(!i.is_excluded("filex.txt"));
        assert!(!i.is_excluded("axb"), "a dot is literal");
        assert!(Ignore::parse("x", "ok\n[z-a]\n").is_err());
    }

    #[test]
    fn build_file_lookup() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Ignore::for_build(dir.path(), None)
                .unwrap()
                .patterns()
                .is_empty()
        );
        std::fs::write(dir.path().join(".dockerignore"), "general\n").unwrap();
        std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "specific\n").unwrap();
        let general = Ignore::for_build(dir.path(), None).unwrap();
        assert_eq!(general.patterns(), ["general"]);
        let df = dir.path().join("app.Dockerfile");
        let specific = Ignore::for_build(dir.path(), Some(&df)).unwrap();
        assert_eq!(specific.patterns(), ["specific"]);
    }
}

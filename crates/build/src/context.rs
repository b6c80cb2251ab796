//! The build context: a directory whose files COPY and ADD read, minus what `.dockerignore`
//! excludes. Every source path is resolved inside the context (openat2 `RESOLVE_IN_ROOT`),
//! so `..` and symlinks, absolute ones included, never lead out of it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

use crate::ignore::Ignore;

/// Why a source could not be taken from the context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{pattern:?}: not found in the build context")]
    NotFound { pattern: String },
    #[error("{pattern:?}: excluded by .dockerignore")]
    Excluded { pattern: String },
    #[error("{pattern:?}: no file in the build context matches")]
    NoMatch { pattern: String },
    #[error("{path}: {source}")]
    Walk {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, ContextError>;

/// An open build context.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    fd: OwnedFd,
    ignore: Ignore,
}

/// A source a COPY or ADD names: its path in the context and an fd on what it resolved to.
#[derive(Debug)]
pub struct Source {
    /// Cleaned, relative to the context root (`.` for the root).
    pub rel: String,
    fd: OwnedFd,
    pub is_dir: bool,
}

impl Source {
    /// A path that reaches the resolved file (through this process's fd table).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The last component of the path as written (`.` gives none).
    pub fn name(&self) -> Option<&str> {
        self.rel.rsplit('/').next().filter(|n| *n != ".")
    }
}

impl Context {
    pub fn open(dir: &Path, ignore: Ignore) -> Result<Context> {
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ContextError::Open {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Context {
            dir: dir.to_path_buf(),
            fd,
            ignore,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    /// The sources `pattern` names: one path, or every match of a wildcard pattern (Go's
    /// `filepath.Match` rules per component), in sorted order.
    pub fn resolve(&self, pattern: &str) -> Result<Vec<Source>> {
        let rel = clean_rel(pattern);
        if !has_meta(&rel) {
            if rel != "." && self.ignore.is_excluded(&rel) {
                return Err(ContextError::Excluded {
                    pattern: pattern.to_string(),
                });
            }
            let src = self.open_rel(&rel).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ContextError::NotFound {
                    pattern: pattern.to_string(),
                },
                _ => ContextError::Walk {
                    path: rel.clone(),
                    source: e,
                },
            })?;
            return Ok(vec![src]);
        }
        let mut found = Vec::new();
        self.walk(".", &mut |path| glob_match(&rel, path), &mut found)?;
        if found.is_empty() {
            return Err(ContextError::NoMatch {
                pattern: pattern.to_string(),
            });
        }
        found
            .into_iter()
            .map(|rel| {
                self.open_rel(&rel)
                    .map_err(|source| ContextError::Walk { path: rel, source })
            })
            .collect()
    }

    /// A digest of what `patterns` select (paths, types, modes, sizes, contents, link
    /// targets; not owners or times): the cache key part of a COPY/ADD.
    pub fn digest<S: AsRef<str>>(&self, patterns: &[S]) -> Result<String> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in patterns {
            for src in self.resolve(p.as_ref())? {
                h.update(src.rel.as_bytes());
                h.update([0]);
                let mut paths = vec![String::new()];
                if src.is_dir {
                    self.walk(&src.rel, &mut |_| true, &mut paths)?;
                }
                let base = src.path();
                for rel in paths {
                    // Inside the resolved source, by the walked path's tail (not followed).
                    let tail = if src.rel == "." {
                        rel.as_str()
                    } else {
                        rel.strip_prefix(&src.rel)
                            .map(|t| t.trim_start_matches('/'))
                            .unwrap_or("")
                    };
                    let full = if tail.is_empty() {
                        base.clone()
                    } else {
                        base.join(tail)
                    };
                    hash_entry(&mut h, tail, &full, tail.is_empty())
                        .map_err(|source| ContextError::Walk { path: rel, source })?;
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    fn open_rel(&self, rel: &str) -> std::io::Result<Source> {
        let fd = openat2(
            &self.fd,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?;
        let st = rustix::fs::fstat(&fd)?;
        let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
        Ok(Source {
            rel: rel.to_string(),
            fd,
            is_dir,
        })
    }

    /// Collects the not-excluded paths under `rel` for which `want` says true.
    fn walk(
        &self,
        rel: &str,
        want: &mut dyn FnMut(&str) -> bool,
        found: &mut Vec<String>,
    ) -> Result<()> {
        // Kept open for the walk: its path goes through the fd.
        let opened = self.open_rel(rel).map_err(|source| ContextError::Walk {
            path: rel.to_string(),
            source,
        })?;
        let dir = opened.path();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .and_then(|it| {
                it.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .map_err(|source| ContextError::Walk {
                path: rel.to_string(),
                source,
            })?;
        names.sort();
        for name in names {
            let child = if rel == "." {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let excluded = self.ignore.is_excluded(&child);
            if !excluded && want(&child) {
                found.push(child.clone());
            }
            let is_dir = std::fs::symlink_metadata(dir.join(&name))
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if is_dir && (!excluded || self.ignore.has_exceptions()) {
                self.walk(&child, want, found)?;
            }
        }
        Ok(())
    }
}

fn hash_entry(h: &mut sha2::Sha256, rel: &str, path: &Path, follow: bool) -> std::io::Result<()> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let meta = if follow {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    h.update(format!("{rel}\0{:o}\0{}\0", meta.mode(), meta.len()));
    if meta.file_type().is_symlink() {
        h.update(std::fs::read_link(path)?.as_os_str().as_encoded_bytes());
    } else if meta.is_file() {
        let mut f = std::fs::File::open(path)?;
        std::io::copy(&mut f, h)?;
    }
    Ok(())
}

/// The pattern as a context path: cleaned, never above the root, no leading `/`.
pub fn clean_rel(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in pattern.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn has_meta(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Go's `filepath.Match`: `*` and `?` within one component, `[...]` classes (`^` negates),
/// `\` escapes.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    matches(&p, &s)
}

fn matches(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => {
            // Any run of non-separators, then the rest.
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => s.first().is_some_and(|c| *c != '/') && matches(&p[1..], &s[1..]),
        Some('[') => match s.first() {
            Some(c) if *c != '/' => match class(&p[1..], *c) {
                Some((hit, used)) => hit && matches(&p[1 + used..], &s[1..]),
                None => false,
            },
            _ => false,
        },
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && matches(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && matches(&p[1..], &s[1..]),
    }
}

/// Matches `c` against the class starting after `[`; returns the result and how many
/// pattern chars the class used (through `]`), or None for a malformed class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = p.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|h| *h != ']') {
            let h = if p[i + 1] == '\\' {
                i += 1;
                *p.get(i + 1)?
            } else {
                p[i + 1]
            };
            i += 2;
            h
        } else {
            lo
        };
        if lo <= c && c <= hi {
            hit = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_rules() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(glob_match("?.rs", "a.rs"));
        assert!(!glob_match("?.rs", "ab.rs"));
        assert!(glob_match("f[0-9]", "f7"));
        assert!(!glob_match("f[^0-9]", "f7"));
        assert!(glob_match("f[^0-9]", "fx"));
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(
            !glob_match("f[0-9", "f7"),
            "a malformed class matches nothing"
        );
    }

    #[test]
    fn cleaning_stays_inside() {
        assert_eq!(clean_rel("/a/./b/"), "a/b");
        assert_eq!(clean_rel("../../x"), "x");
        assert_eq!(clean_rel("."), ".");
        assert_eq!(clean_rel("a/../.."), ".");
    }

    #[test]
    fn resolve_paths_globs_and_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        std::fs::write(d.join("src/a.txt"), b"a").unwrap();
        std::fs::write(d.join("src/b.txt"), b"b").unwrap();
        std::fs::write(d.join("src/sub/c.txt"), b"c").unwrap();
        std::fs::write(d.join("secret.key"), b"k").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("host"), b"host").unwrap();
        std::os::unix::fs::symlink(outside.path().join("host"), d.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../", d.join("up")).unwrap();
        let ignore = Ignore::parse(".dockerignore", "*.key\nsrc/b.txt\n").unwrap();
        let ctx = Context::open(d, ignore).unwrap();

        let srcs = ctx.resolve("src/*.txt").unwrap();
        let rels: Vec<_> = srcs.iter().map(|s| s.rel.as_str()).collect();
        assert_eq!(
            rels,
            ["src/a.txt"],
            "b.txt is ignored, sub/c.txt is a level down"
        );
        assert!(matches!(
            ctx.resolve("secret.key"),
            Err(ContextError::Excluded { .. })
        ));
        assert!(matches!(
            ctx.resolve("nope"),
            Err(ContextError::NotFound { .. })
        ));
        assert!(matches!(
            ctx.resolve("*.md"),
            Err(ContextError::NoMatch { .. })
        ));
        let root = ctx.resolve("/../").unwrap();
        assert!(root[0].is_dir && root[0].name().is_none());

        // A symlink to a host file resolves inside the context, where it does not exist.
        assert!(matches!(
            ctx.resolve("escape"),
            Err(ContextError::NotFound { .. })
        ));
        // `up` resolves to the context root itself, not the host's /.
        let up = ctx.resolve("up/src/a.txt").unwrap();
        assert_eq!(std::fs::read(up[0].path()).unwrap(), b"a");
    }
}

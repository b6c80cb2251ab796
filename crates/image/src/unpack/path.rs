//! Entry paths of a layer tar as lists of components under the root.
//!
//! Only lexical checks live here; symlinks met while resolving are contained by openat2's
//! RESOLVE_IN_ROOT in `root.rs`.

/// Splits a tar entry path (or hardlink target) into its components under the root.
///
/// A leading `/` is dropped (the path is taken as relative to the root, as Docker and GNU tar
/// do); `.` and empty components are dropped; an empty result is the root itself. Any `..`
/// component is refused, even one that would stay inside (`a/../b`): no layer tool writes
/// those, and refusing them keeps the rule simple to audit.
pub(crate) fn components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut out = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path contains a `..` component"),
            name => out.push(name),
        }
    }
    Ok(out)
}

/// Joins components with `/` (empty for the root).
pub(crate) fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_dotted_paths() {
        assert_eq!(
            components(b"./usr/bin/env").unwrap(),
            [&b"usr"[..], b"bin", b"env"]
        );
        assert_eq!(components(b"usr//lib/").unwrap(), [&b"usr"[..], b"lib"]);
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b"").unwrap().is_empty());
    }

    #[test]
    fn absolute_paths_are_taken_under_the_root() {
        assert_eq!(
            components(b"/etc/passwd").unwrap(),
            [&b"etc"[..], b"passwd"]
        );
    }

    #[test]
    fn dot_dot_is_refused_anywhere() {
        assert!(components(b"../escape").is_err());
        assert!(components(b"a/../../b").is_err());
        assert!(components(b"a/../b").is_err());
        assert!(components(b"/..").is_err());
        assert!(components(b"a/b\0c").is_err());
    }

    #[test]
    fn join_round_trips() {
        assert_eq!(join(&components(b"./a/b/c").unwrap()), b"a/b/c");
        assert_eq!(join(&[]), b"");
    }
}

//! Image references: `redis` means `docker.io/library/redis:latest`.
//!
//! The grammar is the distribution project's: an optional registry domain (it has a `.` or a
//! `:`, or is `localhost`), a path of lowercase components, then `:tag` and/or `@digest`.

use std::fmt;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A fully qualified image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `localhost:5000`, `registry.example.com`.
    pub registry: String,
    /// `library/redis`, `ns/name`.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

/// Why a reference is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

impl Reference {
    /// Parses and normalizes a reference.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason| ReferenceError {
            reference: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(parse_digest(d).ok_or_else(|| {
                    err("the digest is not algorithm:hex (sha256 has 64 hex digits)")
                })?),
            ),
            None => (s, None),
        };
        // A tag's `:` comes after the last `/`; earlier ones belong to the registry's port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(err(
                "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        if name.len() > 255 {
            return Err(err("the name is longer than 255 characters"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_domain(first) => {
                if !valid_domain(first) {
                    return Err(err("the registry host is not valid"));
                }
                (first.to_string(), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(err(
                "the repository must be lowercase letters, digits and separators (. _ __ -) between them",
            ));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker shows: `redis:latest`, `ns/app:1`, `localhost:5000/app:1`.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        self.with_suffix(name)
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.name()))
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn is_domain(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn parse_digest(d: &str) -> Option<String> {
    let (alg, hex) = d.split_once(':')?;
    let alg_ok = !alg.is_empty()
        && alg.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let len_ok = alg != "sha256" || hex.len() == 64;
    (alg_ok && hex_ok && len_ok).then(|| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_normalize_to_docker_hub_library() {
        let r = Reference::parse("redis").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/redis:latest");
        assert_eq!(r.familiar(), "redis:latest");
        assert_eq!(
            Reference::parse("bitnami/redis:7").unwrap().to_string(),
            "docker.io/bitnami/redis:7"
        );
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        let r = Reference::parse("localhost:5000/ns/name:tag").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "ns/name");
        assert_eq!(r.tag.as_deref(), Some("tag"));
        let r = Reference::parse("127.0.0.1:5000/app").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(
            Reference::parse("localhost/app").unwrap().registry,
            "localhost"
        );
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = Reference::parse(&format!("name@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.to_string(), format!("docker.io/library/name@{D}"));
        let r = Reference::parse(&format!("name:tag@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert_eq!(r.digest.as_deref(), Some(D));
    }

    #[test]
    fn invalid_references_say_why() {
        for bad in [
            "",
            "UPPER",
            "x/UP",
            "a//b",
            "x:",
            "x:-tag",
            "-x",
            "x@sha256:abc",
            "host:abc/x",
            "a__-b",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("invalid image reference"),
                "{bad}: {e}"
            );
        }
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn separators_inside_components() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "my-app/sub.name"] {
            assert!(Reference::parse(ok).is_ok(), "{ok}");
        }
    }
}

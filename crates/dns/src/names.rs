//! Which names a container may be found by.

/// Whether `name` can be served as a single DNS label (RFC 1123: letters, digits, `-`, `_`
/// tolerated as Docker does, 1-63 bytes, no leading or trailing `-`).
pub fn is_servable_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// Lowercases a queried name and strips the root dot, the form records are kept in.
pub fn canonical(query: &str) -> String {
    query.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_servable_label("web"));
        assert!(is_servable_label("my_app-1"));
        assert!(!is_servable_label("-web"));
        assert!(!is_servable_label("a.b"));
        assert!(!is_servable_label(""));
        assert!(!is_servable_label(&"a".repeat(64)));
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("Web.Default."), "web.default");
    }
}

//! What changed between two versions of a service: the dotted paths of the fields that
//! differ (`environment.DEBUG`, `image`, `ports`), so a reload can say why it recreates.
//!
//! Works on the printable model (`Loaded::json`'s services), which is what the config hash
//! is computed over: mappings are compared key by key, down to their leaves; a sequence is
//! one value (`ports` changed), since its items have no stable names.

use serde_json::Value;

/// The paths under which `old` and `new` differ, in the new value's key order (removed keys
/// after). Empty when they are equal.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

/// The paths of a service's change that can matter to its container: what the config hash
/// ignores (`build`, `pull_policy`, `scale`, `depends_on`, `profiles`,
/// `deploy.replicas`) is left out.
pub fn service_changes(old: &Value, new: &Value) -> Vec<String> {
    changed_paths(old, new)
        .into_iter()
        .filter(|p| !ignored(p))
        .collect()
}

/// The change as one phrase: `environment.DEBUG changed`, `image, ports changed`; long
/// lists are cut after a few paths (`a, b, c and 4 more changed`).
pub fn describe(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    match paths.len() {
        0 => "configuration changed".to_string(),
        n if n <= SHOWN + 1 => format!("{} changed", paths.join(", ")),
        n => format!(
            "{} and {} more changed",
            paths[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

fn ignored(path: &str) -> bool {
    const TOP: [&str; 5] = ["build", "pull_policy", "scale", "depends_on", "profiles"];
    let head = path.split('.').next().unwrap_or(path);
    TOP.contains(&head) || path == "deploy.replicas"
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get(k) {
                    Some(was) => walk(&join(prefix, k), was, v, out),
                    None => out.push(join(prefix, k)),
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(join(prefix, k));
            }
        }
        (a, b) if a == b => {}
        _ => out.push(if prefix.is_empty() {
            "(root)".to_string()
        } else {
            prefix.to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_services_have_no_changes() {
        let v = json!({"image": "busybox", "environment": {"A": "1"}, "ports": [1, 2]});
        assert!(changed_paths(&v, &v.clone()).is_empty());
    }

    #[test]
    fn nested_mapping_change_names_the_leaf() {
        let old = json!({"image": "busybox", "environment": {"A": "1", "DEBUG": "0"}});
        let new = json!({"image": "busybox", "environment": {"A": "1", "DEBUG": "1"}});
        assert_eq!(changed_paths(&old, &new), ["environment.DEBUG"]);
        assert_eq!(
            describe(&service_changes(&old, &new)),
            "environment.DEBUG changed"
        );
    }

    #[test]
    fn added_and_removed_keys_are_changes() {
        let old = json!({"image": "a", "environment": {"GONE": "x"}, "user": "1"});
        let new = json!({"image": "b", "environment": {"NEW": "y"}, "command": ["sh"]});
        assert_eq!(
            changed_paths(&old, &new),
            [
                "image",
                "environment.NEW",
                "environment.GONE",
                "command",
                "user"
            ]
        );
    }

    #[test]
    fn a_sequence_changes_as_a_whole() {
        let old = json!({"ports": [{"target": 80, "published": "8080"}]});
        let new = json!({"ports": [{"target": 80, "published": "8081"}]});
        assert_eq!(changed_paths(&old, &new), ["ports"]);
    }

    #[test]
    fn what_the_hash_ignores_is_not_a_reason() {
        let old = json!({"image": "a", "depends_on": {"db": {}}, "deploy": {"replicas": 1}});
        let new = json!({"image": "a", "depends_on": {}, "deploy": {"replicas": 3}});
        assert_eq!(changed_paths(&old, &new).len(), 2);
        assert!(service_changes(&old, &new).is_empty());
        let limits = json!({"deploy": {"replicas": 3, "resources": {"limits": {"memory": "1m"}}}});
        assert_eq!(
            service_changes(&old, &limits),
            ["deploy.resources", "image"]
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let p: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(describe(&p), "a, b, c and 2 more changed");
        assert_eq!(describe(&p[..4]), "a, b, c, d changed");
        assert_eq!(describe(&p[..2]), "a, b changed");
        assert_eq!(describe(&[]), "configuration changed");
    }

    #[test]
    fn type_change_at_the_root_is_named() {
        assert_eq!(changed_paths(&json!(1), &json!("x")), ["(root)"]);
    }
}

//! What a reload does to each service, and why: compares the project before and after the
//! edit with what runs. The config hash decides (as `up` decides), the field diff says why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

/// What happens to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New in the file, no container yet: started.
    Added,
    /// Gone from the file, containers left: stopped and removed.
    Removed,
    /// Its config hash changed: recreated. `paths` are the fields that changed
    /// (`environment.DEBUG`); empty when the difference is not in the service's own fields.
    Recreated { paths: Vec<String> },
}

/// One service's change: `web: environment.DEBUG changed → recreated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceChange {
    pub service: String,
    pub change: Change,
}

impl fmt::Display for ServiceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.service;
        match &self.change {
            Change::Added => write!(f, "{s}: added → started"),
            Change::Removed => write!(f, "{s}: removed → stopped and removed"),
            Change::Recreated { paths } => {
                write!(f, "{s}: {} → recreated", compose::diff::describe(paths))
            }
        }
    }
}

/// A project version as the comparison needs it: each service's printed config and hash.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub services: BTreeMap<String, (Value, String)>,
}

/// The changes from `old` to `new` given what runs: `running` maps each service that has
/// containers to their recorded config hashes. Services in `new` whose containers all carry
/// its hash are untouched and not listed.
pub fn changes(
    old: &Side,
    new: &Side,
    running: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<ServiceChange> {
    let mut out = Vec::new();
    for (name, (json, hash)) in &new.services {
        let change = match running.get(name) {
            None => Change::Added,
            Some(hashes) if hashes.iter().any(|h| h != hash) => Change::Recreated {
                paths: old
                    .services
                    .get(name)
                    .map(|(was, _)| compose::diff::service_changes(was, json))
                    .unwrap_or_default(),
            },
            Some(_) => continue,
        };
        out.push(ServiceChange {
            service: name.clone(),
            change,
        });
    }
    for name in running.keys().filter(|n| !new.services.contains_key(*n)) {
        out.push(ServiceChange {
            service: name.clone(),
            change: Change::Removed,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn side(items: &[(&str, Value, &str)]) -> Side {
        Side {
            services: items
                .iter()
                .map(|(n, v, h)| (n.to_string(), (v.clone(), h.to_string())))
                .collect(),
        }
    }

    fn running(items: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (s, h) in items {
            m.entry(s.to_string()).or_default().insert(h.to_string());
        }
        m
    }

    #[test]
    fn changed_hash_recreates_with_the_fields_as_reason() {
        let old = side(&[
            ("web", json!({"environment": {"DEBUG": "0"}}), "h1"),
            ("db", json!({"image": "x"}), "d"),
        ]);
        let new = side(&[
            ("web", json!({"environment": {"DEBUG": "1"}}), "h2"),
            ("db", json!({"image": "x"}), "d"),
        ]);
        let c = changes(&old, &new, &running(&[("web", "h1"), ("db", "d")]));
        assert_eq!(c.len(), 1, "db is untouched: {c:?}");
        assert_eq!(
            c[0].to_string(),
            "web: environment.DEBUG changed → recreated"
        );
    }

    #[test]
    fn added_and_removed_services() {
        let old = side(&[("old", json!({}), "o")]);
        let new = side(&[("cache", json!({}), "c")]);
        let c = changes(&old, &new, &running(&[("old", "o")]));
        let lines: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "cache: added → started",
                "old: removed → stopped and removed"
            ]
        );
    }

    #[test]
    fn a_hash_that_differs_without_field_changes_still_recreates() {
        // The running containers come from an older file than the loop's baseline.
        let s = side(&[("web", json!({"image": "a"}), "new")]);
        let c = changes(&s, &s, &running(&[("web", "older")]));
        assert_eq!(c[0].to_string(), "web: configuration changed → recreated");
    }

    #[test]
    fn one_stale_replica_recreates_the_service() {
        let s = side(&[("web", json!({}), "h")]);
        let c = changes(&s, &s, &running(&[("web", "h"), ("web", "x")]));
        assert!(matches!(c[0].change, Change::Recreated { .. }));
        assert!(changes(&s, &s, &running(&[("web", "h")])).is_empty());
    }
}

//! Checks across the project that the types alone can't make: references between services,
//! networks, volumes, secrets and configs; dependency cycles; names that must be unique. They
//! run on the merged tree, so each error still names the file, line and path. All errors found
//! are reported together.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::graph::{Condition, Dependency, Graph};
use crate::yaml::{Key, Node, Value};

/// The services a project defines, and those its profiles switched off.
pub struct Scope<'a> {
    pub root: &'a Node,
    pub disabled: &'a BTreeSet<String>,
    /// Relative paths (env files) resolve against it.
    pub project_dir: &'a std::path::Path,
}

fn services(root: &Node) -> impl Iterator<Item = (&Key, &Node)> {
    root.get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flat_map(|m| m.iter())
}

fn declared(root: &Node, section: &str) -> BTreeSet<String> {
    root.get(section)
        .and_then(Node::as_map)
        .map(|m| m.keys().map(|k| k.name.clone()).collect())
        .unwrap_or_default()
}

/// Entries of a list-or-map field: `(name, node)` pairs, where the node is the list item or the
/// map key's value (its position is the key's for maps).
fn names_of(node: &Node) -> Vec<(String, crate::yaml::Pos, Option<&Node>)> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| i.scalar_string().map(|s| (s, i.pos.clone(), None)))
            .collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (k.name.clone(), k.pos.clone(), Some(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Top-level keys must be known or `x-*`; checked on the tree so the error points at the key
/// (the model reads the top level through `flatten`, which loses key positions).
pub fn top_level_keys(root: &Node) -> Result<(), Error> {
    let Some(map) = root.as_map() else {
        return Ok(());
    };
    let errors = map
        .keys()
        .filter(|k| {
            !k.name.starts_with("x-") && !crate::model::TOP_LEVEL_KEYS.contains(&k.name.as_str())
        })
        .map(|k| {
            Error::at(
                &k.pos,
                "",
                crate::de::unknown_key_message(&k.name, crate::model::TOP_LEVEL_KEYS),
            )
        })
        .collect();
    Error::collect(errors)
}

/// Runs every check and returns all the errors found.
pub fn validate(scope: &Scope<'_>) -> Vec<Error> {
    let mut errors = Vec::new();
    let defined: BTreeSet<String> = services(scope.root).map(|(k, _)| k.name.clone()).collect();
    let networks = declared(scope.root, "networks");
    let volumes = declared(scope.root, "volumes");
    let secrets = declared(scope.root, "secrets");
    let configs = declared(scope.root, "configs");
    for (key, svc) in services(scope.root) {
        let name = &key.name;
        let path = format!("services.{name}");
        check_conditions(&mut errors, svc, &path);
        let mut service_ref = |target: &str, pos: &crate::yaml::Pos, field: &str, what: &str| {
            if defined.contains(target) {
                return;
            }
            let message = if scope.disabled.contains(target) {
                format!(
                    "service {name:?} {what} service {target:?} which is disabled by its profiles"
                )
            } else {
                format!("service {name:?} {what} undefined service {target:?}")
            };
            errors.push(Error::at(pos, format!("{path}.{field}"), message));
        };
        if let Some(deps) = svc.get("depends_on") {
            for (dep, pos, def) in names_of(deps) {
                let required = def
                    .and_then(|d| d.get("required"))
                    .is_none_or(|r| !matches!(r.value, Value::Bool(false)));
                if required {
                    service_ref(&dep, &pos, "depends_on", "depends on");
                }
            }
        }
        if let Some(links) = svc.get("links") {
            for (link, pos, _) in names_of(links) {
                let target = link.split(':').next().unwrap_or_default().to_string();
                service_ref(&target, &pos, "links", "links to");
            }
        }
        if let Some(from) = svc.get("volumes_from") {
            for (v, pos, _) in names_of(from) {
                if v.starts_with("container:") {
                    continue;
                }
                let target = v.split(':').next().unwrap_or_default().to_string();
                service_ref(&target, &pos, "volumes_from", "mounts volumes from");
            }
        }
        if let Some(mode) = svc.get("network_mode")
            && let Some(target) = mode.as_str().and_then(|m| m.strip_prefix("service:"))
        {
            service_ref(
                target,
                &mode.pos,
                "network_mode",
                "uses the network stack of",
            );
        }
        check_declared(
            &mut errors,
            svc,
            &path,
            "networks",
            &networks,
            "network",
            |n| n != "default",
        );
        check_declared(
            &mut errors,
            svc,
            &path,
            "secrets",
            &secrets,
            "secret",
            |_| true,
        );
        check_declared(
            &mut errors,
            svc,
            &path,
            "configs",
            &configs,
            "config",
            |_| true,
        );
        check_volumes(&mut errors, svc, &path, &volumes);
        check_env_files(&mut errors, svc, &path, scope.project_dir);
        if svc.as_map().is_some()
            && ["image", "build", "provider"]
                .iter()
                .all(|k| svc.get(k).is_none_or(Node::is_null))
        {
            errors.push(Error::at(
                &key.pos,
                &path,
                format!("service {name:?} has neither an image nor a build context specified"),
            ));
        }
        check_container_name(&mut errors, svc, &path, name);
    }
    if let Some(cycle) = cycle_error(scope.root) {
        errors.push(cycle);
    }
    errors
}

/// `depends_on.<service>.condition` is one of the three Compose knows.
fn check_conditions(errors: &mut Vec<Error>, svc: &Node, path: &str) {
    let Some(deps) = svc.get("depends_on") else {
        return;
    };
    for (dep, _, def) in names_of(deps) {
        let Some(c) = def.and_then(|d| d.get("condition")) else {
            continue;
        };
        if c.as_str().and_then(Condition::parse).is_none() {
            errors.push(Error::at(
                &c.pos,
                format!("{path}.depends_on.{dep}.condition"),
                "must be one of service_started, service_healthy, service_completed_successfully",
            ));
        }
    }
}

/// Named resources a service uses (`networks`, `secrets`, `configs`) must be declared at the
/// top level.
fn check_declared(
    errors: &mut Vec<Error>,
    svc: &Node,
    path: &str,
    field: &str,
    declared: &BTreeSet<String>,
    what: &str,
    needs_declaring: impl Fn(&str) -> bool,
) {
    let Some(node) = svc.get(field) else { return };
    let entries: Vec<(String, crate::yaml::Pos)> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| match &i.value {
                Value::Map(_) => i
                    .get("source")
                    .and_then(Node::scalar_string)
                    .map(|s| (s, i.pos.clone())),
                _ => i.scalar_string().map(|s| (s, i.pos.clone())),
            })
            .collect(),
        Value::Map(m) => m.keys().map(|k| (k.name.clone(), k.pos.clone())).collect(),
        _ => Vec::new(),
    };
    for (name, pos) in entries {
        if needs_declaring(&name) && !declared.contains(&name) {
            let service = path.trim_start_matches("services.");
            errors.push(Error::at(
                &pos,
                format!("{path}.{field}"),
                format!("service {service:?} refers to undefined {what} {name:?}"),
            ));
        }
    }
}

/// The named volume a `volumes:` entry mounts, if it is one.
fn named_volume(entry: &Node) -> Option<String> {
    match &entry.value {
        Value::Map(_) => {
            let kind = entry.get("type").and_then(Node::as_str).unwrap_or("volume");
            if kind != "volume" {
                return None;
            }
            entry.get("source").and_then(Node::scalar_string)
        }
        Value::Str(s) => {
            let mut parts = s.splitn(2, ':');
            let source = parts.next()?;
            parts.next()?;
            let is_path = source.starts_with(['/', '.', '~', '$']) || source.contains('/');
            (!source.is_empty() && !is_path).then(|| source.to_string())
        }
        _ => None,
    }
}

fn check_volumes(errors: &mut Vec<Error>, svc: &Node, path: &str, declared: &BTreeSet<String>) {
    let Some(items) = svc.get("volumes").and_then(Node::as_seq) else {
        return;
    };
    for (i, entry) in items.iter().enumerate() {
        if let Some(name) = named_volume(entry)
            && !declared.contains(&name)
        {
            let service = path.trim_start_matches("services.");
            errors.push(Error::at(
                &entry.pos,
                format!("{path}.volumes[{i}]"),
                format!("service {service:?} refers to undefined volume {name:?}"),
            ));
        }
    }
}

/// `env_file:` entries that must exist (all but `required: false`) and don't.
fn check_env_files(errors: &mut Vec<Error>, svc: &Node, path: &str, dir: &std::path::Path) {
    let Some(node) = svc.get("env_file") else {
        return;
    };
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    for (i, item) in items.into_iter().enumerate() {
        let (file, required) = match &item.value {
            Value::Map(_) => (
                item.get("path").and_then(Node::scalar_string),
                !matches!(
                    item.get("required").map(|r| &r.value),
                    Some(Value::Bool(false))
                ),
            ),
            _ => (item.scalar_string(), true),
        };
        let Some(file) = file else { continue };
        let full = crate::paths::absolute(dir, std::path::Path::new(&file));
        if required && !full.exists() {
            let at = if matches!(node.value, Value::Seq(_)) {
                format!("{path}.env_file[{i}]")
            } else {
                format!("{path}.env_file")
            };
            errors.push(Error::at(
                &item.pos,
                at,
                format!("env file {file} not found ({})", full.display()),
            ));
        }
    }
}

fn int_of(n: Option<&Node>) -> Option<i64> {
    let n = n?;
    match &n.value {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn check_container_name(errors: &mut Vec<Error>, svc: &Node, path: &str, name: &str) {
    let Some(cn) = svc.get("container_name") else {
        return;
    };
    let replicas = int_of(svc.get("scale"))
        .or_else(|| int_of(svc.get("deploy").and_then(|d| d.get("replicas"))))
        .unwrap_or(1);
    if replicas > 1 {
        errors.push(Error::at(
            &cn.pos,
            format!("{path}.container_name"),
            format!(
                "service {name:?} has container_name set and {replicas} replicas: a container name must be unique"
            ),
        ));
    }
}

/// The `depends_on` edges of the tree (explicit ones; links and the like are added by
/// normalization).
pub fn dependency_edges(root: &Node) -> Vec<(String, String, Dependency)> {
    let mut edges = Vec::new();
    for (key, svc) in services(root) {
        let Some(deps) = svc.get("depends_on") else {
            continue;
        };
        for (dep, _, def) in names_of(deps) {
            let mut d = Dependency::default();
            if let Some(def) = def {
                if let Some(c) = def
                    .get("condition")
                    .and_then(Node::as_str)
                    .and_then(Condition::parse)
                {
                    d.condition = c;
                }
                if let Some(Value::Bool(b)) = def.get("required").map(|n| &n.value) {
                    d.required = *b;
                }
                if let Some(Value::Bool(b)) = def.get("restart").map(|n| &n.value) {
                    d.restart = *b;
                }
            }
            edges.push((key.name.clone(), dep, d));
        }
    }
    edges
}

fn cycle_error(root: &Node) -> Option<Error> {
    let names = services(root).map(|(k, _)| k.name.clone());
    let cycle = Graph::new(names, dependency_edges(root)).err()?;
    let first = cycle.0.first()?;
    let pos = root
        .get("services")
        .and_then(|s| s.get(first))
        .and_then(|s| s.as_map())
        .and_then(|m| m.get_key_value("depends_on"))
        .map(|(k, _)| k.pos.clone())?;
    Some(Error::at(
        &pos,
        format!("services.{first}.depends_on"),
        cycle.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn check(text: &str, disabled: &[&str]) -> Vec<String> {
        let root = crate::yaml::parse(&Arc::from("c.yaml"), text).unwrap();
        let disabled: BTreeSet<String> = disabled.iter().map(|s| s.to_string()).collect();
        validate(&Scope {
            root: &root,
            disabled: &disabled,
            project_dir: std::path::Path::new("/nonexistent"),
        })
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn unknown_references_are_reported_with_positions() {
        let errs = check(
            "services:\n  web:\n    image: x\n    depends_on: [db]\n    links: ['cache:c']\n    networks: [back]\n    volumes: ['data:/d', './x:/x']\n",
            &[],
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs[0].starts_with("c.yaml:4:18: services.web.depends_on: "),
            "{}",
            errs[0]
        );
        assert!(errs[0].contains("undefined service \"db\""));
        assert!(errs[1].contains("undefined service \"cache\""));
        assert!(errs[2].contains("c.yaml:6:16") && errs[2].contains("undefined network \"back\""));
        assert!(errs[3].contains("services.web.volumes[0]") && errs[3].contains("\"data\""));
    }

    #[test]
    fn optional_and_profile_disabled_dependencies() {
        let errs = check(
            "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_started, required: false}\n      cache: {condition: service_started}\n",
            &["cache"],
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("disabled by its profiles"));
    }

    #[test]
    fn cycles_and_container_names() {
        let errs = check(
            "services:\n  a:\n    depends_on: [b]\n    image: x\n  b:\n    build: .\n    depends_on: [a]\n    container_name: bee\n    deploy: {replicas: 2}\n",
            &[],
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("container name must be unique"));
        assert!(
            errs[1].contains("c.yaml:3:5") && errs[1].contains("a -> b -> a"),
            "{}",
            errs[1]
        );
    }

    #[test]
    fn images_and_env_files() {
        let errs = check(
            "services:\n  web:\n    command: [x]\n  api:\n    image: x\n    env_file: [{path: gone.env, required: false}, gone2.env]\n",
            &[],
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("c.yaml:2:3: services.web: "),
            "{}",
            errs[0]
        );
        assert!(errs[0].contains("neither an image nor a build"));
        assert!(
            errs[1]
                .starts_with("c.yaml:6:51: services.api.env_file[1]: env file gone2.env not found"),
            "{}",
            errs[1]
        );
    }

    #[test]
    fn dependency_conditions_are_checked() {
        let errs = check(
            "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_bogus}\n  db:\n    image: y\n",
            &[],
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0]
                .starts_with("c.yaml:5:23: services.web.depends_on.db.condition: must be one of"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn volumes_from_and_network_mode_name_services() {
        let errs = check(
            "services:\n  web:\n    image: x\n    volumes_from: [store, 'container:abc', 'data:ro']\n    network_mode: service:proxy\n  data:\n    image: y\n",
            &[],
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("services.web.volumes_from") && errs[0].contains("\"store\""),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].starts_with("c.yaml:5:19: services.web.network_mode: ")
                && errs[1].contains("\"proxy\""),
            "{}",
            errs[1]
        );
    }

    #[test]
    fn unknown_top_level_keys_point_at_the_key() {
        let root = crate::yaml::parse(
            &Arc::from("c.yaml"),
            "services: {}\nservces:\n  web: {}\nx-ok: 1\n",
        )
        .unwrap();
        let e = top_level_keys(&root).unwrap_err().to_string();
        assert_eq!(
            e,
            "c.yaml:2:1: additional property \"servces\" is not allowed (did you mean \"services\"?)"
        );
    }

    #[test]
    fn declared_resources_pass() {
        let errs = check(
            "services:\n  web:\n    image: x\n    networks: {default: {}, back: {}}\n    volumes: [{type: volume, source: data, target: /d}, /host:/c]\n    secrets: [s]\nnetworks: {back: {}}\nvolumes: {data: {}}\nsecrets: {s: {file: ./s}}\n",
            &[],
        );
        assert!(errs.is_empty(), "{errs:?}");
    }
}

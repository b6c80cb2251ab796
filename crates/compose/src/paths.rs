//! Relative paths inside a compose tree, made absolute against a directory: what `include`
//! needs (each included file resolves against its own project directory) and what `extends`
//! of a file in another directory needs.

use std::path::{Component, Path, PathBuf};

use crate::yaml::{Node, Value};

/// Lexically cleans a path (`a/./b/../c` → `a/c`) and makes it absolute against `base`.
pub fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// Makes a relative path string absolute against `dir`.
fn fix(n: &mut Node, dir: &Path) {
    if let Value::Str(s) = &mut n.value
        && !s.is_empty()
        && !s.starts_with('/')
        && !s.starts_with('~')
        && !is_remote(s)
    {
        *s = absolute(dir, Path::new(s.as_str())).display().to_string();
    }
}

/// A string, a list of strings, or (for `env_file`) a list of `{path: ...}`.
fn fix_list(n: &mut Node, dir: &Path) {
    match &mut n.value {
        Value::Seq(items) => {
            for i in items {
                match &mut i.value {
                    Value::Map(m) => {
                        if let Some(p) = m.get_mut("path") {
                            fix(p, dir);
                        }
                    }
                    _ => fix(i, dir),
                }
            }
        }
        _ => fix(n, dir),
    }
}

/// The source of a short-syntax volume, when it is a relative host path.
fn fix_short_volume(n: &mut Node, dir: &Path) {
    let Value::Str(s) = &mut n.value else { return };
    if !(s.starts_with("./")
        || s.starts_with("../")
        || s == "."
        || s == ".."
        || s.starts_with(".:")
        || s.starts_with("..:"))
    {
        return;
    }
    let (source, rest) = match s.split_once(':') {
        Some((a, b)) => (a.to_string(), Some(b.to_string())),
        None => (s.clone(), None),
    };
    let abs = absolute(dir, Path::new(&source)).display().to_string();
    *s = match rest {
        Some(r) => format!("{abs}:{r}"),
        None => abs,
    };
}

fn fix_service(svc: &mut Node, dir: &Path) {
    let Some(m) = svc.as_map_mut() else { return };
    if let Some(b) = m.get_mut("build") {
        match &mut b.value {
            Value::Map(bm) => {
                if let Some(c) = bm.get_mut("context") {
                    fix(c, dir);
                }
                if let Some(Value::Map(ac)) =
                    bm.get_mut("additional_contexts").map(|n| &mut n.value)
                {
                    for v in ac.values_mut() {
                        let special = v.as_str().is_some_and(|s| {
                            s.starts_with("docker-image://") || s.starts_with("service:")
                        });
                        if !special {
                            fix(v, dir);
                        }
                    }
                }
            }
            _ => fix(b, dir),
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(n) = m.get_mut(key) {
            fix_list(n, dir);
        }
    }
    if let Some(e) = m.get_mut("extends")
        && let Some(f) = e.as_map_mut().and_then(|em| em.get_mut("file"))
    {
        fix(f, dir);
    }
    if let Some(Value::Seq(vols)) = m.get_mut("volumes").map(|n| &mut n.value) {
        for v in vols {
            match &mut v.value {
                Value::Map(vm) => {
                    let bind = vm.get("type").and_then(Node::as_str) == Some("bind");
                    if bind && let Some(src) = vm.get_mut("source") {
                        fix(src, dir);
                    }
                }
                _ => fix_short_volume(v, dir),
            }
        }
    }
    if let Some(Value::Seq(rules)) = m
        .get_mut("develop")
        .and_then(|d| d.as_map_mut())
        .and_then(|d| d.get_mut("watch"))
        .map(|w| &mut w.value)
    {
        for r in rules {
            if let Some(p) = r.as_map_mut().and_then(|rm| rm.get_mut("path")) {
                fix(p, dir);
            }
        }
    }
}

/// Makes every relative path of a whole compose tree absolute against `dir`.
pub fn rebase_paths(root: &mut Node, dir: &Path) {
    let Some(m) = root.as_map_mut() else { return };
    if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            fix_service(svc, dir);
        }
    }
    for section in ["configs", "secrets"] {
        if let Some(items) = m.get_mut(section).and_then(Node::as_map_mut) {
            for item in items.values_mut() {
                if let Some(f) = item.as_map_mut().and_then(|im| im.get_mut("file")) {
                    fix(f, dir);
                }
            }
        }
    }
}

/// Rebases one service definition (for `extends` from a file in another directory).
pub fn rebase_service(service: &mut Node, dir: &Path) {
    fix_service(service, dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn relative_paths_become_absolute() {
        let mut root = crate::yaml::parse(
            &Arc::from("c.yaml"),
            "services:\n  a:\n    build: ./app\n    env_file: [x.env, {path: ../y.env}]\n    volumes: ['./d:/d:ro', 'named:/n', '/abs:/abs', {type: bind, source: data, target: /x}]\n    develop: {watch: [{path: src, action: sync, target: /s}]}\n  b:\n    build: {context: https://example.invalid/r.git, additional_contexts: {x: ../ctx, y: 'docker-image://busybox'}}\nsecrets: {s: {file: ./s.txt}}\n",
        )
        .unwrap();
        rebase_paths(&mut root, Path::new("/srv/inc"));
        let j = root.to_json();
        let a = &j["services"]["a"];
        assert_eq!(a["build"], "/srv/inc/app");
        assert_eq!(a["env_file"][0], "/srv/inc/x.env");
        assert_eq!(a["env_file"][1]["path"], "/srv/y.env");
        assert_eq!(a["volumes"][0], "/srv/inc/d:/d:ro");
        assert_eq!(a["volumes"][1], "named:/n");
        assert_eq!(a["volumes"][2], "/abs:/abs");
        assert_eq!(a["volumes"][3]["source"], "/srv/inc/data");
        assert_eq!(a["develop"]["watch"][0]["path"], "/srv/inc/src");
        let b = &j["services"]["b"]["build"];
        assert_eq!(b["context"], "https://example.invalid/r.git");
        assert_eq!(b["additional_contexts"]["x"], "/srv/ctx");
        assert_eq!(b["additional_contexts"]["y"], "docker-image://busybox");
        assert_eq!(j["secrets"]["s"]["file"], "/srv/inc/s.txt");
    }
}

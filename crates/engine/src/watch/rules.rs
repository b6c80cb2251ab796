//! A service's `develop.watch` rules, compiled: which host paths a rule covers (under its
//! `path`, not ignored by its `ignore` or the build context's `.dockerignore`, matched by
//! `include` when given) and where a covered path lands in the container.

use std::path::{Path, PathBuf};

use compose::model::develop::{ServiceHook, WatchAction};
use compose::model::service::Service;
use compose_build::ignore::Ignore;

use super::WatchError;

/// Files editors write beside the one being saved: never synced, never a trigger (as
/// Docker Compose ignores them).
const EDITOR_TEMPS: &str = "**/*.swp\n**/*.swx\n**/*~\n**/.#*\n**/4913\n**/.git\n**/.DS_Store\n";

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: String,
    pub action: WatchAction,
    /// The watched host path (absolute).
    pub path: PathBuf,
    /// Where `path` lands in the container (empty for `rebuild` and `restart`).
    pub target: String,
    pub exec: ServiceHook,
    pub initial_sync: bool,
    /// The rule's `ignore`, relative to `path`.
    ignore: Ignore,
    /// The context's `.dockerignore` and where it is rooted.
    dockerignore: Option<(PathBuf, Ignore)>,
    /// `include`, relative to `path` (everything when `None`).
    include: Option<Ignore>,
}

impl Rule {
    /// Whether the rule copies files into the container.
    pub fn syncs(&self) -> bool {
        matches!(
            self.action,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        )
    }

    /// Whether a change at `host` (absolute) concerns this rule.
    pub fn matches(&self, host: &Path) -> bool {
        let Some(rel) = relative(&self.path, host) else {
            return false;
        };
        if editor_temps().is_excluded(&rel) && !rel.is_empty() {
            return false;
        }
        if !rel.is_empty() && self.ignore.is_excluded(&rel) {
            return false;
        }
        if let Some((root, ig)) = &self.dockerignore
            && let Some(r) = relative(root, host)
            && !r.is_empty()
            && ig.is_excluded(&r)
        {
            return false;
        }
        match &self.include {
            Some(inc) if !rel.is_empty() => inc.is_excluded(&rel),
            _ => true,
        }
    }

    /// Whether a directory at `host` may hold covered files (a walk goes into it): not
    /// ignored itself; `include` applies to files only.
    pub fn may_hold(&self, host: &Path) -> bool {
        match &self.include {
            None => self.matches(host),
            Some(_) => {
                let mut probe = self.clone();
                probe.include = None;
                probe.matches(host)
            }
        }
    }

    /// Where `host` lands in the container: `target` + its path under the rule's `path`.
    pub fn container_path(&self, host: &Path) -> Option<String> {
        let rel = relative(&self.path, host)?;
        let base = self.target.trim_end_matches('/');
        Some(match rel.as_str() {
            "" => self.target.clone(),
            r => format!("{base}/{r}"),
        })
    }
}

fn editor_temps() -> &'static Ignore {
    static CELL: std::sync::OnceLock<Ignore> = std::sync::OnceLock::new();
    CELL.get_or_init(|| Ignore::parse("editor temporaries", EDITOR_TEMPS).unwrap_or_default())
}

/// `host` under `root`, `/`-separated ("" for `root` itself); `None` when outside.
fn relative(root: &Path, host: &Path) -> Option<String> {
    let rest = host.strip_prefix(root).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// The rules of `services` (every service with `develop.watch` when empty), in file order.
pub fn compile(
    services: &[(String, &Service)],
    project_dir: &Path,
) -> Result<Vec<Rule>, WatchError> {
    let mut out = Vec::new();
    for (name, svc) in services {
        let Some(develop) = &svc.develop else {
            continue;
        };
        let dockerignore = context_ignore(name, svc)?;
        for (i, r) in develop.watch.iter().enumerate() {
            let bad = |reason: String| WatchError::Rule {
                service: name.clone(),
                index: i,
                reason,
            };
            let path = project_dir.join(&r.path);
            let needs_target = matches!(
                r.action,
                WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
            );
            if needs_target && !r.target.starts_with('/') {
                return Err(bad(format!(
                    "action {} needs an absolute target, got {:?}",
                    action_name(r.action),
                    r.target
                )));
            }
            if r.action == WatchAction::SyncExec && r.exec.command.is_none() {
                return Err(bad("action sync+exec needs exec.command".into()));
            }
            if r.action == WatchAction::Rebuild && svc.build.is_none() {
                return Err(bad("action rebuild needs a build section".into()));
            }
            let ignore = Ignore::parse(&format!("{name} watch[{i}].ignore"), &r.ignore.join("\n"))
                .map_err(|e| bad(e.to_string()))?;
            let include = if r.include.is_empty() {
                None
            } else {
                Some(
                    Ignore::parse(&format!("{name} watch[{i}].include"), &r.include.join("\n"))
                        .map_err(|e| bad(e.to_string()))?,
                )
            };
            out.push(Rule {
                service: name.clone(),
                action: r.action,
                path,
                target: r.target.clone(),
                exec: r.exec.clone(),
                initial_sync: r.initial_sync,
                ignore,
                dockerignore: dockerignore.clone(),
                include,
            });
        }
    }
    Ok(out)
}

/// The `.dockerignore` of the service's build context, when it has a local one.
fn context_ignore(name: &str, svc: &Service) -> Result<Option<(PathBuf, Ignore)>, WatchError> {
    let Some(build) = &svc.build else {
        return Ok(None);
    };
    let context = PathBuf::from(&build.context);
    if !context.is_dir() {
        return Ok(None);
    }
    let dockerfile = (!build.dockerfile.is_empty()).then(|| context.join(&build.dockerfile));
    let ig = Ignore::for_build(&context, dockerfile.as_deref()).map_err(|e| WatchError::Rule {
        service: name.to_string(),
        index: 0,
        reason: e.to_string(),
    })?;
    Ok(Some((context, ig)))
}

/// The action as the compose file spells it.
pub fn action_name(a: WatchAction) -> &'static str {
    match a {
        WatchAction::Sync => "sync",
        WatchAction::Rebuild => "rebuild",
        WatchAction::Restart => "restart",
        WatchAction::SyncRestart => "sync+restart",
        WatchAction::SyncExec => "sync+exec",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Rule {
        let svc: Service = serde_yaml_ng::from_str(yaml).unwrap();
        let rules = compile(&[("web".into(), &svc)], Path::new("/p")).unwrap();
        rules.into_iter().next().unwrap()
    }

    #[test]
    fn paths_under_the_rule_map_to_the_target() {
        let r = rule("develop: {watch: [{path: ./src, action: sync, target: /app/}]}");
        assert!(r.matches(Path::new("/p/src/a/b.txt")));
        assert!(!r.matches(Path::new("/p/srcx/b.txt")));
        assert!(!r.matches(Path::new("/p/other")));
        assert_eq!(
            r.container_path(Path::new("/p/src/a/b.txt")).as_deref(),
            Some("/app/a/b.txt")
        );
        assert_eq!(
            r.container_path(Path::new("/p/src")).as_deref(),
            Some("/app/")
        );
        assert_eq!(r.container_path(Path::new("/q/x")), None);
    }

    #[test]
    fn ignore_and_editor_temps_are_skipped() {
        let r = rule(
            "develop: {watch: [{path: ., action: sync, target: /app, ignore: [node_modules/, '*.log']}]}",
        );
        assert!(r.matches(Path::new("/p/index.js")));
        assert!(!r.matches(Path::new("/p/node_modules/x/y.js")));
        assert!(!r.matches(Path::new("/p/debug.log")));
        assert!(
            r.matches(Path::new("/p/sub/debug.log")),
            "* stays in one component"
        );
        assert!(!r.matches(Path::new("/p/.index.js.swp")));
        assert!(!r.matches(Path::new("/p/sub/index.js~")));
        assert!(!r.matches(Path::new("/p/.git/HEAD")));
    }

    #[test]
    fn include_selects_files_but_walks_dirs() {
        let r =
            rule("develop: {watch: [{path: ., action: sync, target: /app, include: ['**/*.js']}]}");
        assert!(r.matches(Path::new("/p/a/b.js")));
        assert!(!r.matches(Path::new("/p/a/b.css")));
        assert!(r.may_hold(Path::new("/p/a")));
    }

    #[test]
    fn dockerignore_of_the_context_applies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "secret/\n").unwrap();
        let yaml = format!(
            "build: {{context: {}}}\ndevelop: {{watch: [{{path: {}, action: sync, target: /app}}]}}",
            dir.path().display(),
            dir.path().display()
        );
        let r = rule(&yaml);
        assert!(r.matches(&dir.path().join("ok.txt")));
        assert!(!r.matches(&dir.path().join("secret/key")));
    }

    #[test]
    fn bad_rules_are_refused_with_their_service() {
        for (yaml, want) in [
            (
                "develop: {watch: [{path: x, action: sync, target: rel}]}",
                "absolute target",
            ),
            (
                "develop: {watch: [{path: x, action: sync+exec, target: /x}]}",
                "exec.command",
            ),
            (
                "develop: {watch: [{path: x, action: rebuild}]}",
                "build section",
            ),
        ] {
            let svc: Service = serde_yaml_ng::from_str(yaml).unwrap();
            let e = compile(&[("web".into(), &svc)], Path::new("/p"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("web") && e.contains(want), "{e}");
        }
    }
}

//! What a batch of changes does to each service: `sync` copies the changed files into its
//! running containers, `restart` and `sync+restart` restart it, `sync+exec` runs the rule's
//! command in each container, `rebuild` builds its image and recreates it. A service with a
//! rebuild among its hits is only rebuilt (the new image holds the files). Errors are
//! printed for their service and the loop goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use compose::model::develop::WatchAction;
use compose_runtime::ExecStdio;

use super::rules::Rule;
use super::sync::Root;
use super::{WatchOptions, WatchOutput};
use crate::build::BuildPolicy;
use crate::engine::{Engine, Progress, Project};
use crate::error::{Error, Result};
use crate::ops::exec::ExecOptions;
use crate::ops::up::UpOptions;
use crate::store::ContainerRow;

/// The changed paths each rule covers, per service in rule order.
type Hits<'r> = BTreeMap<&'r str, Vec<(&'r Rule, Vec<PathBuf>)>>;

/// Groups `paths` by the rules that cover them.
pub fn hits<'r>(rules: &'r [Rule], paths: &[PathBuf]) -> Hits<'r> {
    let mut out: Hits<'r> = BTreeMap::new();
    for rule in rules {
        let mine: Vec<PathBuf> = paths.iter().filter(|p| rule.matches(p)).cloned().collect();
        if !mine.is_empty() {
            out.entry(rule.service.as_str())
                .or_default()
                .push((rule, mine));
        }
    }
    out
}

/// The files and directories under `dir` (itself excluded) that `rule` covers.
pub fn walk(rule: &Rule, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            if rule.may_hold(&path) {
                if rule.matches(&path) {
                    out.push(path.clone());
                }
                walk(rule, &path, out)?;
            }
        } else if rule.matches(&path) {
            out.push(path);
        }
    }
    Ok(())
}

impl Engine {
    /// Acts on one batch of changed paths.
    pub(super) fn dispatch(
        &self,
        p: &Project<'_>,
        rules: &[Rule],
        paths: &[PathBuf],
        opts: &WatchOptions,
        out: &dyn WatchOutput,
        progress: &dyn Progress,
    ) {
        let hits = hits(rules, paths);
        let rebuild: Vec<String> = hits
            .iter()
            .filter(|(_, rs)| rs.iter().any(|(r, _)| r.action == WatchAction::Rebuild))
            .map(|(s, _)| s.to_string())
            .collect();
        if !rebuild.is_empty() {
            self.rebuild(p, &rebuild, opts, out, progress);
        }
        for (svc, rs) in &hits {
            if rebuild.iter().any(|r| r == svc) {
                continue;
            }
            if let Err(e) = self.handle(p, svc, rs, out, progress) {
                out.error(Some(svc), &format!("Error handling changed files: {e}"));
            }
        }
    }

    /// The sync, restart and exec rules of one service that this batch hit.
    fn handle(
        &self,
        p: &Project<'_>,
        svc: &str,
        rs: &[(&Rule, Vec<PathBuf>)],
        out: &dyn WatchOutput,
        progress: &dyn Progress,
    ) -> Result<()> {
        let syncing: Vec<&(&Rule, Vec<PathBuf>)> = rs.iter().filter(|(r, _)| r.syncs()).collect();
        if !syncing.is_empty() {
            let n: usize = syncing.iter().map(|(_, ps)| ps.len()).sum();
            out.info(
                Some(svc),
                &format!("Syncing service {svc:?} after {n} changes were detected"),
            );
            for (rule, paths) in &syncing {
                self.sync_rule(p, rule, paths)?;
            }
        }
        let restart = rs
            .iter()
            .any(|(r, _)| matches!(r.action, WatchAction::Restart | WatchAction::SyncRestart));
        if restart {
            self.restart_services(p, &[svc.to_string()], None, false, progress)?;
            out.info(Some(svc), &format!("service(s) {:?} restarted", [svc]));
        }
        for (rule, _) in rs.iter().filter(|(r, _)| r.action == WatchAction::SyncExec) {
            for (row, _) in self.running(p, svc)? {
                self.exec_rule(p, rule, &row, out)?;
            }
        }
        Ok(())
    }

    /// The running containers of `svc` and their inits' pids.
    fn running(&self, p: &Project<'_>, svc: &str) -> Result<Vec<(ContainerRow, i32)>> {
        let mut out = Vec::new();
        for (row, live) in self.containers(p.name)? {
            if row.service == svc && live.is_up() {
                out.push(self.running_container(p.name, svc, row.number)?);
            }
        }
        Ok(out)
    }

    /// Copies `paths` (changed paths under the rule) into every running container of the
    /// rule's service: what exists on the host is written (directories whole), what does
    /// not is removed.
    pub(super) fn sync_rule(&self, p: &Project<'_>, rule: &Rule, paths: &[PathBuf]) -> Result<()> {
        let mut todo = Vec::new();
        for path in paths {
            todo.push(path.clone());
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                walk(rule, path, &mut todo)
                    .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
            }
        }
        for (row, pid) in self.running(p, &rule.service)? {
            let root = Root::open(pid).map_err(|e| Error::Other(format!("{}: {e}", row.name)))?;
            for path in &todo {
                let Some(inside) = rule.container_path(path) else {
                    continue;
                };
                let done = match std::fs::symlink_metadata(path) {
                    Ok(_) => root.put(path, &inside),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => root.remove(&inside),
                    Err(e) => Err(e),
                };
                match done {
                    Ok(()) => {}
                    // Gone between the event and the copy: the next event removes it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::Other(format!(
                            "syncing {} to {}:{inside}: {e}",
                            path.display(),
                            row.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// `initial_sync`: the files under the rule that differ in the container are copied,
    /// so changes made while it was stopped are there before watching starts.
    pub(super) fn initial_sync(&self, p: &Project<'_>, rule: &Rule) -> Result<usize> {
        let mut files = Vec::new();
        if std::fs::symlink_metadata(&rule.path).is_ok_and(|m| m.is_dir()) {
            walk(rule, &rule.path, &mut files)
                .map_err(|e| Error::Other(format!("{}: {e}", rule.path.display())))?;
        } else {
            files.push(rule.path.clone());
        }
        let mut stale = BTreeSet::new();
        for (row, pid) in self.running(p, &rule.service)? {
            let root = Root::open(pid).map_err(|e| Error::Other(format!("{}: {e}", row.name)))?;
            for f in &files {
                let Some(inside) = rule.container_path(f) else {
                    continue;
                };
                let same = std::fs::metadata(f).is_ok_and(|m| m.is_dir())
                    || root.same_content(f, &inside).unwrap_or(false);
                if !same {
                    stale.insert(f.clone());
                }
            }
        }
        let stale: Vec<PathBuf> = stale.into_iter().collect();
        if !stale.is_empty() {
            self.sync_rule(p, rule, &stale)?;
        }
        Ok(stale.len())
    }

    /// Runs a `sync+exec` rule's command in `row`, its output printed for the service.
    fn exec_rule(
        &self,
        p: &Project<'_>,
        rule: &Rule,
        row: &ContainerRow,
        out: &dyn WatchOutput,
    ) -> Result<()> {
        let hook = &rule.exec;
        let opts = ExecOptions {
            service: rule.service.clone(),
            index: row.number,
            command: hook.command.clone().unwrap_or_default(),
            env: hook
                .environment
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect(),
            user: (!hook.user.is_empty()).then(|| hook.user.clone()),
            workdir: (!hook.working_dir.is_empty()).then(|| hook.working_dir.clone()),
            privileged: hook.privileged,
            tty: false,
        };
        let io = |e: std::io::Error| Error::Other(format!("exec in {}: {e}", row.name));
        let process = self.exec_process(p, row, &opts)?;
        let null = std::fs::File::open("/dev/null").map_err(io)?;
        let (reader, writer) = std::io::pipe().map_err(io)?;
        let stdio = ExecStdio {
            stdin: Some(null.as_fd()),
            stdout: Some(writer.as_fd()),
            stderr: Some(writer.as_fd()),
            tty: false,
            console: None,
        };
        let child = self.spawn_exec(row, &process, stdio)?;
        drop(writer);
        for line in std::io::BufReader::new(reader).lines() {
            out.info(Some(&rule.service), &line.map_err(io)?);
        }
        let status = child.wait().map_err(Error::Runtime)?;
        if status.code != 0 {
            return Err(Error::Service {
                service: rule.service.clone(),
                message: format!(
                    "exec {:?} in {} exited with code {}",
                    opts.command.join(" "),
                    row.name,
                    status.code
                ),
            });
        }
        Ok(())
    }

    /// Builds the images of `services` (a shared build once), then recreates each service
    /// alone. A failed build changes nothing: the old containers keep running.
    fn rebuild(
        &self,
        p: &Project<'_>,
        services: &[String],
        opts: &WatchOptions,
        out: &dyn WatchOutput,
        progress: &dyn Progress,
    ) {
        let first = services.first().map(String::as_str);
        out.info(
            first,
            &format!("Rebuilding service(s) {services:?} after changes were detected..."),
        );
        let set: BTreeSet<String> = services.iter().cloned().collect();
        // The images the rebuild replaces: `--prune` removes them once nothing uses them.
        let replaced = self.service_manifests(p, services);
        if let Err(e) = self.build_for_up(p.name, p.model, &set, BuildPolicy::Always, progress) {
            out.error(first, &format!("Build failed. Error: {e}"));
            return;
        }
        out.info(
            first,
            &format!("service(s) {services:?} successfully built"),
        );
        for svc in services {
            if let Err(e) = self.recreate(p, svc, progress) {
                out.error(Some(svc), &format!("Error recreating service {svc:?}: {e}"));
            }
        }
        if opts.prune
            && let Err(e) = self.images.prune_manifests(&replaced)
        {
            out.error(first, &format!("pruning dangling images: {e}"));
        }
    }

    /// The manifest digests the services' images name now (those that have one).
    fn service_manifests(&self, p: &Project<'_>, services: &[String]) -> Vec<String> {
        services
            .iter()
            .filter_map(|svc| {
                let reference = crate::build::service_image(p.name, svc, p.service(svc).ok()?);
                let rec = self.images.get_image(&reference).ok()??;
                Some(rec.manifest_digest)
            })
            .collect()
    }

    /// Replaces the containers of `svc` with new ones on its (new) image; the services it
    /// depends on are left as they are.
    fn recreate(&self, p: &Project<'_>, svc: &str, progress: &dyn Progress) -> Result<()> {
        for (row, _) in self.containers(p.name)? {
            if row.service == svc {
                self.stop(&row, None, progress)?;
                self.remove(&row, false, progress)?;
            }
        }
        let opts = UpOptions {
            services: vec![svc.to_string()],
            build: BuildPolicy::Never,
            ..UpOptions::default()
        };
        self.up(p, &opts, progress).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose::model::service::Service;

    #[test]
    fn a_batch_is_split_by_service_and_rule() {
        let web: Service = serde_yaml_ng::from_str(
            "develop: {watch: [{path: ./src, action: sync, target: /app}, {path: ./src/package.json, action: restart}]}",
        )
        .unwrap();
        let api: Service = serde_yaml_ng::from_str(
            "develop: {watch: [{path: ./api, action: sync, target: /api, ignore: ['*.log']}]}",
        )
        .unwrap();
        let rules = super::super::rules::compile(
            &[("api".into(), &api), ("web".into(), &web)],
            Path::new("/p"),
        )
        .unwrap();
        let paths: Vec<PathBuf> = [
            "/p/src/a.js",
            "/p/src/package.json",
            "/p/api/x.py",
            "/p/api/x.log",
            "/p/elsewhere",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let h = hits(&rules, &paths);
        let shape: Vec<(&str, Vec<(&str, usize)>)> = h
            .iter()
            .map(|(s, rs)| {
                (
                    *s,
                    rs.iter()
                        .map(|(r, ps)| (super::super::rules::action_name(r.action), ps.len()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("api", vec![("sync", 1)]),
                ("web", vec![("sync", 2), ("restart", 1)]),
            ]
        );
    }

    #[test]
    fn walk_lists_covered_files_and_skips_ignored_dirs() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "a.txt",
            "node_modules/x/y.js",
            "sub/b.txt",
            "sub/.b.txt.swp",
        ] {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let svc: Service = serde_yaml_ng::from_str(&format!(
            "develop: {{watch: [{{path: {}, action: sync, target: /app, ignore: [node_modules]}}]}}",
            t.path().display()
        ))
        .unwrap();
        let rules = super::super::rules::compile(&[("web".into(), &svc)], Path::new("/")).unwrap();
        let mut found = Vec::new();
        walk(&rules[0], t.path(), &mut found).unwrap();
        let mut rel: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(t.path()).unwrap().display().to_string())
            .collect();
        rel.sort();
        assert_eq!(rel, vec!["a.txt", "sub", "sub/b.txt"]);
    }
}

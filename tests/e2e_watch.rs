//! `compose watch` end to end (as root): a real binary watching real files and acting on
//! real containers: sync (edits, ignores, deletions, initial_sync, a symlink trap in the
//! container), restart of one service only, a 1,000-file burst as one batch, sync+exec, and
//! rebuild recreating only its service (and a failed one changing nothing).

#![allow(clippy::unwrap_used)]

mod engine;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine::{LOOP, Stack};

/// A running `compose watch`; dropping it sends SIGINT and waits (SIGKILL after 20 s).
/// Declare it after its [`Stack`] so it stops before the stack's `down`.
struct Watching {
    child: Child,
    log: PathBuf,
}

impl Watching {
    /// `compose watch args...`.
    fn start(s: &Stack, args: &[&str], env: &[(&str, &str)]) -> Watching {
        let mut all = vec!["watch"];
        all.extend(args);
        Watching::command(s, &all, env)
    }

    /// `compose args...`, a command that watches (`watch`, `up --watch`).
    fn command(s: &Stack, args: &[&str], env: &[(&str, &str)]) -> Watching {
        let log = s.dir.path().join(format!("watch-{}.log", s.name));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(&s.bin);
        cmd.arg("--data-root")
            .arg(s.root())
            .args(["-p", &s.name])
            .args(args)
            .current_dir(s.proj())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", s.dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let w = Watching {
            child: cmd.spawn().unwrap(),
            log,
        };
        w.wait_output("watch to start", |o| o.contains("Watch enabled"));
        w
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the output for up to 60 s.
    fn wait_output(&self, what: &str, cond: impl Fn(&str) -> bool) {
        wait(what, || cond(&self.output()), || self.output());
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` for up to 60 s; `context` explains a timeout.
fn wait(what: &str, cond: impl Fn() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The content of `path` in the service's container, `None` when it cannot be read.
fn cat(s: &Stack, service: &str, path: &str) -> Option<String> {
    let out = s.compose(&["exec", "-T", service, "cat", path]);
    out.success().then_some(out.stdout)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Writes `path` as an editor does: a temp file beside it, renamed over it.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("new~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn sync_edits_ignores_deletes_and_stays_in_the_container() {
    let outside = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /app && ln -s {out} /app/escape && touch /app/ready; {LOOP}"]
    develop:
      watch:
        - {{path: ./src, action: sync, target: /app, ignore: ["*.tmp"]}}
        - {{path: ./seed, action: sync, target: /seed, initial_sync: true}}
"#,
        out = outside.path().display()
    );
    let s = Stack::new("watch-sync", &yaml);
    std::fs::create_dir_all(s.proj().join("src")).unwrap();
    write(&s.proj().join("seed/pre.txt"), "before watch\n");
    let w = Watching::start(&s, &[], &[]);
    let log = || w.output();
    // initial_sync brought what existed before watching into the container.
    wait(
        "initial sync",
        || cat(&s, "app", "/seed/pre.txt").as_deref() == Some("before watch\n"),
        log,
    );
    wait(
        "the container to be ready",
        || cat(&s, "app", "/app/ready").is_some(),
        log,
    );

    let src = s.proj().join("src");
    write(&src.join("hello.txt"), "v1\n");
    wait(
        "a new file",
        || cat(&s, "app", "/app/hello.txt").as_deref() == Some("v1\n"),
        log,
    );
    write(&src.join("hello.txt"), "v2\n");
    write(&src.join("deep/er/nested.txt"), "nested\n");
    wait(
        "an edit",
        || cat(&s, "app", "/app/hello.txt").as_deref() == Some("v2\n"),
        log,
    );
    wait(
        "new directories",
        || cat(&s, "app", "/app/deep/er/nested.txt").as_deref() == Some("nested\n"),
        log,
    );

    // Ignored: never copied, even once a later change has gone through.
    write(&src.join("skip.tmp"), "ignored\n");
    write(&src.join("marker1.txt"), "m\n");
    wait(
        "marker1",
        || cat(&s, "app", "/app/marker1.txt").is_some(),
        log,
    );
    assert_eq!(cat(&s, "app", "/app/skip.tmp"), None, "{}", log());

    // Deleted on the host, deleted in the container.
    std::fs::remove_file(src.join("hello.txt")).unwrap();
    wait(
        "a deletion",
        || cat(&s, "app", "/app/hello.txt").is_none(),
        log,
    );

    // /app/escape in the container points at a host path: it resolves inside the
    // container's root, so nothing may land in the host directory.
    write(&src.join("escape/pwned.txt"), "gotcha\n");
    write(&src.join("marker2.txt"), "m\n");
    wait(
        "marker2",
        || cat(&s, "app", "/app/marker2.txt").is_some(),
        log,
    );
    let leaked: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert!(leaked.is_empty(), "wrote outside the container: {leaked:?}");
}

#[test]
fn restart_restarts_only_its_service() {
    let yaml = format!(
        r#"
services:
  a:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    develop:
      watch:
        - {{path: ./conf, action: restart}}
  b:
    image: busybox
    command: ["sleep", "100000"]
"#
    );
    let s = Stack::new("watch-restart", &yaml);
    std::fs::create_dir_all(s.proj().join("conf")).unwrap();
    let w = Watching::start(&s, &[], &[]);
    let ids = |svc: &str| -> Vec<String> {
        let (out, _) = s.ok(&["ps", "-q", svc]);
        out.lines().map(String::from).collect()
    };
    let (a, b) = (ids("a"), ids("b"));
    let (a_pids, b_pids) = (s.pids(&a), s.pids(&b));
    assert!(!a_pids.is_empty() && !b_pids.is_empty());
    write(&s.proj().join("conf/app.ini"), "x=1\n");
    w.wait_output("the restart", |o| {
        o.contains(r#"a  ⦿ service(s) ["a"] restarted"#)
    });
    wait(
        "a's new processes",
        || {
            let now = s.pids(&a);
            !now.is_empty() && now.iter().all(|p| !a_pids.contains(p))
        },
        || w.output(),
    );
    // b runs one process that never forks: the same pid means it was not restarted.
    assert_eq!(s.pids(&b), b_pids, "b was not to be restarted");
    assert_eq!(ids("a"), a, "restart keeps the container");
}

#[test]
fn a_thousand_files_at_once_are_one_batch() {
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    develop:
      watch:
        - {{path: ./many, action: sync, target: /many}}
"#
    );
    let s = Stack::new("watch-many", &yaml);
    std::fs::create_dir_all(s.proj().join("many")).unwrap();
    // A quiet period generous enough for a loaded test machine writing 1,000 files.
    let w = Watching::start(&s, &[], &[("COMPOSE_WATCH_QUIET_MS", "1000")]);
    for i in 0..1000 {
        std::fs::write(s.proj().join(format!("many/f{i:04}.txt")), format!("{i}\n")).unwrap();
    }
    wait(
        "the last file",
        || cat(&s, "app", "/many/f0999.txt").as_deref() == Some("999\n"),
        || w.output(),
    );
    let out = w.output();
    let batches: Vec<&str> = out.lines().filter(|l| l.contains("Syncing")).collect();
    assert_eq!(
        batches,
        vec![r#"app  ⦿ Syncing service "app" after 1000 changes were detected"#],
        "{out}"
    );
    let (ls, _) = s.ok(&["exec", "-T", "app", "ls", "/many"]);
    assert_eq!(ls.lines().count(), 1000);
}

#[test]
fn sync_exec_runs_its_command() {
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    develop:
      watch:
        - path: ./src
          action: sync+exec
          target: /app
          exec:
            command: ["sh", "-c", "cat /app/in.txt > /app/out.txt; echo exec-said-$$GREETING"]
            environment: {{GREETING: hi}}
"#
    );
    let s = Stack::new("watch-exec", &yaml);
    std::fs::create_dir_all(s.proj().join("src")).unwrap();
    let w = Watching::start(&s, &[], &[]);
    write(&s.proj().join("src/in.txt"), "payload\n");
    wait(
        "the exec's file",
        || cat(&s, "app", "/app/out.txt").as_deref() == Some("payload\n"),
        || w.output(),
    );
    w.wait_output("the exec's output", |o| o.contains("app  ⦿ exec-said-hi"));
}

/// A project whose `web` is built from `Dockerfile` (a COPY of `version.txt`, holding
/// `version`) with a `rebuild` rule on that file; `command` runs in it; `extra` adds services.
fn rebuild_stack(tag: &str, command: &str, version: &str, extra: &str) -> Stack {
    let s = Stack::new(
        tag,
        &format!(
            r#"
services:
  web:
    build: .
    command: ["sh", "-c", "{command}"]
    develop:
      watch:
        - {{path: ./version.txt, action: rebuild}}
{extra}"#
        ),
    );
    write(&s.proj().join("version.txt"), version);
    write(
        &s.proj().join("Dockerfile"),
        "FROM busybox\nCOPY version.txt /version.txt\n",
    );
    s
}

#[test]
fn rebuild_recreates_only_its_service_and_a_failed_one_keeps_it() {
    let other =
        format!("  other:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n");
    let s = rebuild_stack("watch-rebuild", LOOP, "1\n", &other);
    let w = Watching::start(&s, &[], &[]);
    w.wait_output("the first build's steps", |o| {
        o.contains("COPY version.txt /version.txt")
    });
    let id = |svc: &str| s.ok(&["ps", "-q", svc]).0.trim().to_string();
    let (web, other) = (id("web"), id("other"));
    assert_eq!(cat(&s, "web", "/version.txt").as_deref(), Some("1\n"));
    let snapshots = || {
        let mut v: Vec<_> = std::fs::read_dir(s.root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let before = snapshots();

    // Saved as editors save: a new file renamed over the old one (twice: a watch on the
    // file itself would be gone after the first).
    save_by_rename(&s.proj().join("version.txt"), "2\n");
    w.wait_output("the build", |o| {
        o.contains(r#"service(s) ["web"] successfully built"#)
    });
    wait(
        "web recreated on the new image",
        || cat(&s, "web", "/version.txt").as_deref() == Some("2\n"),
        || w.output(),
    );
    let new_web = id("web");
    assert_ne!(new_web, web, "web is a new container");
    assert_eq!(id("other"), other, "other was not to be recreated");
    // `--prune` is the default: the replaced image's own layer went, busybox's stayed.
    let after = snapshots();
    assert_eq!(after.len(), before.len(), "{before:?} -> {after:?}");
    assert_eq!(
        before.iter().filter(|c| after.contains(c)).count(),
        before.len() - 1,
        "{before:?} -> {after:?}"
    );

    // A build that fails leaves the running container alone and says why.
    write(
        &s.proj().join("Dockerfile"),
        "FROM busybox\nRUN exit 3\nCOPY version.txt /version.txt\n",
    );
    save_by_rename(&s.proj().join("version.txt"), "3\n");
    w.wait_output("the failed build", |o| o.contains("Build failed. Error:"));
    assert_eq!(id("web"), new_web);
    assert_eq!(cat(&s, "web", "/version.txt").as_deref(), Some("2\n"));
}

#[test]
fn quiet_hides_the_build_steps() {
    let s = rebuild_stack("watch-quiet", LOOP, "1\n", "");
    let w = Watching::start(&s, &["--quiet"], &[]);
    w.wait_output("the watch", |o| o.contains("Watch enabled"));
    save_by_rename(&s.proj().join("version.txt"), "2\n");
    w.wait_output("the rebuild", |o| {
        o.contains(r#"service(s) ["web"] successfully built"#)
    });
    let out = w.output();
    assert!(!out.contains("COPY version.txt"), "{out}");
}

#[test]
fn up_watch_follows_the_containers_a_rebuild_makes() {
    let command = format!("echo running-$(cat /version.txt); {LOOP}");
    let s = rebuild_stack("watch-follow", &command, "one\n", "");
    let w = Watching::command(&s, &["up", "--watch"], &[]);
    w.wait_output("the first container's output", |o| {
        o.contains("running-one")
    });
    save_by_rename(&s.proj().join("version.txt"), "two\n");
    w.wait_output("the rebuilt container's output", |o| {
        o.contains("running-two")
    });
}

#[test]
fn up_watch_syncs_beside_the_attached_output_and_ctrl_c_stops_both() {
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo app-is-up; while :; do sleep 0.1; done"]
    develop:
      watch:
        - {path: ./src, action: sync, target: /app}
"#;
    let s = Stack::new("watch-up", yaml);
    std::fs::create_dir_all(s.proj().join("src")).unwrap();
    let mut w = Watching::command(&s, &["up", "--watch"], &[]);
    w.wait_output("the attached output", |o| o.contains("app-is-up"));
    write(&s.proj().join("src/a.txt"), "attached\n");
    wait(
        "the sync",
        || cat(&s, "app", "/app/a.txt").as_deref() == Some("attached\n"),
        || w.output(),
    );
    let _ = Command::new("kill")
        .args(["-INT", &w.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(w.child.try_wait(), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "up did not end\n{}", w.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = w.output();
    assert!(out.contains("Watch disabled"), "{out}");
    let (ps, _) = s.ok(&["ps", "-q"]);
    assert!(ps.trim().is_empty(), "Ctrl-C stops the stack: {ps}\n{out}");
}

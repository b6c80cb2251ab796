//! Restart policies and continuous health, applied by the project's supervisor, end to end
//! (as root): a crashing service restarts, `on-failure:2` gives up after two, `always`
//! restarts after exit 0, `no` never; what the user stopped stays stopped; health moves
//! starting → healthy → unhealthy with no `--wait`; `logs -f` follows across restarts;
//! `depends_on: restart: true`; a killed supervisor is re-adopted and `down` still cleans up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine;

use std::path::PathBuf;
use std::time::Duration;

use engine::{LOOP, Stack, alive, cgroup_dirs};

/// Lines of `logs --no-log-prefix SERVICE` equal to `text`.
fn count_lines(s: &Stack, service: &str, text: &str) -> usize {
    let (out, _) = s.ok(&["logs", "--no-log-prefix", service]);
    out.lines().filter(|l| l.trim() == text).count()
}

/// The `ps -a --format json` entry of `service`.
fn entry(s: &Stack, service: &str) -> serde_json::Value {
    s.ps_json()
        .into_iter()
        .find(|e| e["Service"] == service)
        .unwrap_or_else(|| panic!("no container of {service}"))
}

fn supervisor_pid(s: &Stack) -> Option<i32> {
    let p = s.root().join("supervisors").join(&s.name).join("pid");
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn kill9(pid: i32) {
    // Gone already is fine: a process of a crashing container may exit first.
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// SIGKILL to every process of `service`'s container, as a crash would.
fn crash(s: &Stack, service: &str) {
    let id = entry(s, service)["ID"].as_str().unwrap().to_string();
    for pid in s.pids(&[id]) {
        kill9(pid);
    }
}

#[test]
fn policies_restart_or_not_as_asked() {
    let s = Stack::new(
        "policies",
        r#"
services:
  limited:
    image: busybox
    restart: on-failure:2
    command: ["sh", "-c", "echo run; exit 3"]
  always:
    image: busybox
    restart: always
    command: ["sh", "-c", "echo tick; exit 0"]
  never:
    image: busybox
    restart: "no"
    command: ["sh", "-c", "echo once; exit 1"]
  clean:
    image: busybox
    deploy:
      restart_policy:
        condition: on-failure
    command: ["sh", "-c", "echo done; exit 0"]
"#,
    );
    s.ok(&["up", "-d"]);
    let ids_before: Vec<String> = {
        let mut v = s.ids();
        v.sort();
        v
    };
    // `always` comes back after a clean exit, again and again.
    s.wait_for("three runs of always", || {
        count_lines(&s, "always", "tick") >= 3
    });
    // `on-failure:2`: the first run and two restarts, then it stays exited.
    s.wait_for("three runs of limited", || {
        count_lines(&s, "limited", "run") == 3
    });
    s.wait_for("limited to stay exited", || {
        entry(&s, "limited")["State"] == "exited"
    });
    // Its next restart would come within 400 ms; give it well over that.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count_lines(&s, "limited", "run"), 3, "no third restart");
    assert_eq!(entry(&s, "limited")["ExitCode"], 3);
    assert_eq!(count_lines(&s, "never", "once"), 1, "restart: no");
    assert_eq!(entry(&s, "never")["State"], "exited");
    assert_eq!(
        count_lines(&s, "clean", "done"),
        1,
        "on-failure does not restart an exit 0"
    );
    let mut ids_after = s.ids();
    ids_after.sort();
    assert_eq!(ids_before, ids_after, "restarts keep the same containers");
    // The supervisor journals each exit (`die`, with its code) and each restart.
    let (journal, _) = s.ok(&[
        "events", "--json", "--since", "0", "--until", "0s", "limited",
    ]);
    let actions: Vec<(String, String)> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "die" || e["action"] == "restart")
        .map(|e| {
            let code = e["attributes"]["exitCode"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (e["action"].as_str().unwrap().to_string(), code)
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("die", "3"),
        ("restart", ""),
        ("die", "3"),
        ("restart", ""),
        ("die", "3"),
    ]
    .iter()
    .map(|(a, c)| (a.to_string(), c.to_string()))
    .collect();
    assert_eq!(actions, want, "{journal}");
    assert!(
        s.root()
            .join("supervisors")
            .join(&s.name)
            .join("pid")
            .exists(),
        "a project with no network has a supervisor too"
    );
}

#[test]
fn a_crash_restarts_in_place_but_a_user_stop_stays() {
    let s = Stack::new(
        "userstop",
        &format!(
            r#"
services:
  app:
    image: busybox
    restart: always
    command: ["sh", "-c", "echo up; {LOOP}"]
  peer:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
"#
        ),
    );
    s.ok(&["up", "-d"]);
    let id = entry(&s, "app")["ID"].as_str().unwrap().to_string();
    let (ip, _) = s.ok(&["exec", "-T", "app", "hostname", "-i"]);
    s.ok(&["exec", "-T", "app", "touch", "/kept"]);
    crash(&s, "app");
    s.wait_for("the crashed container back", || {
        count_lines(&s, "app", "up") == 2 && entry(&s, "app")["State"] == "running"
    });
    assert_eq!(entry(&s, "app")["ID"], id.as_str(), "same container");
    let (ip_after, _) = s.ok(&["exec", "-T", "app", "hostname", "-i"]);
    assert_eq!(ip, ip_after, "same address");
    s.ok(&["exec", "-T", "app", "test", "-f", "/kept"]);
    // Its name answers again from the peer once it is back.
    s.wait_for("its name resolving", || {
        s.compose(&["exec", "-T", "peer", "nslookup", "app"])
            .success()
    });

    s.ok(&["stop", "app"]);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(entry(&s, "app")["State"], "exited", "stop is not undone");
    assert_eq!(count_lines(&s, "app", "up"), 2);

    s.ok(&["start", "app"]);
    assert_eq!(entry(&s, "app")["State"], "running");
    s.ok(&["kill", "app"]);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(entry(&s, "app")["State"], "exited", "kill is not undone");

    // Started by the user again, the policy applies again.
    s.ok(&["start", "app"]);
    crash(&s, "app");
    s.wait_for("a restart after the user's start", || {
        count_lines(&s, "app", "up") == 5 && entry(&s, "app")["State"] == "running"
    });
}

#[test]
fn health_runs_without_wait_and_changes_over_time() {
    let s = Stack::new(
        "health",
        &format!(
            r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "touch /tmp/ok; {LOOP}"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      timeout: 2s
      retries: 2
"#
        ),
    );
    s.ok(&["up", "-d"]);
    assert_eq!(
        entry(&s, "db")["Health"],
        "starting",
        "no probe ran yet (the first comes after the interval)"
    );
    s.wait_for("healthy", || entry(&s, "db")["Health"] == "healthy");
    s.ok(&["exec", "-T", "db", "rm", "/tmp/ok"]);
    s.wait_for("unhealthy", || entry(&s, "db")["Health"] == "unhealthy");
    let (journal, _) = s.ok(&["events", "--since", "0", "--until", "0s"]);
    let healthy = journal.find("health_status: healthy");
    let unhealthy = journal.find("health_status: unhealthy");
    assert!(
        healthy.is_some() && unhealthy.is_some() && healthy < unhealthy,
        "{journal}"
    );
    let (table, _) = s.ok(&["ps"]);
    assert!(table.contains("(unhealthy)"), "{table}");
}

#[test]
fn logs_follow_across_restarts_until_the_policy_gives_up() {
    let s = Stack::new(
        "follow",
        r#"
services:
  flaky:
    image: busybox
    restart: on-failure:2
    command: ["sh", "-c", "echo run; sleep 1; exit 1"]
"#,
    );
    s.ok(&["up", "-d"]);
    let mut logs = s.spawn(&["logs", "-f", "--no-log-prefix", "flaky"]);
    logs.wait_line("the first run", |l| l.trim() == "run");
    let (code, lines) = logs.finish();
    assert_eq!(code, Some(0));
    let runs = lines.iter().filter(|l| l.trim() == "run").count();
    assert_eq!(runs, 3, "lines of every run, then the end: {lines:?}");
}

#[test]
fn restarting_a_dependency_restarts_dependents_that_ask() {
    let s = Stack::new(
        "deprestart",
        &format!(
            r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
  web:
    image: busybox
    command: ["sh", "-c", "echo web-start; {LOOP}"]
    depends_on:
      db: {{condition: service_started, restart: true}}
  side:
    image: busybox
    command: ["sh", "-c", "echo side-start; {LOOP}"]
    depends_on: [db]
"#
        ),
    );
    s.ok(&["up", "-d"]);
    s.ok(&["restart", "db"]);
    assert_eq!(count_lines(&s, "web", "web-start"), 2, "web restarted");
    assert_eq!(count_lines(&s, "side", "side-start"), 1, "side left alone");
    // `--no-deps`: the dependency alone.
    s.ok(&["restart", "--no-deps", "db"]);
    assert_eq!(count_lines(&s, "web", "web-start"), 2, "web left alone");
}

#[test]
fn a_killed_supervisor_is_readopted_and_down_leaves_nothing() {
    let s = Stack::new(
        "readopt",
        &format!(
            r#"
services:
  app:
    image: busybox
    restart: always
    command: ["sh", "-c", "echo up; {LOOP}"]
"#
        ),
    );
    s.ok(&["up", "-d"]);
    let first = supervisor_pid(&s).expect("a supervisor");
    kill9(first);
    s.wait_for("the supervisor gone", || !alive(first));
    // The next command starts one again, which takes over the running container.
    s.ok(&["start"]);
    let second = supervisor_pid(&s).expect("a new supervisor");
    assert_ne!(first, second);
    crash(&s, "app");
    s.wait_for("the re-adopted container restarted", || {
        count_lines(&s, "app", "up") == 2 && entry(&s, "app")["State"] == "running"
    });
    let id = entry(&s, "app")["ID"].as_str().unwrap().to_string();
    let pids = s.pids(std::slice::from_ref(&id));
    kill9(second);
    s.wait_for("the second supervisor gone", || !alive(second));
    s.ok(&["down", "-t", "1"]);
    let sup_dir: PathBuf = s.root().join("supervisors").join(&s.name);
    assert!(!sup_dir.exists(), "supervisor files left: {sup_dir:?}");
    assert!(cgroup_dirs(&id).is_empty(), "cgroup left");
    for p in pids {
        assert!(!alive(p), "process {p} left");
    }
    assert!(s.ids().is_empty());
}

//! Issue 6's missing commands and flags, end to end: `create`, `events` (journal replayed
//! and followed), `stats`, `run -p` / `--service-ports` / `--build` / profiled services,
//! `ps --status` and `--filter`, `logs --index`. The real binary, as root, real containers,
//! each test on its own data root with a unique project.

#![allow(clippy::unwrap_used)]

mod engine;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use engine::{LOOP, Stack};

fn svc(name: &str, command: &str) -> String {
    let command = command.replace('\\', "\\\\").replace('"', "\\\"");
    format!("  {name}:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{command}\"]\n")
}

fn yaml(services: &[String]) -> String {
    format!("services:\n{}", services.concat())
}

/// A port on 127.0.0.1 nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HTTP GET of `path` on 127.0.0.1:`port`, retried while the server comes up; the body.
fn http_get(s: &Stack, port: u16, path: &str) -> String {
    let body = std::cell::RefCell::new(None);
    s.wait_for("the published port to answer", || {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let req = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
        if c.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut text = String::new();
        if c.read_to_string(&mut text).is_err() || !text.contains("200 OK") {
            return false;
        }
        *body.borrow_mut() = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
        true
    });
    body.into_inner().unwrap()
}

/// The journal replayed: `events --json --since 0 --until 0s` (every event up to now).
fn events(s: &Stack, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["events", "--json", "--since", "0", "--until", "0s"];
    args.extend(extra);
    let (out, _) = s.ok(&args);
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event"))
        .collect()
}

fn actions_of(evs: &[serde_json::Value], name: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["attributes"]["name"] == name)
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// A child `compose` process killed and reaped when dropped.
struct Follower(Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn create_makes_containers_that_start_later() {
    let s = Stack::new("create", &yaml(&[svc("a", LOOP), svc("b", LOOP)]));
    let (_, err) = s.ok(&["create"]);
    assert!(err.contains("Created"), "{err}");
    let all = s.ps_json();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|c| c["State"] == "created"), "{all:?}");
    // Made, not started.
    let evs = events(&s, &[]);
    let acts: Vec<&str> = evs.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(acts, ["create", "create"], "{evs:?}");
    s.ok(&["start"]);
    let all = s.ps_json();
    assert!(all.iter().all(|c| c["State"] == "running"), "{all:?}");
    // Only the named service, and `--scale`.
    s.ok(&["create", "--scale", "a=2", "a"]);
    let all = s.ps_json();
    assert_eq!(
        all.iter().filter(|c| c["Service"] == "a").count(),
        2,
        "{all:?}"
    );
    let out = s.compose(&["create", "--scale", "nope=2"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("no such service: nope"),
        "{}",
        out.stderr
    );
}

#[test]
fn events_record_the_lifecycle_in_order() {
    let s = Stack::new("events", &yaml(&[svc("web", LOOP), svc("other", LOOP)]));
    s.ok(&["up", "-d"]);
    s.ok(&["pause", "web"]);
    s.ok(&["unpause", "web"]);
    s.ok(&["kill", "-s", "USR1", "other"]);
    s.ok(&["stop", "-t", "5"]);
    s.ok(&["rm", "-f"]);
    let name = format!("{}-web-1", s.name);
    let all = events(&s, &[]);
    assert_eq!(
        actions_of(&all, &name),
        [
            "create", "start", "pause", "unpause", "kill", "die", "stop", "destroy"
        ],
        "{all:?}"
    );
    let first = all.iter().find(|e| e["service"] == "web").unwrap();
    assert_eq!(first["action"], "create");
    assert_eq!(first["type"], "container");
    assert_eq!(first["attributes"]["image"], "busybox");
    assert_eq!(first["attributes"]["com.docker.compose.project"], s.name);
    assert_eq!(first["id"].as_str().unwrap().len(), 64);
    let kill = all
        .iter()
        .find(|e| e["service"] == "other" && e["action"] == "kill")
        .unwrap();
    assert_eq!(kill["attributes"]["signal"], "10", "{kill}");
    // A service filter, and Docker's text form.
    let only = events(&s, &["other"]);
    assert!(!only.is_empty() && only.iter().all(|e| e["service"] == "other"));
    let (text, _) = s.ok(&["events", "--since", "0", "--until", "0s", "web"]);
    let mut text_lines = text.lines();
    let line = text_lines.next().unwrap();
    // An empty line after each, as Docker Compose prints them.
    assert_eq!(text_lines.next(), Some(""), "{text}");
    let id = first["id"].as_str().unwrap();
    assert!(
        line.contains(&format!(" container create {id} (")),
        "{line}"
    );
    assert!(line.contains(&format!("name={name}")), "{line}");
    // `YYYY-MM-DD HH:MM:SS.ffffff` first.
    assert_eq!(line.as_bytes()[10], b' ', "{line}");
    assert_eq!(line.as_bytes()[19], b'.', "{line}");
}

#[test]
fn events_follow_what_happens_next() {
    let s = Stack::new("evfollow", &yaml(&[svc("web", LOOP)]));
    s.ok(&["up", "-d"]);
    let child = Command::new(&s.bin)
        .args(["--data-root", &s.root().display().to_string()])
        .args(["-p", &s.name, "events", "--json"])
        .current_dir(s.proj())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut f = Follower(child);
    let mut lines = BufReader::new(f.0.stdout.take().unwrap()).lines();
    // The follower starts at the journal's end: restart until it reports one (it may
    // not have opened the journal before the first).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.by_ref().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // A whole restart seen: stop, then start, then restart (the follower may have come in
    // halfway through an earlier one).
    let whole = |actions: &[String]| {
        let stop = actions.iter().position(|a| a == "stop");
        let start = stop.and_then(|i| {
            actions[i..]
                .iter()
                .position(|a| a == "start")
                .map(|j| i + j)
        });
        start.is_some_and(|i| actions[i..].iter().any(|a| a == "restart"))
    };
    let mut actions: Vec<String> = Vec::new();
    for _ in 0..20 {
        s.ok(&["restart", "-t", "1"]);
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            let e = serde_json::from_str::<serde_json::Value>(&l).unwrap();
            actions.push(e["action"].as_str().unwrap_or_default().to_string());
        }
        if whole(&actions) {
            break;
        }
    }
    assert!(whole(&actions), "{actions:?}");
}

#[test]
fn stats_no_stream_json_has_a_row_per_running_container() {
    let s = Stack::new(
        "stats",
        &yaml(&[svc("a", LOOP), svc("b", LOOP), svc("done", "true")]),
    );
    s.ok(&["up", "-d", "--scale", "a=2"]);
    s.wait_for("done to exit", || {
        s.ps_json()
            .iter()
            .any(|c| c["Service"] == "done" && c["State"] == "exited")
    });
    let (out, _) = s.ok(&["stats", "--no-stream", "--format", "json"]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut names: Vec<&str> = rows.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let want = [
        format!("{}-a-1", s.name),
        format!("{}-a-2", s.name),
        format!("{}-b-1", s.name),
    ];
    assert_eq!(names, want, "{out}");
    for r in &rows {
        let mem = r["MemUsage"].as_str().unwrap();
        assert!(!mem.starts_with("0B "), "memory in use: {r}");
        let pids: u64 = r["PIDs"].as_str().unwrap().parse().unwrap();
        assert!(pids >= 1, "{r}");
        assert!(r["CPUPerc"].as_str().unwrap().ends_with('%'), "{r}");
        assert_eq!(r["ID"].as_str().unwrap().len(), 12, "{r}");
    }
    // A service, the table, full ids, and `-a` showing the exited one.
    let (table, _) = s.ok(&["stats", "--no-stream", "--no-trunc", "b"]);
    let mut lines = table.lines();
    let head: Vec<&str> = lines.next().unwrap().split("   ").map(str::trim).collect();
    let head: Vec<&str> = head.into_iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(
        head,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{table}"
    );
    let row = lines.next().unwrap();
    assert_eq!(row.split_whitespace().next().unwrap().len(), 64, "{table}");
    assert!(lines.next().is_none(), "{table}");
    let (all, _) = s.ok(&["stats", "--no-stream", "-a", "--format", "json"]);
    assert_eq!(all.lines().count(), 4, "{all}");
}

#[test]
fn run_publishes_ports_with_p_and_service_ports() {
    let (p1, p2) = (free_port(), free_port());
    let web = format!(
        "  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n    ports: [\"127.0.0.1:{p2}:80\"]\n"
    );
    let s = Stack::new("runport", &format!("services:\n{web}"));
    let serve = "mkdir -p /www && echo one-off > /www/index.html && exec httpd -f -p 80 -h /www";
    let (name, _) = s.ok(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{p1}:80"),
        "web",
        "sh",
        "-c",
        serve,
    ]);
    assert!(name.trim().starts_with(&format!("{}-web-run-", s.name)));
    assert_eq!(http_get(&s, p1, "/").trim(), "one-off");
    // The service's own port is not published by a plain run.
    assert!(TcpStream::connect(("127.0.0.1", p2)).is_err());
    s.ok(&["run", "-d", "--service-ports", "web", "sh", "-c", serve]);
    assert_eq!(http_get(&s, p2, "/").trim(), "one-off");
    let out = s.compose(&["run", "--publish", "nope", "web", "true"]);
    assert!(!out.success());
    assert!(out.stderr.contains("--publish"), "{}", out.stderr);
}

#[test]
fn run_of_a_profiled_service_needs_no_profile_flag() {
    let yaml = format!(
        "services:\n{}  tool:\n    image: busybox\n    profiles: [tools]\n    command: [\"sh\", \"-c\", \"echo tool ran; exit 4\"]\n",
        svc("app", LOOP)
    );
    let s = Stack::new("runprof", &yaml);
    let out = s.compose(&["run", "--rm", "tool"]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stdout.contains("tool ran"), "{}", out.stdout);
    // `up` still leaves it out.
    s.ok(&["up", "-d"]);
    let all = s.ps_json();
    assert!(all.iter().all(|c| c["Service"] == "app"), "{all:?}");
}

#[test]
fn run_build_builds_the_image_first() {
    let yaml = "services:\n  app:\n    build: ./app\n    command: [\"cat\", \"/stamp\"]\n";
    let s = Stack::new("runbuild", yaml);
    let app = s.proj().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox\nRUN echo first > /stamp\n",
    )
    .unwrap();
    let (out, _) = s.ok(&["run", "--rm", "app"]);
    assert_eq!(out.trim(), "first");
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox\nRUN echo second > /stamp\n",
    )
    .unwrap();
    // Without --build the image stays; with it, it is built again.
    let (out, _) = s.ok(&["run", "--rm", "app"]);
    assert_eq!(out.trim(), "first");
    let (out, _) = s.ok(&["run", "--rm", "--build", "app"]);
    assert_eq!(out.trim(), "second");
}

#[test]
fn ps_status_and_filter_pick_states() {
    let s = Stack::new("psstatus", &yaml(&[svc("a", LOOP), svc("b", "true")]));
    s.ok(&["up", "-d"]);
    s.wait_for("b to exit", || {
        s.ps_json()
            .iter()
            .any(|c| c["Service"] == "b" && c["State"] == "exited")
    });
    let services = |args: &[&str]| {
        let mut all = vec!["ps", "--format", "json"];
        all.extend(args);
        let (out, _) = s.ok(&all);
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["Service"].as_str().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(services(&["--status", "running"]), ["a"]);
    // A status filter sees stopped containers without -a.
    assert_eq!(services(&["--status", "exited"]), ["b"]);
    assert_eq!(services(&["--filter", "status=exited"]), ["b"]);
    let mut both = services(&["--status", "exited", "--status", "running"]);
    both.sort();
    assert_eq!(both, ["a", "b"]);
    assert!(services(&["--status", "paused"]).is_empty());
    for bad in [["--status", "sleeping"], ["--filter", "name=a"]] {
        let out = s.compose(&["ps", bad[0], bad[1]]);
        assert!(!out.success(), "{bad:?}");
        assert!(out.stderr.contains("invalid"), "{}", out.stderr);
    }
}

#[test]
fn logs_index_shows_one_replica() {
    let s = Stack::new(
        "logsindex",
        &format!(
            "services:\n  w:\n    image: busybox\n    scale: 2\n    command: [\"sh\", \"-c\", \"hostname; {LOOP}\"]\n"
        ),
    );
    s.ok(&["up", "-d"]);
    let all = s.ps_json();
    let second = all
        .iter()
        .find(|c| c["Name"] == format!("{}-w-2", s.name))
        .unwrap();
    let id = second["ID"].as_str().unwrap()[..12].to_string();
    s.wait_for("both to log", || {
        s.ok(&["logs", "--no-log-prefix"]).0.lines().count() == 2
    });
    let (out, _) = s.ok(&["logs", "--no-log-prefix", "--index", "2", "w"]);
    assert_eq!(out.trim(), id);
    let out = s.compose(&["logs", "--index", "3", "w"]);
    assert!(!out.success());
    assert!(out.stderr.contains("index 3"), "{}", out.stderr);
}

#[test]
fn down_rmi_local_removes_built_images_only() {
    let yaml = format!(
        "services:\n  app:\n    build: ./app\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n{}",
        svc("base", LOOP)
    );
    let s = Stack::new("downrmi", &yaml);
    let app = s.proj().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Dockerfile"), "FROM busybox\nRUN touch /built\n").unwrap();
    s.ok(&["up", "-d"]);
    let repos = || {
        let (out, _) = s.ok(&["image", "ls"]);
        out.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect::<Vec<_>>()
    };
    let built = format!("{}-app", s.name);
    assert!(repos().contains(&built), "{:?}", repos());
    let (_, err) = s.ok(&["down", "-t", "1", "--rmi", "local"]);
    assert!(err.contains(&format!("Image {built}")), "{err}");
    let left = repos();
    assert!(!left.contains(&built), "{left:?}");
    assert!(left.contains(&"busybox".to_string()), "{left:?}");
    let out = s.compose(&["down", "--rmi", "some"]);
    assert!(!out.success());
}

#[test]
fn progress_json_prints_one_object_per_event() {
    let s = Stack::new("progjson", &yaml(&[svc("a", LOOP)]));
    let (_, err) = s.ok(&["--progress", "json", "up", "-d"]);
    let events: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = format!("Container {}-a-1", s.name);
    assert!(
        events
            .iter()
            .any(|e| e["id"] == id && e["text"] == "Started"),
        "{err}"
    );
    let (_, err) = s.ok(&["--progress", "quiet", "stop"]);
    assert!(!err.contains("Stopped"), "{err}");
}

#[test]
fn stats_streams_frames_until_stopped() {
    let s = Stack::new("statstream", &yaml(&[svc("a", LOOP)]));
    s.ok(&["up", "-d"]);
    let child = Command::new(&s.bin)
        .args(["--data-root", &s.root().display().to_string()])
        .args(["-p", &s.name, "stats", "--format", "json"])
        .current_dir(s.proj())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut f = Follower(child);
    let mut lines = BufReader::new(f.0.stdout.take().unwrap()).lines();
    let name = format!("{}-a-1", s.name);
    // Two frames of one row each: it keeps going.
    for _ in 0..2 {
        let l = lines.next().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["Name"], name, "{l}");
    }
    assert!(f.0.try_wait().unwrap().is_none(), "stats ended by itself");
}

#[test]
fn run_labels_and_capabilities() {
    let s = Stack::new("runcaps", &yaml(&[svc("a", LOOP)]));
    let (out, _) = s.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "-l",
        "team=qa",
        "a",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        out.split_whitespace().nth(1),
        Some("0000000000000000"),
        "{out}"
    );
    let evs = events(&s, &[]);
    let create = evs
        .iter()
        .find(|e| e["action"] == "create" && e["service"] == "a")
        .unwrap();
    assert_eq!(create["attributes"]["team"], "qa", "{create}");
    assert_eq!(create["attributes"]["com.docker.compose.oneoff"], "True");
    let out = s.compose(&["run", "--pull", "sometimes", "a", "true"]);
    assert!(!out.success());
    assert!(out.stderr.contains("--pull"), "{}", out.stderr);
}

#[test]
fn up_no_deps_ps_orphans_ls_filter_and_run_env_from_file() {
    let yaml = format!(
        "services:\n{}  app:\n    image: busybox\n    depends_on: [db]\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n",
        svc("db", LOOP)
    );
    let s = Stack::new("nodeps", &yaml);
    s.ok(&["up", "-d", "--no-deps", "app"]);
    let all = s.ps_json();
    let services: Vec<&str> = all.iter().filter_map(|c| c["Service"].as_str()).collect();
    assert_eq!(services, ["app"], "{all:?}");
    // `exec` spells it --no-tty (run spells it --no-TTY); both are taken.
    let (out, _) = s.ok(&["exec", "--no-tty", "app", "echo", "ok"]);
    assert_eq!(out.trim(), "ok");
    // An orphan: `app` is gone from the file.
    s.write(&yaml_of_db_only());
    let count = |orphans: &str| {
        let (out, _) = s.ok(&["ps", "-q", "--orphans", orphans]);
        out.lines().count()
    };
    assert_eq!(count("true"), 1);
    assert_eq!(count("false"), 0);
    // ls --filter name=.
    let (out, _) = s.ok(&["ls", "-q", "--filter", &format!("name={}", s.name)]);
    assert_eq!(out.trim(), s.name);
    let (out, _) = s.ok(&["ls", "-q", "--filter", "name=no-such-project-here"]);
    assert!(out.trim().is_empty(), "{out}");
    assert!(!s.compose(&["ls", "--filter", "status=up"]).success());
    // run --env-from-file, with -e winning.
    let env = s.dir.path().join("run.env");
    std::fs::write(&env, "# vars\nA=from-file\nB=\"quoted b\"\n").unwrap();
    let env = env.display().to_string();
    let (out, _) = s.ok(&[
        "run",
        "--rm",
        "-q",
        "--env-from-file",
        &env,
        "-e",
        "A=from-flag",
        "db",
        "sh",
        "-c",
        "echo $A/$B",
    ]);
    assert_eq!(out.trim(), "from-flag/quoted b");
}

fn yaml_of_db_only() -> String {
    yaml(&[svc("db", LOOP)])
}

#[test]
fn down_dry_run_says_what_it_would_remove_and_removes_nothing() {
    let s = Stack::new("downdry", &yaml(&[svc("a", LOOP)]));
    s.ok(&["up", "-d"]);
    let (_, err) = s.ok(&["--dry-run", "down", "-v"]);
    let name = format!("{}-a-1", s.name);
    assert!(
        err.contains(&format!(" DRY-RUN MODE -  Container {name}  Removed")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            " DRY-RUN MODE -  Network {}_default  Removed",
            s.name
        )),
        "{err}"
    );
    let all = s.ps_json();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["State"], "running");
}

#[test]
fn verbose_traces_and_parallel_bounds_without_changing_the_result() {
    let s = Stack::new(
        "verbose",
        &yaml(&[svc("a", LOOP), svc("b", LOOP), svc("c", LOOP)]),
    );
    // A fresh data root: the state database is made, which is traced at info level.
    let ps = |fresh: &str, verbose: bool| {
        let mut cmd = Command::new(&s.bin);
        cmd.arg("--data-root").arg(s.dir.path().join(fresh));
        if verbose {
            cmd.arg("--verbose");
        }
        let out = cmd
            .args(["-p", &s.name, "ps"])
            .current_dir(s.proj())
            .output();
        let out = out.unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = ps("fresh-verbose", true);
    assert!(err.contains("migrating state database"), "{err}");
    let err = ps("fresh-quiet", false);
    assert!(
        !err.contains("migrating"),
        "no tracing without --verbose: {err}"
    );
    // One at a time: every service still comes up.
    s.ok(&["--parallel", "1", "up", "-d"]);
    let (out, _) = s.ok(&["ps", "--services", "--status", "running"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let bad = s.compose(&["--parallel", "x", "ps"]);
    assert!(!bad.success());
}

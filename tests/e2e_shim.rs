//! The engine on the runtime's shim, end to end: exit codes known after the command that
//! started a container is gone, CRI logs with times, followed across restarts, fast and
//! correct stops, exec, run, attached `up`'s abort flags, init, pause, restart keeping the
//! writable layer. The real binary, as root, each test on its own data root.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack};

fn svc(name: &str, command: &str) -> String {
    let command = command.replace('\\', "\\\\").replace('"', "\\\"");
    format!("  {name}:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{command}\"]\n")
}

fn yaml(services: &[String]) -> String {
    format!("services:\n{}", services.concat())
}

fn find<'a>(all: &'a [serde_json::Value], service: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|c| c["Service"] == service)
        .unwrap_or_else(|| panic!("no {service} in {all:?}"))
}

#[test]
fn exit_codes_show_in_ps_after_up_d_returned() {
    let s = Stack::new(
        "exitcode",
        &yaml(&[svc("job", "exit 3"), svc("ok", "true")]),
    );
    s.ok(&["up", "-d"]);
    s.wait_for("both exited", || {
        s.ps_json().iter().all(|c| c["State"] == "exited")
    });
    let all = s.ps_json();
    let job = find(&all, "job");
    assert_eq!(job["ExitCode"], 3, "{job}");
    let status = job["Status"].as_str().unwrap();
    assert!(
        status.starts_with("Exited (3) ") && status.ends_with(" ago"),
        "{status}"
    );
    assert_eq!(find(&all, "ok")["ExitCode"], 0);
    let (table, _) = s.ok(&["ps", "-a"]);
    assert!(table.contains("Exited (3)"), "{table}");
    assert!(!table.contains("(?)"), "{table}");
}

#[test]
fn logs_carry_times_and_filter_by_them() {
    let s = Stack::new(
        "times",
        &yaml(&[svc("job", "echo a; sleep 1.2; echo b >&2")]),
    );
    s.ok(&["up", "-d"]);
    s.wait_for("b", || {
        s.ok(&["logs", "--no-log-prefix", "job"]).0 == "a\nb\n"
    });
    let (ts, _) = s.ok(&["logs", "-t", "--no-log-prefix", "job"]);
    let lines: Vec<(&str, &str)> = ts.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(
        lines.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        ["a", "b"],
        "{ts}"
    );
    for (t, _) in &lines {
        assert!(
            t.len() == 30 && t.ends_with('Z') && &t[10..11] == "T",
            "{ts}"
        );
    }
    let tb = lines[1].0;
    let (since, _) = s.ok(&["logs", "--no-log-prefix", "--since", tb, "job"]);
    assert_eq!(since, "b\n");
    let (until, _) = s.ok(&["logs", "--no-log-prefix", "--until", tb, "job"]);
    assert_eq!(until, "a\n");
    let (recent, _) = s.ok(&["logs", "--no-log-prefix", "--since", "1h", "job"]);
    assert_eq!(recent, "a\nb\n");
    let (tail, _) = s.ok(&["logs", "--no-log-prefix", "-n", "1", "job"]);
    assert_eq!(tail, "b\n");
    let bad = s.compose(&["logs", "--since", "yesterday-ish"]);
    assert!(
        !bad.success() && bad.stderr.contains("--since"),
        "{}",
        bad.stderr
    );
}

#[test]
fn logs_follow_goes_on_across_a_restart() {
    let s = Stack::new(
        "restartf",
        &yaml(&[svc("app", &format!("echo hello; {LOOP}"))]),
    );
    s.ok(&["up", "-d"]);
    let mut follow = s.spawn(&["logs", "-f", "--no-log-prefix"]);
    follow.wait_line("first hello", |l| l == "hello");
    s.ok(&["restart", "-t", "5"]);
    follow.wait_line("second hello", |l| l == "hello");
    s.ok(&["stop"]);
    let (code, lines) = follow.finish();
    assert_eq!(code, Some(0));
    assert_eq!(lines, ["hello", "hello"]);
}

#[test]
fn stop_kills_a_pid_1_without_handler_at_once_and_terms_one_with_a_trap() {
    let sleeper =
        "  sleeper:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n".to_string();
    let trapper = svc(
        "trapper",
        "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    );
    let s = Stack::new("faststop", &yaml(&[sleeper, trapper]));
    s.ok(&["up", "-d"]);
    s.wait_for("the trap", || {
        s.ok(&["logs", "trapper"]).0.contains("ready")
    });
    // The default grace period (10 s) is left as it is: the sleeper's PID 1 has no TERM
    // handler, so the kernel would drop TERM; it gets SIGKILL instead of a wait.
    s.ok(&["stop"]);
    let all = s.ps_json();
    assert_eq!(find(&all, "sleeper")["ExitCode"], 137, "SIGKILL: {all:?}");
    assert_eq!(
        find(&all, "trapper")["ExitCode"],
        0,
        "its trap ran: {all:?}"
    );
    let (log, _) = s.ok(&["logs", "--no-log-prefix", "trapper"]);
    assert!(log.contains("got TERM"), "{log}");
    let ids = s.ids();
    assert!(s.pids(&ids).is_empty(), "no process left");
    s.ok(&["down"]);
    assert!(s.ids().is_empty());
}

#[test]
fn exec_runs_in_the_container_with_flags_and_returns_the_code() {
    let app = format!(
        "  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n    environment: {{FROM_SVC: hello}}\n    working_dir: /etc\n"
    );
    let s = Stack::new("exec", &yaml(&[app]));
    s.ok(&["up", "-d"]);
    let out = s.compose(&["exec", "-T", "app", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    let (o, _) = s.ok(&[
        "exec",
        "-T",
        "app",
        "sh",
        "-c",
        "echo $FROM_SVC $(pwd) $(id -u)",
    ]);
    assert_eq!(o, "hello /etc 0\n");
    let (o, _) = s.ok(&[
        "exec",
        "-T",
        "-e",
        "FOO=bar",
        "-u",
        "1000:1000",
        "-w",
        "/tmp",
        "app",
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u):$(id -g)",
    ]);
    assert_eq!(o, "bar /tmp 1000:1000\n");
    // -d: returns at once; the process runs on in the container.
    s.ok(&["exec", "-d", "app", "sh", "-c", "echo detached > /tmp/d"]);
    s.wait_for("the detached exec", || {
        s.compose(&["exec", "-T", "app", "cat", "/tmp/d"]).stdout == "detached\n"
    });
    let missing = s.compose(&["exec", "-T", "app", "/no/such/binary"]);
    assert!(!missing.success(), "{}", missing.stderr);
    s.ok(&["stop", "-t", "1"]);
    let stopped = s.compose(&["exec", "-T", "app", "true"]);
    assert!(
        !stopped.success() && stopped.stderr.contains("not running"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn exit_code_from_gives_that_service_s_code_when_another_aborts() {
    let main = svc(
        "main",
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    );
    // The quitter waits for main's trap to be in place (main is its dependency).
    let quitter = "  quitter:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 1; exit 3\"]\n    depends_on: [main]\n".to_string();
    let s = Stack::new("exitfrom", &yaml(&[main, quitter]));
    let out = s.compose(&["up", "--exit-code-from", "main", "--no-color"]);
    assert_eq!(out.code, Some(42), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("quitter-1 exited with code 3"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Aborting on container exit..."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("main-1 exited with code 42"),
        "{}",
        out.stdout
    );
    // --abort-on-container-exit alone: the code of the container that ended it.
    s.ok(&["rm", "-f"]);
    let out = s.compose(&["up", "--abort-on-container-exit"]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    let all = s.ps_json();
    assert!(all.iter().all(|c| c["State"] == "exited"), "{all:?}");
}

#[test]
fn attach_and_no_attach_choose_whose_output_streams() {
    let s = Stack::new(
        "attach",
        &yaml(&[
            svc("loud", "echo from loud"),
            svc("quiet", "echo from quiet"),
        ]),
    );
    let out = s.compose(&["up", "--no-attach", "quiet", "--no-color", "--timestamps"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("from loud"), "{}", out.stdout);
    assert!(!out.stdout.contains("from quiet"), "{}", out.stdout);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("from loud"))
        .unwrap();
    assert!(
        line.contains("Z from loud"),
        "a timestamp before the text: {line}"
    );
    let out = s.compose(&["up", "--attach", "quiet", "--no-log-prefix"]);
    assert!(
        out.stdout.lines().any(|l| l == "from quiet"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("from loud"), "{}", out.stdout);
}

#[test]
fn init_true_reaps_orphaned_zombies() {
    // The orphan's parent dies; it is re-parented to PID 1 and exits: a zombie unless PID 1
    // reaps. `exec sleep` makes PID 1 a process that never waits (without init).
    let cmd = "sh -c 'sleep 0.2 &'; exec sleep 1000";
    let reaped = format!(
        "  reaped:\n    image: busybox\n    init: true\n    command: [\"sh\", \"-c\", \"{cmd}\"]\n"
    );
    let leaky = format!("  leaky:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{cmd}\"]\n");
    let s = Stack::new("init", &yaml(&[reaped, leaky]));
    s.ok(&["up", "-d"]);
    let zombies = |service: &str| {
        let out = s.compose(&["exec", "-T", service, "sh", "-c", "cat /proc/[0-9]*/stat"]);
        out.stdout.lines().filter(|l| l.contains(") Z ")).count()
    };
    s.wait_for("the leaky container's zombie", || zombies("leaky") == 1);
    assert_eq!(zombies("reaped"), 0);
    let (ps1, _) = s.ok(&["exec", "-T", "reaped", "cat", "/proc/1/cmdline"]);
    assert!(!ps1.starts_with("sleep"), "PID 1 is the reaper: {ps1:?}");
    // The reaper forwards the stop signal; sleep has no handler but is not PID 1 there.
    s.ok(&["stop", "-t", "5", "reaped"]);
    let all = s.ps_json();
    assert_eq!(find(&all, "reaped")["ExitCode"], 143, "{all:?}");
}

#[test]
fn pause_and_unpause_show_in_ps() {
    let s = Stack::new("pause", &yaml(&[svc("app", LOOP)]));
    s.ok(&["up", "-d"]);
    let (_, err) = s.ok(&["pause"]);
    assert!(err.contains("Paused"), "{err}");
    let all = s.ps_json();
    let app = find(&all, "app");
    assert_eq!(app["State"], "paused", "{app}");
    assert!(
        app["Status"].as_str().unwrap().ends_with("(Paused)"),
        "{app}"
    );
    let exec = s.compose(&["exec", "-T", "app", "true"]);
    assert!(
        !exec.success() && exec.stderr.contains("is paused"),
        "{}",
        exec.stderr
    );
    s.ok(&["unpause"]);
    assert_eq!(find(&s.ps_json(), "app")["State"], "running");
    s.ok(&["exec", "-T", "app", "true"]);
    // A paused container still stops (thawed first).
    s.ok(&["pause"]);
    s.ok(&["stop", "-t", "5"]);
    assert_eq!(find(&s.ps_json(), "app")["ExitCode"], 0);
}

#[test]
fn a_restarted_container_keeps_its_writable_layer() {
    let s = Stack::new(
        "rwlayer",
        &yaml(&[svc(
            "app",
            &format!("echo x >> /count; wc -l < /count; {LOOP}"),
        )]),
    );
    s.ok(&["up", "-d"]);
    s.wait_for("1", || s.ok(&["logs", "--no-log-prefix"]).0 == "1\n");
    s.ok(&["stop", "-t", "5"]);
    s.ok(&["start"]);
    s.wait_for("2", || s.ok(&["logs", "--no-log-prefix"]).0 == "1\n2\n");
    s.ok(&["restart", "-t", "5"]);
    s.wait_for("3", || s.ok(&["logs", "--no-log-prefix"]).0 == "1\n2\n3\n");
    // A recreate starts from the image again.
    s.ok(&["up", "-d", "--force-recreate", "-t", "5"]);
    s.wait_for("a fresh 1", || {
        s.ok(&["logs", "--no-log-prefix"]).0 == "1\n"
    });
    s.ok(&["down", "-t", "1"]);
    assert!(
        engine::entries(&s.root().join("rw")).is_empty(),
        "down removes the writable layers"
    );
}

#[test]
fn wait_returns_the_first_exit_code() {
    let s = Stack::new(
        "wait",
        &yaml(&[svc("job", "sleep 0.5; exit 4"), svc("app", LOOP)]),
    );
    s.ok(&["up", "-d"]);
    let out = s.compose(&["wait", "job"]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
}

#[test]
fn run_gives_the_command_s_exit_code_and_rm_leaves_nothing() {
    let db = svc("db", &format!("echo db up; {LOOP}"));
    let app = "  app:\n    image: busybox\n    command: [\"echo\", \"from the service\"]\n    depends_on: [db]\n".to_string();
    let s = Stack::new("run", &yaml(&[db, app]));
    let out = s.compose(&["run", "--rm", "app", "sh", "-c", "echo hi; exit 5"]);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert_eq!(out.stdout, "hi\n");
    // The dependency was started and stays; the one-off container is gone.
    let all = s.ps_json();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(find(&all, "db")["State"], "running");
    let rw = engine::entries(&s.root().join("rw"));
    assert_eq!(rw.len(), 1, "only db's writable layer is left: {rw:?}");

    let (o, _) = s.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "app",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
    ]);
    assert_eq!(o, "1 /tmp 1000\n");
    let (o, _) = s.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "app",
        "via",
        "entrypoint",
    ]);
    assert_eq!(o, "via entrypoint\n");
    let (o, _) = s.ok(&[
        "run",
        "--rm",
        "-v",
        "./data:/data",
        "app",
        "sh",
        "-c",
        "echo w > /data/f",
    ]);
    assert_eq!(o, "");
    assert_eq!(
        std::fs::read_to_string(s.proj().join("data/f")).unwrap(),
        "w\n"
    );

    // Without --rm: the container stays, named <project>-<service>-run-<hex>, one-off.
    let out = s.compose(&["run", "app", "sh", "-c", "exit 2"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let (ids, _) = s.ok(&["ps", "-a", "-q"]);
    assert_eq!(ids.lines().count(), 1, "ps lists no one-off container");
    let dirs = engine::container_dirs(&s.root());
    assert_eq!(dirs.len(), 2, "db's and the kept one-off's: {dirs:?}");
    // -d: the name is printed; it runs under a shim, its exit recorded.
    let (name, _) = s.ok(&["run", "-d", "app", "sh", "-c", "exit 6"]);
    let name = name.trim();
    let prefix = format!("{}-app-run-", s.name);
    let hex = name
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    s.ok(&["down", "-t", "1"]);
    assert!(engine::container_dirs(&s.root()).is_empty());
    assert!(engine::entries(&s.root().join("rw")).is_empty());
}

#[test]
fn top_ls_images_and_version_describe_the_project() {
    let app = "  app:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n".to_string();
    let s = Stack::new("top", &yaml(&[app, svc("job", "true")]));
    s.ok(&["up", "-d"]);
    let (top, _) = s.ok(&["top"]);
    let lines: Vec<&str> = top.lines().collect();
    assert_eq!(lines[0], format!("{}-app-1", s.name), "{top}");
    assert!(
        lines[1].starts_with("UID") && lines[1].ends_with("CMD"),
        "{top}"
    );
    assert!(
        lines[2].starts_with("0 ") && lines[2].ends_with("sleep 1000"),
        "{top}"
    );
    let pid: i32 = lines[2].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(engine::alive(pid), "a host pid: {top}");
    assert!(!top.contains("job-1"), "only running containers: {top}");

    let (ls, _) = s.ok(&["ls", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    let me = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == s.name.as_str())
        .unwrap_or_else(|| panic!("{ls}"));
    assert_eq!(me["Status"], "running(1), exited(1)", "{me}");
    assert!(
        me["ConfigFiles"]
            .as_str()
            .unwrap()
            .ends_with("compose.yaml")
    );
    let (table, _) = s.ok(&["ls"]);
    assert!(
        table.starts_with("NAME") && table.contains(&s.name),
        "{table}"
    );
    s.ok(&["stop", "app"]);
    let (running, _) = s.ok(&["ls", "-q"]);
    assert!(!running.lines().any(|l| l == s.name), "{running}");
    let (all, _) = s.ok(&["ls", "-a", "-q"]);
    assert!(all.lines().any(|l| l == s.name), "{all}");

    let (images, _) = s.ok(&["images"]);
    let lines: Vec<&str> = images.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER") && lines[0].contains("IMAGE ID"),
        "{images}"
    );
    assert_eq!(lines.len(), 3, "{images}");
    assert!(
        lines[1].contains("busybox") && lines[1].contains("latest"),
        "{images}"
    );
    let (version, _) = s.ok(&["version", "--short"]);
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn tty_services_get_a_terminal_and_others_do_not() {
    let tty = "  term:\n    image: busybox\n    tty: true\n    command: [\"sh\", \"-c\", \"tty; test -t 1 && echo is a tty\"]\n".to_string();
    let s = Stack::new(
        "tty",
        &yaml(&[tty, svc("plain", "test -t 1 || echo no tty")]),
    );
    s.ok(&["up", "-d"]);
    s.wait_for("both", || {
        s.ps_json().iter().all(|c| c["State"] == "exited")
    });
    let (t, _) = s.ok(&["logs", "--no-log-prefix", "term"]);
    // A pty of the container's own /dev/pts, as Docker gives: it has a name inside.
    assert_eq!(
        t.trim_end_matches(['\r', '\n']),
        "/dev/pts/0\r\nis a tty",
        "{t:?}"
    );
    let (p, _) = s.ok(&["logs", "--no-log-prefix", "plain"]);
    assert_eq!(p, "no tty\n");
}

#[test]
fn a_ctrl_c_to_the_terminal_s_process_group_reaches_compose_not_the_containers() {
    let app = svc(
        "app",
        "trap 'echo got INT' INT; trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    );
    let s = Stack::new("ctrlcgrp", &yaml(&[app]));
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new(&s.bin)
        .args([
            "--data-root",
            &s.root().display().to_string(),
            "-p",
            &s.name,
            "up",
            "--no-log-prefix",
        ])
        .current_dir(s.proj())
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            lines.push(l);
        }
        lines
    });
    s.wait_for("ready", || {
        s.ok(&["logs", "--no-log-prefix"]).0.contains("ready")
    });
    // As a terminal's Ctrl-C: SIGINT to every process of the foreground process group.
    let pgid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{lines:?}");
    let (log, _) = s.ok(&["logs", "--no-log-prefix"]);
    assert_eq!(
        log, "ready\ngot TERM\n",
        "the container saw only compose's TERM"
    );
    assert_eq!(find(&s.ps_json(), "app")["ExitCode"], 0);
}

#[test]
fn exec_gives_a_terminal_by_default_when_stdin_is_one() {
    let s = Stack::new("exectty", &yaml(&[svc("app", LOOP)]));
    s.ok(&["up", "-d"]);
    let cmd = format!(
        "{} --data-root {} -p {} exec app sh -c 'test -t 0 && test -t 1 && echo on a terminal; tty; exit 4'",
        s.bin.display(),
        s.root().display(),
        s.name
    );
    // script(1) runs the command on a new pty: our stdin is a terminal there.
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(s.proj())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("on a terminal"), "{text:?}");
    // The pty is the container's own (its devpts): the terminal has a name inside.
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert_eq!(out.status.code(), Some(4), "{text:?}");
    // Without a terminal on stdin, no pty: the output is a plain pipe.
    let out = s.compose(&[
        "exec",
        "app",
        "sh",
        "-c",
        "test -t 1 && echo on a terminal || echo no terminal",
    ]);
    assert_eq!(out.stdout, "no terminal\n", "{}", out.stderr);
}

#[test]
fn logs_follow_picks_up_a_recreated_container() {
    let s = Stack::new(
        "recreatef",
        &yaml(&[svc("app", &format!("echo first; {LOOP}"))]),
    );
    s.ok(&["up", "-d"]);
    let mut follow = s.spawn(&["logs", "-f", "--no-log-prefix"]);
    follow.wait_line("first", |l| l == "first");
    s.write(&yaml(&[svc("app", &format!("echo second; {LOOP}"))]));
    let (_, err) = s.ok(&["up", "-d", "-t", "5"]);
    assert!(err.contains("Recreated"), "{err}");
    follow.wait_line("second", |l| l == "second");
    s.ok(&["stop", "-t", "5"]);
    let (code, lines) = follow.finish();
    assert_eq!(code, Some(0));
    assert_eq!(lines, ["first", "second"]);
}

#[test]
fn logging_options_rotate_the_log() {
    let app = format!(
        "  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"i=0; while [ $$i -lt 200 ]; do echo line-$$i-padding-padding-padding; i=$$((i+1)); done; echo done; {LOOP}\"]\n    logging:\n      driver: json-file\n      options: {{max-size: 1k, max-file: \"2\"}}\n"
    );
    let s = Stack::new("rotate", &yaml(&[app]));
    s.ok(&["up", "-d"]);
    s.wait_for("done", || {
        s.ok(&["logs", "--no-log-prefix", "-n", "1"]).0 == "done\n"
    });
    let id = s.ids().remove(0);
    let logs = s.root().join("logs");
    let mut files = engine::entries(&logs);
    files.sort();
    assert_eq!(
        files,
        [format!("{id}.log"), format!("{id}.log.1")],
        "the current file and one rotated"
    );
    for f in &files {
        let len = std::fs::metadata(logs.join(f)).unwrap().len();
        assert!(len <= 1024, "{f}: {len} bytes");
    }
    let (all, _) = s.ok(&["logs", "--no-log-prefix"]);
    assert!(!all.contains("line-0-"), "the oldest lines rotated away");
    assert!(
        all.ends_with("line-199-padding-padding-padding\ndone\n"),
        "{all}"
    );
}

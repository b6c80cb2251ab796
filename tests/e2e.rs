//! The engine end to end: the real `compose` binary brings stacks of busybox containers up
//! and down on real namespaces, cgroups, overlays and volumes, as root, each test in its own
//! data root with its own project name.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack, alive, cgroup_dirs, container_dirs, entries, line_of, mounts_under};

fn three_tier(init_exit: i32) -> String {
    format!(
        r#"
services:
  init:
    image: busybox
    command: ["sh", "-c", "echo init ran; echo seeded > /vol/seed; exit {init_exit}"]
    volumes: [data:/vol]
  db:
    image: busybox
    command: ["sh", "-c", "echo db up; {LOOP}"]
    depends_on:
      init: {{condition: service_completed_successfully}}
    volumes: [data:/vol]
    labels: {{tier: db}}
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; cat /vol/seed; {LOOP}"]
    depends_on: [db]
    volumes: [data:/vol]
volumes:
  data:
"#
    )
}

#[test]
fn up_follows_dependencies_and_ps_shows_the_stack() {
    let s = Stack::new("order", &three_tier(0));
    let (_, err) = s.ok(&["up", "-d"]);
    let p = &s.name;
    // init ran to completion before db started; db started before web.
    let init_exited = line_of(&err, &format!("Container {p}-init-1  Exited"));
    let db_starting = line_of(&err, &format!("Container {p}-db-1  Starting"));
    let db_started = line_of(&err, &format!("Container {p}-db-1  Started"));
    let web_starting = line_of(&err, &format!("Container {p}-web-1  Starting"));
    assert!(
        init_exited < db_starting && db_started < web_starting,
        "{err}"
    );
    assert!(
        err.contains(&format!(" Volume \"{p}_data\"  Created")),
        "{err}"
    );

    let (table, _) = s.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("IMAGE") && lines[0].ends_with("PORTS"),
        "{table}"
    );
    for col in ["COMMAND", "SERVICE", "CREATED", "STATUS"] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert_eq!(lines.len(), 3, "running only:\n{table}");
    assert!(
        lines[1].starts_with(&format!("{p}-db-1 ")) && lines[1].contains("Up "),
        "{table}"
    );
    assert!(lines[2].starts_with(&format!("{p}-web-1 ")), "{table}");

    let all = s.ps_json();
    assert_eq!(all.len(), 3);
    let init = all.iter().find(|c| c["Service"] == "init").unwrap();
    assert_eq!(init["State"], "exited");
    assert_eq!(init["ExitCode"], 0);
    assert!(
        init["Status"].as_str().unwrap().starts_with("Exited (0)"),
        "{init}"
    );
    let db = all.iter().find(|c| c["Service"] == "db").unwrap();
    assert_eq!(db["Name"], format!("{p}-db-1"));
    let labels = db["Labels"].as_str().unwrap();
    for l in [
        format!("com.docker.compose.project={p}"),
        "com.docker.compose.service=db".into(),
        "com.docker.compose.container-number=1".into(),
        "com.docker.compose.oneoff=False".into(),
        "tier=db".into(),
    ] {
        assert!(labels.contains(&l), "{l} not in {labels}");
    }
    let (services, _) = s.ok(&["ps", "--services"]);
    assert_eq!(services, "db\nweb\n");
    assert_eq!(s.ok(&["ps", "-q"]).0.lines().count(), 2);

    // web read what init wrote into the shared volume; logs carry `name  | ` prefixes.
    s.wait_for("web's output", || {
        s.ok(&["logs", "web"]).0.contains("seeded")
    });
    let (logs, _) = s.ok(&["logs", "web"]);
    assert_eq!(logs, "web-1  | web up\nweb-1  | seeded\n");
    let (init_log, _) = s.ok(&["logs", "--no-log-prefix", "init"]);
    assert_eq!(init_log, "init ran\n");
    let (tail, _) = s.ok(&["logs", "-n", "1", "--no-log-prefix", "web"]);
    assert_eq!(tail, "seeded\n");

    // A second up changes nothing.
    let (_, again) = s.ok(&["up", "-d"]);
    assert!(
        again.contains(&format!("Container {p}-web-1  Running")),
        "{again}"
    );
    assert!(!again.contains("Creating"), "{again}");
}

#[test]
fn a_failed_completion_dependency_names_its_exit_code() {
    let s = Stack::new("fail", &three_tier(3));
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("service \"init\" didn't complete successfully: exit 3"),
        "{}",
        out.stderr
    );
    let all = s.ps_json();
    let db = all.iter().find(|c| c["Service"] == "db").unwrap();
    assert_eq!(db["State"], "created", "db never started");
    s.ok(&["down", "-v", "-t", "1"]);
    assert!(s.ids().is_empty());
}

#[test]
fn a_named_volume_survives_down_and_goes_with_down_v() {
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "echo run >> /data/runs; {LOOP}"]
    volumes: [store:/data, etc:/etc]
volumes:
  store:
  etc:
"#
    );
    let s = Stack::new("vol", &yaml);
    let vol = s.root().join("volumes").join(format!("{}_store", s.name));
    let runs = vol.join("_data").join("runs");
    s.ok(&["up", "-d"]);
    s.wait_for("first run", || {
        std::fs::read_to_string(&runs).is_ok_and(|t| t == "run\n")
    });
    // An empty volume is filled from the image at its mount path.
    let etc = s
        .root()
        .join("volumes")
        .join(format!("{}_etc", s.name))
        .join("_data");
    assert!(etc.join("passwd").is_file(), "{:?}", entries(&etc));

    s.ok(&["down", "-t", "1"]);
    assert!(vol.is_dir(), "down keeps volumes");
    s.ok(&["up", "-d"]);
    s.wait_for("second run", || {
        std::fs::read_to_string(&runs).is_ok_and(|t| t == "run\nrun\n")
    });
    let (_, err) = s.ok(&["down", "-v", "-t", "1"]);
    assert!(
        err.contains(&format!(" Volume \"{}_store\"  Removed", s.name)),
        "{err}"
    );
    assert!(!vol.exists(), "down -v removes it");
    s.ok(&["up", "-d"]);
    s.wait_for("fresh run", || {
        std::fs::read_to_string(&runs).is_ok_and(|t| t == "run\n")
    });
}

#[test]
fn bind_mounts_are_relative_to_the_project_dir() {
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "cat /conf/in > /out/copy; touch /conf/x 2>/dev/null && echo rw > /out/ro || echo ro > /out/ro; {LOOP}"]
    volumes: ["./made:/out", "./conf:/conf:ro"]
"#
    );
    let s = Stack::new("bind", &yaml);
    std::fs::create_dir(s.proj().join("conf")).unwrap();
    std::fs::write(s.proj().join("conf").join("in"), "hello\n").unwrap();
    s.ok(&["up", "-d"]);
    let made = s.proj().join("made");
    assert!(made.is_dir(), "the short syntax makes a missing host dir");
    s.wait_for("the copy", || {
        std::fs::read_to_string(made.join("ro")).is_ok_and(|t| t == "ro\n")
    });
    assert_eq!(
        std::fs::read_to_string(made.join("copy")).unwrap(),
        "hello\n"
    );
    assert!(
        !s.proj().join("conf").join("x").exists(),
        ":ro is read-only"
    );
}

#[test]
fn down_leaves_no_process_cgroup_mount_or_state() {
    let yaml = format!(
        r#"
services:
  a:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    volumes: [vol:/v]
    tmpfs: [/scratch]
  b:
    image: busybox
    command: ["sh", "-c", "sleep 1000 & {LOOP}"]
    depends_on: [a]
volumes:
  vol:
"#
    );
    let s = Stack::new("clean", &yaml);
    s.ok(&["up", "-d", "--scale", "b=2"]);
    let ids = s.ids();
    assert_eq!(ids.len(), 3);
    let pids = s.pids(&ids);
    assert!(pids.len() >= 4, "inits and b's background sleeps: {pids:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    assert!(ids.iter().all(|id| !cgroup_dirs(id).is_empty()));

    let (_, err) = s.ok(&["down", "-v", "-t", "1"]);
    // Dependents stop first.
    let p = &s.name;
    assert!(
        line_of(&err, &format!("Container {p}-b-1  Stopped"))
            < line_of(&err, &format!("Container {p}-a-1  Stopping")),
        "{err}"
    );
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} survived down");
    }
    for id in &ids {
        assert!(
            cgroup_dirs(id).is_empty(),
            "cgroup of {id} left: {:?}",
            cgroup_dirs(id)
        );
    }
    assert!(
        mounts_under(&s.root()).is_empty(),
        "{:?}",
        mounts_under(&s.root())
    );
    assert!(container_dirs(&s.root()).is_empty());
    assert!(entries(&s.root().join("logs")).is_empty());
    assert!(entries(&s.root().join("volumes")).is_empty());
    assert!(s.ids().is_empty());
}

#[test]
fn two_projects_with_the_same_services_run_side_by_side() {
    let yaml = format!(
        "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n"
    );
    let s = Stack::new("twin", &yaml);
    let other = s.sibling("twin");
    s.ok(&["up", "-d"]);
    other.ok(&["up", "-d"]);
    let mine = s.ok(&["ps", "--format", "json"]).0;
    let theirs = other.ok(&["ps", "--format", "json"]);
    assert!(mine.contains(&format!("\"{}-web-1\"", s.name)) && !mine.contains(&other.name));
    assert!(theirs.contains(&format!("\"{}-web-1\"", other.name)) && !theirs.contains(&s.name));
    other.ok(&["down", "-t", "1"]);
    let (still, _) = s.ok(&["ps", "-q"]);
    assert_eq!(
        still.lines().count(),
        1,
        "the other project's down left ours running"
    );
}

#[test]
fn a_missing_image_is_one_clear_error_and_down_still_cleans() {
    let yaml = format!(
        "services:\n  ok:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n  bad:\n    image: 127.0.0.1:9/nosuch/thing:1\n"
    );
    // The image is missing, and its registry (a closed port on this machine: no test
    // traffic leaves it) cannot be reached.
    let s = Stack::new("badimg", &yaml);
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    // Progress lines, then one error line.
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with(" Image "))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    assert!(
        lines[0].starts_with(
            "service bad: image 127.0.0.1:9/nosuch/thing:1 is not in the local store and pulling it failed:"
        ),
        "{}",
        out.stderr
    );
    s.ok(&["down", "-v"]);
    assert!(s.ids().is_empty());
    assert!(container_dirs(&s.root()).is_empty());
}

#[test]
fn stop_start_kill_rm_and_recreate_on_change() {
    let yaml = |word: &str| {
        format!(
            "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo {word}; {LOOP}\"]\n"
        )
    };
    let s = Stack::new("verbs", &yaml("one"));
    let p = s.name.clone();
    s.ok(&["up", "-d", "--scale", "web=2"]);
    assert_eq!(s.ids().len(), 2);
    let (_, err) = s.ok(&["stop", "-t", "1"]);
    assert!(
        err.contains(&format!("Container {p}-web-2  Stopped")),
        "{err}"
    );
    assert_eq!(s.ok(&["ps", "-q"]).0, "");
    let (_, err) = s.ok(&["start"]);
    assert!(
        err.contains(&format!("Container {p}-web-1  Started")),
        "{err}"
    );
    assert_eq!(s.ok(&["ps", "-q"]).0.lines().count(), 2);

    let (_, err) = s.ok(&["kill", "-s", "SIGKILL", "web"]);
    assert!(
        err.contains(&format!("Container {p}-web-1  Killed")),
        "{err}"
    );
    s.wait_for("both dead", || s.ok(&["ps", "-q"]).0.is_empty());
    let (_, err) = s.ok(&["rm", "-f"]);
    assert!(
        err.contains(&format!("Container {p}-web-2  Removed")),
        "{err}"
    );
    assert!(s.ids().is_empty());

    s.ok(&["up", "-d"]);
    let before = s.ids();
    s.write(&yaml("two"));
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(
        err.contains(&format!("Container {p}-web-1  Recreated")),
        "{err}"
    );
    let after = s.ids();
    assert_eq!(after.len(), 1);
    assert_ne!(before, after, "a changed config makes a new container");
    s.wait_for("new output", || {
        s.ok(&["logs", "--no-log-prefix"]).0 == "two\n"
    });
}

#[test]
fn without_a_compose_file_p_name_still_lists_and_takes_down() {
    let yaml = format!(
        "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n    volumes: [keep:/k]\nvolumes:\n  keep:\n"
    );
    let s = Stack::new("nofile", &yaml);
    s.ok(&["up", "-d"]);
    std::fs::remove_file(s.proj().join("compose.yaml")).unwrap();
    let (ps, _) = s.ok(&["ps", "-a", "--format", "json"]);
    assert!(ps.contains(&format!("\"{}-web-1\"", s.name)), "{ps}");
    let (logs, _) = s.ok(&["logs"]);
    assert_eq!(logs, "");
    s.ok(&["down", "-v", "-t", "1"]);
    assert!(s.ids().is_empty());
    assert!(entries(&s.root().join("volumes")).is_empty());
    assert!(container_dirs(&s.root()).is_empty());
}

#[test]
fn a_create_that_fails_midway_is_recorded_and_down_removes_it() {
    // The long syntax does not make a missing bind source: the create fails after the
    // container's record is written and before the runtime has a container.
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    volumes:
      - type: bind
        source: ./missing
        target: /m
"#
    );
    let s = Stack::new("midway", &yaml);
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("service app: bind source path does not exist:"),
        "{}",
        out.stderr
    );
    let all = s.ps_json();
    assert_eq!(all.len(), 1, "the intent is recorded");
    assert_eq!(all[0]["State"], "dead");
    std::fs::create_dir(s.proj().join("missing")).unwrap();
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(
        err.contains("Recreated"),
        "the broken record is replaced: {err}"
    );
    assert_eq!(s.ps_json()[0]["State"], "running");
    s.ok(&["down", "-t", "1"]);
    assert!(s.ids().is_empty());
}

#[test]
fn up_of_one_service_brings_its_dependencies_only_and_no_orphan_warning() {
    let yaml = format!(
        r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
  web:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    depends_on: [db]
  tool:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
"#
    );
    let s = Stack::new("select", &yaml);
    s.ok(&["up", "-d", "tool"]);
    let (_, err) = s.ok(&["up", "-d", "web"]);
    assert!(!err.contains("orphan"), "{err}");
    let (services, _) = s.ok(&["ps", "--services"]);
    assert_eq!(services, "db\ntool\nweb\n");
    let out = s.compose(&["up", "-d", "nope"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("no such service: nope"),
        "{}",
        out.stderr
    );
}

#[test]
fn anonymous_volumes_outlive_a_recreate_and_go_with_rm_v() {
    let yaml = |word: &str| {
        format!(
            "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo {word} >> /cache/words; {LOOP}\"]\n    volumes: [/cache]\n"
        )
    };
    let s = Stack::new("anon", &yaml("one"));
    s.ok(&["up", "-d"]);
    let vols = s.root().join("volumes");
    assert_eq!(entries(&vols).len(), 1);
    let words = vols.join(&entries(&vols)[0]).join("_data").join("words");
    s.wait_for("one", || {
        std::fs::read_to_string(&words).is_ok_and(|t| t == "one\n")
    });
    s.write(&yaml("two"));
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(err.contains("Recreated"), "{err}");
    s.wait_for("two", || {
        std::fs::read_to_string(&words).is_ok_and(|t| t == "one\ntwo\n")
    });
    assert_eq!(entries(&vols).len(), 1, "the same volume, not a new one");
    s.ok(&["rm", "-s", "-f", "-v"]);
    assert!(entries(&vols).is_empty(), "rm -v removes anonymous volumes");
}

#[test]
fn concurrent_ups_of_one_project_serialize_on_its_lock() {
    let yaml = format!(
        "services:\n  a:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n  b:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n"
    );
    let s = Stack::new("lock", &yaml);
    let outs: Vec<_> = std::thread::scope(|sc| {
        let h: Vec<_> = (0..3)
            .map(|_| sc.spawn(|| s.compose(&["up", "-d"])))
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.success(), "{}", o.stderr);
    }
    let created: usize = outs
        .iter()
        .map(|o| {
            o.stderr
                .lines()
                .filter(|l| l.contains(" Container ") && l.ends_with("  Created"))
                .count()
        })
        .sum();
    assert_eq!(created, 2, "each container made once");
    assert_eq!(s.ids().len(), 2);
}

#[test]
fn logs_follow_ends_when_the_container_stops() {
    let yaml = "services:\n  job:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo a; sleep 1; echo b >&2; sleep 0.2\"]\n";
    let s = Stack::new("follow", yaml);
    s.ok(&["up", "-d"]);
    let (out, _) = s.ok(&["logs", "-f", "--no-color"]);
    assert_eq!(out, "job-1  | a\njob-1  | b\n");
    let (ts, _) = s.ok(&["logs", "-t", "--no-log-prefix"]);
    // The shim writes CRI lines: each carries the time it was read, RFC 3339 in UTC.
    let lines: Vec<&str> = ts.lines().collect();
    assert_eq!(lines.len(), 2, "{ts}");
    for (l, text) in lines.iter().zip(["a", "b"]) {
        let (t, rest) = l.split_once(' ').unwrap();
        assert_eq!(rest, text, "{ts}");
        assert!(
            t.len() == 30 && t.ends_with('Z') && &t[10..11] == "T",
            "{ts}"
        );
    }
}

#[test]
fn the_service_config_reaches_the_container() {
    let yaml = r#"
services:
  facts:
    image: busybox
    user: nobody
    working_dir: /tmp
    hostname: facthost
    read_only: true
    tmpfs: [/scratch]
    environment:
      GREETING: hi
      EMPTY: ""
    entrypoint: ["sh", "-c"]
    command:
      - |
        echo "user=$$(id -u):$$(id -g) cwd=$$(pwd) host=$$(hostname) greeting=$$GREETING"
        touch /rootfs-write 2>/dev/null && echo root=rw || echo root=ro
        touch /scratch/x && echo scratch=rw
        grep -q CapEff:.0000000000000000 /proc/self/status && echo caps=none
"#;
    let s = Stack::new("facts", yaml);
    s.ok(&["up", "-d"]);
    s.wait_for("the facts", || {
        s.ok(&["logs", "--no-log-prefix"]).0.lines().count() >= 4
    });
    let (out, _) = s.ok(&["logs", "--no-log-prefix"]);
    assert_eq!(
        out,
        "user=65534:65534 cwd=/tmp host=facthost greeting=hi\nroot=ro\nscratch=rw\ncaps=none\n"
    );
}

#[test]
fn external_volumes_must_exist_and_are_never_removed() {
    let yaml = format!(
        "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hi > /ext/hi; {LOOP}\"]\n    volumes: [shared:/ext]\nvolumes:\n  shared:\n    external: true\n    name: outside-vol\n"
    );
    let s = Stack::new("ext", &yaml);
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("external volume outside-vol not found"),
        "{}",
        out.stderr
    );
    let data = s.root().join("volumes").join("outside-vol").join("_data");
    std::fs::create_dir_all(&data).unwrap();
    s.ok(&["up", "-d"]);
    s.wait_for("the write", || data.join("hi").is_file());
    s.ok(&["down", "-v", "-t", "1"]);
    assert!(data.join("hi").is_file(), "down -v keeps external volumes");
}

#[test]
fn attached_up_streams_output_and_ends_with_the_containers() {
    let yaml = "services:\n  a:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo from a\"]\n  b:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo from b; exit 3\"]\n";
    let s = Stack::new("attach", yaml);
    let (out, _) = s.ok(&["up"]);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.remove(0), "Attaching to a-1, b-1");
    lines.sort();
    assert_eq!(
        lines,
        [
            "a-1  | from a",
            "a-1 exited with code 0",
            "b-1  | from b",
            "b-1 exited with code 3"
        ]
    );
    let b = s
        .ps_json()
        .into_iter()
        .find(|c| c["Service"] == "b")
        .unwrap();
    assert!(
        b["Status"].as_str().unwrap().starts_with("Exited (3) "),
        "{b}"
    );
}

#[test]
fn ctrl_c_stops_an_attached_up() {
    let yaml = "services:\n  a:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo ready; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done\"]\n";
    let s = Stack::new("ctrlc", yaml);
    let mut child = std::process::Command::new(&s.bin)
        .args([
            "--data-root",
            &s.root().display().to_string(),
            "-p",
            &s.name,
            "up",
        ])
        .current_dir(s.proj())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == "a-1  | ready" => break,
            Ok(_) => continue,
            Err(_) => {
                let _ = child.kill();
                panic!("no output from the attached up");
            }
        }
    }
    // SIGINT to the CLI only, as its own pid.
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let out = reader.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{out}\n{err}");
    assert!(
        err.contains("Gracefully stopping... (press Ctrl+C again to force)"),
        "{err}"
    );
    assert!(
        out.contains("a-1  | bye\n") && out.contains("a-1 exited with code 0\n"),
        "{out}"
    );
    assert!(s.ok(&["ps", "-q"]).0.is_empty(), "stopped");
}

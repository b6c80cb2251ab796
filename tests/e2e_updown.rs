//! `up -d` and `down` of the stack bench/up-down.sh times: a `depends_on` chain on one
//! network, `sleep` as PID 1. Up makes the containers at once but starts them in order,
//! each one's lookups answering from its first instruction; down stops them in reverse
//! order, never waiting out a grace period that a PID 1 without a handler cannot use.
//! As root, on real containers, bridges and the project's DNS supervisor.

#![allow(clippy::unwrap_used)]

mod engine;

use std::net::UdpSocket;
use std::process::Command;

use compose_network::names::{bridge_name, network_name};
use engine::{LOOP, Stack, alive, cgroup_dirs, line_of};

/// A DNS upstream on 127.0.0.1 that never answers: the project's own names are all these
/// tests look up, and nothing may reach the host's resolver.
struct Upstream {
    _sock: UdpSocket,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Upstream {
    fn new() -> Upstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
        let env = vec![
            (
                "COMPOSE_DNS_RESOLV_CONF".to_string(),
                resolv.display().to_string(),
            ),
            (
                "COMPOSE_DNS_UPSTREAM_PORT".to_string(),
                sock.local_addr().unwrap().port().to_string(),
            ),
        ];
        Upstream {
            _sock: sock,
            env,
            _dir: dir,
        }
    }
}

/// s1..sN on network `net`, each depending on the one before; from s2 on, each looks up
/// its dependency first thing, into /lookup, then sleeps as PID 1.
fn chain(n: usize) -> String {
    let mut y = String::from("services:\n");
    for i in 1..=n {
        y += &format!("  s{i}:\n    image: busybox\n    networks: [net]\n");
        if i == 1 {
            y += "    command: [\"sleep\", \"3600\"]\n";
        } else {
            let dep = i - 1;
            y += &format!(
                "    command: [\"sh\", \"-c\", \"nslookup s{dep} >/lookup 2>&1; exec sleep 3600\"]\n    depends_on: [s{dep}]\n"
            );
        }
    }
    y += "  side:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n";
    y += "    network_mode: \"service:s3\"\n    depends_on: [s3]\n";
    y += "networks:\n  net: {}\n";
    y
}

/// The (one) process of container `id`.
fn init_of(id: &str) -> i32 {
    cgroup_dirs(id)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .min()
        .unwrap_or_else(|| panic!("no process in container {id}"))
}

/// Container name → id, from `ps -a --format json`.
fn ids_by_name(s: &Stack) -> std::collections::BTreeMap<String, String> {
    s.ps_json()
        .into_iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_string(),
                c["ID"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_chain_comes_up_in_order_resolving_its_names_and_goes_down_in_reverse() {
    const N: usize = 5;
    let s = Stack::new("chain", &chain(N));
    let upstream = Upstream::new();
    let out = s.compose_env(&s.name, &["up", "-d"], &upstream.env);
    assert!(out.success(), "up: {}\n{}", out.status_line(), out.stderr);
    let err = out.stderr;
    let p = &s.name;
    for i in 2..=N {
        assert!(
            line_of(&err, &format!("Container {p}-s{}-1  Started", i - 1))
                < line_of(&err, &format!("Container {p}-s{i}-1  Starting")),
            "s{i} started before its dependency:\n{err}"
        );
    }
    let ids = ids_by_name(&s);
    assert_eq!(ids.len(), N + 1, "{ids:?}");
    // Each container found its dependency by name at its very first lookup.
    for i in 2..=N {
        let pid = init_of(&ids[&format!("{p}-s{i}-1")]);
        let lookup =
            std::fs::read_to_string(format!("/proc/{pid}/root/lookup")).unwrap_or_default();
        assert!(
            lookup.contains("Name:") && !lookup.contains("can't find"),
            "s{i} could not resolve s{}: {lookup}",
            i - 1
        );
    }
    // `side` was made after s3, in s3's network namespace.
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let s3 = init_of(&ids[&format!("{p}-s3-1")]);
    assert_eq!(ns(init_of(&ids[&format!("{p}-side-1")])), ns(s3));
    let pids: Vec<i32> = ids.values().map(|id| init_of(id)).collect();

    let (_, err) = s.ok(&["down", "-t", "0"]);
    // With no grace every stop is a SIGKILL: dependents are killed first, and none waits
    // for the one before it to be gone (a killed process runs nothing more).
    for i in 2..=N {
        assert!(
            line_of(&err, &format!("Container {p}-s{i}-1  Stopping"))
                < line_of(&err, &format!("Container {p}-s{}-1  Stopping", i - 1)),
            "s{} was killed before its dependent s{i}:\n{err}",
            i - 1
        );
    }
    for name in ids.keys() {
        assert!(
            err.contains(&format!("Container {name}  Removed")),
            "{name} not removed:\n{err}"
        );
    }
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived down");
    }
    for id in ids.values() {
        assert!(cgroup_dirs(id).is_empty(), "cgroup of {id} left");
    }
    assert!(s.ids().is_empty());
    let bridge = bridge_name(&network_name(p, "net"));
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "bridge {bridge} left"
    );
    let sup = s.root().join("supervisors").join(p);
    assert!(!sup.exists(), "supervisor state left: {}", sup.display());
    drop(upstream);
}

#[test]
fn default_down_kills_at_once_a_pid_1_that_cannot_take_the_stop_signal() {
    // An hour's grace: were it waited out, the harness's time limit would fail the test.
    let yaml = format!(
        r#"
services:
  a:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1h
  b:
    image: busybox
    command: ["sleep", "3600"]
    stop_grace_period: 1h
    depends_on: [a]
  c:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    stop_grace_period: 1h
"#
    );
    let s = Stack::new("nograce", &yaml);
    s.ok(&["up", "-d"]);
    // `stop` and `down` share the stop step: the exit codes show how each one ended. A
    // PID 1 with a TERM handler still gets TERM and exits by itself.
    s.ok(&["stop"]);
    let codes: std::collections::BTreeMap<String, i64> = s
        .ps_json()
        .into_iter()
        .map(|c| {
            (
                c["Service"].as_str().unwrap().to_string(),
                c["ExitCode"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(codes.get("a"), Some(&137), "{codes:?}");
    assert_eq!(codes.get("b"), Some(&137), "{codes:?}");
    assert_eq!(codes.get("c"), Some(&0), "{codes:?}");

    s.ok(&["up", "-d"]);
    let pids = s.pids(&s.ids());
    assert!(pids.len() >= 3, "{pids:?}");
    let (_, err) = s.ok(&["down"]);
    let p = &s.name;
    // Both are SIGKILLed, the dependent first.
    assert!(
        line_of(&err, &format!("Container {p}-b-1  Stopping"))
            < line_of(&err, &format!("Container {p}-a-1  Stopping")),
        "{err}"
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived down");
    }
    assert!(s.ids().is_empty());
    // The harness's own `ps` saw nothing left; and no stray `sleep` of ours either.
    let left = Command::new("pgrep")
        .args(["-f", &s.root().display().to_string()])
        .output();
    if let Ok(o) = left {
        assert!(
            o.stdout.is_empty(),
            "left: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn down_kills_dependents_at_once_but_a_dependency_that_takes_the_signal_waits_for_them() {
    // s2 and s3 are SIGKILLed at once (no handler); s1 traps TERM and so gets it, with its
    // grace, but only once its dependents are gone.
    let yaml = format!(
        r#"
services:
  s1:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
  s2:
    image: busybox
    command: ["sleep", "3600"]
    depends_on: [s1]
  s3:
    image: busybox
    command: ["sleep", "3600"]
    depends_on: [s2]
"#
    );
    let s = Stack::new("mixdown", &yaml);
    s.ok(&["up", "-d"]);
    let pids = s.pids(&s.ids());
    assert!(pids.len() >= 3, "{pids:?}");
    let (_, err) = s.ok(&["down", "-t", "30"]);
    let p = &s.name;
    let at = |what: &str| line_of(&err, &format!("Container {p}-{what}"));
    assert!(at("s3-1  Stopping") < at("s2-1  Stopping"), "{err}");
    // Killed without waiting: s2's kill comes before s3 is seen gone.
    assert!(at("s2-1  Stopping") < at("s3-1  Stopped"), "{err}");
    for dependent in ["s2", "s3"] {
        assert!(
            at(&format!("{dependent}-1  Stopped")) < at("s1-1  Stopping"),
            "s1 got its signal before {dependent} was gone:\n{err}"
        );
    }
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived down");
    }
    assert!(s.ids().is_empty());
}

/// Makes a file immutable (`chattr +i`) for as long as it lives: root cannot delete it.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: std::path::PathBuf) -> Immutable {
        std::fs::write(&path, "stuck").unwrap();
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success(), "chattr +i {}", path.display());
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn down_goes_on_past_a_container_it_cannot_remove_and_a_second_down_finishes() {
    let s = Stack::new("stuckdown", &chain(3));
    let upstream = Upstream::new();
    let out = s.compose_env(&s.name, &["up", "-d"], &upstream.env);
    assert!(out.success(), "up: {}\n{}", out.status_line(), out.stderr);
    let ids = ids_by_name(&s);
    let p = s.name.clone();
    let stuck_id = ids[&format!("{p}-s2-1")].clone();
    let pids = s.pids(&s.ids());
    // s2's writable layer holds a file no one can delete: its removal fails.
    let stuck = Immutable::new(s.root().join("rw").join(&stuck_id).join("stuck"));
    let out = s.compose(&["down", "-t", "0"]);
    assert!(
        !out.success(),
        "down succeeded with s2 stuck:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&stuck_id),
        "the failure does not name s2's layer:\n{}",
        out.stderr
    );
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} survived down");
    }
    // Every other container is gone; s2 stays recorded, and so does the network it uses.
    let left = ids_by_name(&s);
    assert_eq!(
        left.keys().cloned().collect::<Vec<_>>(),
        vec![format!("{p}-s2-1")],
        "{}",
        out.stderr
    );
    let bridge = bridge_name(&network_name(&p, "net"));
    let bridge_path = std::path::Path::new("/sys/class/net").join(&bridge);
    assert!(
        bridge_path.exists(),
        "the network went while s2 still uses it"
    );
    drop(stuck);
    let (_, err) = s.ok(&["down", "-t", "0"]);
    assert!(
        err.contains(&format!("Container {p}-s2-1  Removed")),
        "{err}"
    );
    assert!(s.ids().is_empty());
    assert!(!bridge_path.exists(), "bridge {bridge} left");
    drop(upstream);
}

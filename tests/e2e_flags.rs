//! The remaining flags and statuses of `up`, `ps`, `exec` and `run`, end to end on real
//! containers (as root): `up --dry-run` prints the plan and changes nothing; `-V` renews
//! anonymous volumes; `--always-recreate-deps`; which services an attached `up` shows
//! (`--attach-dependencies`, `--attach`, `--no-attach`) and how it ends (`--exit-code-from`,
//! `--abort-on-container-failure`); `ps` shows a container waiting for its policy restart as
//! `Restarting (N) X ago`; `up` restarts `depends_on: {restart: true}` dependents of a
//! recreated service; `exec -it` / `run -it` follow the terminal's size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod engine;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::{LOOP, Stack};

/// The `ps -a --format json` entry of `service` (first container).
fn entry(s: &Stack, service: &str) -> serde_json::Value {
    s.ps_json()
        .into_iter()
        .find(|e| e["Service"] == service)
        .unwrap_or_else(|| panic!("no container of {service}"))
}

fn id_of(s: &Stack, service: &str) -> String {
    entry(s, service)["ID"].as_str().unwrap().to_string()
}

/// Lines of `logs --no-log-prefix SERVICE` equal to `text`.
fn count_lines(s: &Stack, service: &str, text: &str) -> usize {
    let (out, _) = s.ok(&["logs", "--no-log-prefix", service]);
    out.lines().filter(|l| l.trim() == text).count()
}

fn bridge_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

use std::path::Path;

const PLAN: &str = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    depends_on: [db]
  fetched:
    image: example.invalid/not-here:1
    profiles: [remote]
volumes:
  data: {}
"#;

#[test]
fn up_dry_run_prints_the_plan_and_changes_nothing() {
    let s = Stack::new("dryup", PLAN);
    let net = format!("{}_default", s.name);
    let bridge = compose_network::names::bridge_name(&net);
    let (out, err) = s.ok(&["--dry-run", "up", "-d"]);
    let p =
        |kind: &str, name: &str, status: &str| format!(" DRY-RUN MODE -  {kind} {name}  {status}");
    let db = format!("{}-db-1", s.name);
    let web = format!("{}-web-1", s.name);
    let vol = format!("\"{}_data\"", s.name);
    let expected = [
        p("Network", &net, "Creating"),
        p("Network", &net, "Created"),
        p("Volume", &vol, "Creating"),
        p("Volume", &vol, "Created"),
        p("Container", &db, "Creating"),
        p("Container", &db, "Created"),
        p("Container", &web, "Creating"),
        p("Container", &web, "Created"),
        p("Container", &db, "Starting"),
        p("Container", &db, "Started"),
        p("Container", &web, "Starting"),
        p("Container", &web, "Started"),
    ];
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines, expected, "stdout: {out}");
    // Nothing was made: no container recorded, no bridge, no volume, no project.
    assert!(s.ids().is_empty());
    assert!(!bridge_exists(&bridge), "bridge {bridge} was made");
    assert!(
        !s.root()
            .join("volumes")
            .join(format!("{}_data", s.name))
            .exists()
    );
    let (ls, _) = s.ok(&["ls", "-a", "--format", "json"]);
    assert!(!ls.contains(&s.name), "the project was recorded: {ls}");

    // Attached: the creation only, then Docker Compose's closing line on stdout.
    let (out, err) = s.ok(&["--dry-run", "up"]);
    assert!(
        out.contains(
            "end of 'compose up' output, interactive run is not supported in dry-run mode"
        ),
        "{out}"
    );
    assert!(err.contains(&p("Container", &web, "Created")), "{err}");
    assert!(!err.contains("Started"), "{err}");

    // A missing image is only said to be pulled (no registry is asked: this one cannot be).
    let (_, err) = s.ok(&["--profile", "remote", "--dry-run", "up", "-d", "fetched"]);
    assert!(
        err.contains(&p("Image", "example.invalid/not-here:1", "Pulling")),
        "{err}"
    );
    assert!(s.ids().is_empty());

    // Against a running project: only what changed.
    s.ok(&["up", "-d"]);
    let before = (id_of(&s, "db"), id_of(&s, "web"));
    s.write(&PLAN.replacen("sleep 0.1", "sleep 0.2", 1));
    let (_, err) = s.ok(&["--dry-run", "up", "-d"]);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            p("Container", &db, "Recreate"),
            p("Container", &db, "Recreated"),
            p("Container", &web, "Running"),
            p("Container", &db, "Starting"),
            p("Container", &db, "Started"),
        ]
    );
    assert_eq!(
        (id_of(&s, "db"), id_of(&s, "web")),
        before,
        "dry run recreated"
    );
    assert_eq!(entry(&s, "db")["State"], "running");

    // `down --dry-run` says the same kind of lines and leaves the project running.
    let (_, err) = s.ok(&["--dry-run", "down"]);
    assert!(err.contains(&p("Container", &db, "Removed")), "{err}");
    assert!(err.contains(&p("Network", &net, "Removed")), "{err}");
    assert_eq!(entry(&s, "web")["State"], "running");
    assert!(bridge_exists(&bridge));
}

#[test]
fn renew_anon_volumes_starts_them_empty() {
    let s = Stack::new(
        "renew",
        &format!(
            r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    volumes: ["/data"]
"#
        ),
    );
    s.ok(&["up", "-d"]);
    s.ok(&["exec", "-T", "app", "sh", "-c", "echo kept > /data/f"]);
    s.ok(&["up", "-d", "--force-recreate"]);
    let (out, _) = s.ok(&["exec", "-T", "app", "cat", "/data/f"]);
    assert_eq!(out.trim(), "kept", "a recreate keeps anonymous volumes");
    s.ok(&["up", "-d", "--force-recreate", "-V"]);
    let out = s.compose(&["exec", "-T", "app", "cat", "/data/f"]);
    assert!(!out.success(), "-V kept the old data: {}", out.stdout);
    // The long spelling too.
    s.ok(&["exec", "-T", "app", "sh", "-c", "echo again > /data/f"]);
    s.ok(&["up", "-d", "--force-recreate", "--renew-anon-volumes"]);
    assert!(
        !s.compose(&["exec", "-T", "app", "test", "-e", "/data/f"])
            .success()
    );
}

const CHAIN: &str = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db-started; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
  web:
    image: busybox
    command: ["sh", "-c", "echo web-started; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    depends_on:
      db: {condition: service_started, restart: true}
  side:
    image: busybox
    command: ["sh", "-c", "echo side-started; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    depends_on: [db]
"#;

#[test]
fn always_recreate_deps_recreates_the_dependencies_only() {
    let s = Stack::new("recdeps", CHAIN);
    s.ok(&["up", "-d"]);
    let (db, web, side) = (id_of(&s, "db"), id_of(&s, "web"), id_of(&s, "side"));
    s.ok(&["up", "-d", "side"]);
    assert_eq!(id_of(&s, "db"), db, "nothing changed, nothing recreated");
    s.ok(&["up", "-d", "--always-recreate-deps", "side"]);
    assert_ne!(id_of(&s, "db"), db, "the dependency was kept");
    assert_eq!(id_of(&s, "side"), side, "the named service was recreated");
    // web is not selected: not recreated.
    assert_eq!(id_of(&s, "web"), web);
    let out = s.compose(&["up", "-d", "--always-recreate-deps", "--no-recreate"]);
    assert!(!out.success(), "conflicting flags were accepted");
}

#[test]
fn up_restarts_dependents_with_restart_true_when_a_dependency_is_recreated() {
    let s = Stack::new("deprestart", CHAIN);
    s.ok(&["up", "-d"]);
    let web = id_of(&s, "web");
    let started = |svc: &str, n: usize| {
        let text = format!("{svc}-started");
        s.wait_for(&format!("{svc} started {n} times"), || {
            count_lines(&s, svc, &text) == n
        });
    };
    started("web", 1);
    s.write(&CHAIN.replacen("echo db-started", "echo db-started-again", 1));
    let (_, err) = s.ok(&["up", "-d"]);
    let said =
        |svc: &str, what: &str| err.contains(&format!(" Container {}-{svc}-1  {what}", s.name));
    assert!(said("web", "Restarting"), "{err}");
    assert!(said("db", "Recreated"), "{err}");
    // `side` depends on db without restart: true: left alone.
    assert!(
        said("side", "Running") && !said("side", "Restarting"),
        "{err}"
    );
    s.wait_for("db's new command", || {
        count_lines(&s, "db", "db-started-again") == 1
    });
    started("web", 2);
    assert_eq!(id_of(&s, "web"), web, "web was recreated, not restarted");
    assert_eq!(entry(&s, "web")["State"], "running");
    assert_eq!(count_lines(&s, "side", "side-started"), 1);
    // Nothing changed: nothing restarted.
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(!err.contains("Restarting"), "{err}");
    assert!(
        err.contains(&format!(" Container {}-web-1  Running", s.name)),
        "{err}"
    );
}

/// web ends first (7), db seconds later (0): who ends first is not a race.
const TALKERS: &str = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db-says-hi; sleep 3; exit 0"]
  web:
    image: busybox
    command: ["sh", "-c", "echo web-says-hi; exit 7"]
    depends_on: [db]
"#;

#[test]
fn attached_up_shows_the_services_docker_compose_would() {
    let s = Stack::new("attach", TALKERS);
    let show = |args: &[&str]| {
        let out = s.compose(args);
        assert!(!out.timed_out, "{args:?} hung");
        (out.stdout, out.code)
    };
    let (out, _) = show(&["up", "web"]);
    assert!(out.contains("web-says-hi"), "{out}");
    assert!(
        !out.contains("db-says-hi"),
        "a dependency was attached: {out}"
    );
    let (out, _) = show(&["up", "--attach-dependencies", "web"]);
    assert!(
        out.contains("web-says-hi") && out.contains("db-says-hi"),
        "{out}"
    );
    let (out, _) = show(&["up", "--no-attach", "db"]);
    assert!(
        out.contains("web-says-hi") && !out.contains("db-says-hi"),
        "{out}"
    );
    let (out, _) = show(&["up", "--attach", "db"]);
    assert!(
        !out.contains("web-says-hi") && out.contains("db-says-hi"),
        "{out}"
    );
    // The exit code of the named service, whoever ended first.
    let (_, code) = show(&["up", "--exit-code-from", "web"]);
    assert_eq!(code, Some(7));
    let (_, code) = show(&["up", "--abort-on-container-failure"]);
    assert_eq!(code, Some(7));
    let (out, _) = show(&["up", "--abort-on-container-exit"]);
    assert!(out.contains("Aborting on container exit"), "{out}");
}

#[test]
fn ps_shows_a_container_waiting_for_its_restart_as_restarting() {
    let s = Stack::new(
        "restarting",
        r#"
services:
  flaky:
    image: busybox
    command: ["sh", "-c", "exit 3"]
    deploy:
      restart_policy:
        condition: on-failure
        delay: 60s
"#,
    );
    s.ok(&["up", "-d"]);
    s.wait_for("the restarting state", || {
        entry(&s, "flaky")["State"] == "restarting"
    });
    let e = entry(&s, "flaky");
    let status = e["Status"].as_str().unwrap();
    assert!(status.starts_with("Restarting (3) "), "{status}");
    assert!(status.ends_with(" ago"), "{status}");
    assert_eq!(e["ExitCode"], 3);
    // Listed without -a, as Docker's ps lists it, and by its state.
    let (out, _) = s.ok(&["ps"]);
    assert!(out.contains("Restarting (3)"), "{out}");
    let (out, _) = s.ok(&["ps", "-q", "--status", "restarting"]);
    assert_eq!(out.trim(), e["ID"].as_str().unwrap());
    // `ls` counts it by that state too.
    let (out, _) = s.ok(&["ls", "-a"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(&s.name))
        .unwrap_or_default();
    assert!(line.contains("restarting(1)"), "{out}");
    // Stopped by the user: exited, no longer restarting.
    s.ok(&["stop", "flaky"]);
    assert_eq!(entry(&s, "flaky")["State"], "exited");
}

/// A pty pair; the test holds the master, the command gets the slave as its controlling
/// terminal.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    fn open(rows: u16, cols: u16) -> Pty {
        let (mut m, mut s) = (-1, -1);
        let ws = winsize(rows, cols);
        // SAFETY: openpty writes two new fds; name, termios are null (not wanted); ws is a
        // valid winsize.
        let rc =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds are new and owned from here on.
        unsafe {
            Pty {
                master: OwnedFd::from_raw_fd(m),
                slave: OwnedFd::from_raw_fd(s),
            }
        }
    }

    /// The kernel sends SIGWINCH to the terminal's foreground process group (the command).
    fn resize(&self, rows: u16, cols: u16) {
        let ws = winsize(rows, cols);
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0);
    }
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// `compose` on a terminal: killed when dropped if still running.
struct OnTty {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    input: std::fs::File,
}

impl OnTty {
    fn start(s: &Stack, args: &[&str], pty: Pty) -> OnTty {
        let Pty { master, slave } = pty;
        let mut cmd = Command::new(&s.bin);
        cmd.arg("--data-root")
            .arg(s.root())
            .args(["-p", &s.name])
            .args(args)
            .current_dir(s.proj())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls: a new session whose
        // controlling terminal is the pty on stdin.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn compose on a pty");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = std::fs::File::from(master.try_clone().unwrap());
        let sink = output.clone();
        // Ends with EIO once every slave fd is closed (the command and its process exited).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTty {
            child,
            output,
            input: std::fs::File::from(master),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Sends `keys` until the output contains `want`, for up to 30 s.
    fn poke_until(&mut self, keys: &[u8], want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.text().contains(want) {
                return true;
            }
            let _ = self.input.write_all(keys);
            std::thread::sleep(Duration::from_millis(200));
        }
        self.text().contains(want)
    }

    fn wait_until(&self, want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && !self.text().contains(want) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.text().contains(want)
    }

    /// Sends `keys` (Ctrl-D, `q`...) until the command exits; its exit code.
    fn finish(mut self, keys: &[u8]) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            let _ = self.input.write_all(keys);
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for OnTty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints the terminal's size at start and after each line read: the test sees the new
/// size once it has been passed on.
const REPORT_SIZE: &str = "stty size; while read x; do stty size; done";

#[test]
fn exec_it_follows_the_terminal_size() {
    let s = Stack::new(
        "execwinch",
        &format!(
            r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
"#
        ),
    );
    s.ok(&["up", "-d"]);
    let pty = Pty::open(24, 80);
    let mut term = OnTty::start(
        &s,
        &["exec", "-it", "app", "sh", "-c", REPORT_SIZE],
        pty_ref(&pty),
    );
    assert!(
        term.wait_until("24 80"),
        "no size at start: {:?}",
        term.text()
    );
    pty.resize(50, 120);
    assert!(
        term.poke_until(b"\n", "50 120"),
        "the new size did not reach the container: {:?}",
        term.text()
    );
    pty.resize(30, 100);
    assert!(term.poke_until(b"\n", "30 100"), "{:?}", term.text());
    // Ctrl-D passes through our raw terminal: the shell inside reads its end of input.
    assert_eq!(term.finish(b"\x04"), Some(0));
}

#[test]
fn run_it_follows_the_terminal_size() {
    let s = Stack::new(
        "runwinch",
        r#"
services:
  app:
    image: busybox
"#,
    );
    let pty = Pty::open(24, 80);
    // A read cut short by the signal fails: the loop goes on; `q` ends it.
    let script = "stty size; trap 'echo got-winch' WINCH; \
                  while :; do if read x; then [ \"$x\" = q ] && exit 0; stty size; fi; done";
    let mut term = OnTty::start(
        &s,
        &["run", "--rm", "-it", "app", "sh", "-c", script],
        pty_ref(&pty),
    );
    assert!(
        term.wait_until("24 80"),
        "no size at start: {:?}",
        term.text()
    );
    pty.resize(50, 120);
    // The process inside is told (SIGWINCH) and sees the new size.
    assert!(
        term.wait_until("got-winch"),
        "no SIGWINCH inside: {:?}",
        term.text()
    );
    assert!(term.poke_until(b"\n", "50 120"), "{:?}", term.text());
    assert_eq!(term.finish(b"q\n"), Some(0));
    s.wait_for("the one-off container to go", || s.ids().is_empty());
}

/// The same pty, the test keeping its own handles (to resize it later).
fn pty_ref(p: &Pty) -> Pty {
    Pty {
        master: p.master.try_clone().unwrap(),
        slave: p.slave.try_clone().unwrap(),
    }
}

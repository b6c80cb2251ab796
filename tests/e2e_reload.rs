//! The reload loop end to end: an attached `compose up --reload` follows edits of
//! compose.yaml and `.env` and applies only the difference, on real containers (as root).
//! Waits are generous; nothing here times anything.

#![allow(clippy::unwrap_used)]

mod engine;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engine::{LOOP, Stack};

const WAIT: Duration = Duration::from_secs(90);

/// An attached `up --reload` of a stack; Ctrl-C'd (then killed) when dropped, before the
/// stack's own `down`.
struct Attached {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Attached {
    fn start(s: &Stack, env: &[(&str, &str)]) -> Attached {
        Self::start_with(s, env, &[])
    }

    /// `up [--reload] args...`.
    fn start_with(s: &Stack, env: &[(&str, &str)], args: &[&str]) -> Attached {
        let mut cmd = Command::new(&s.bin);
        cmd.args([
            "--data-root",
            &s.root().display().to_string(),
            "-p",
            &s.name,
        ])
        .arg("up")
        .current_dir(s.proj())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if env.is_empty() {
            cmd.arg("--reload");
        }
        cmd.args(args);
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || forward(out, &tx));
        std::thread::spawn(move || forward(err, &tx2));
        Attached {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line `pred` accepts (seen already or to come); returns it. stdout and
    /// stderr are read apart, so lines of the two may come in either order.
    fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "timed out waiting for {what}; output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the line `text` exactly.
    fn wait_for(&mut self, text: &str) {
        self.wait_line(text, |l| l == text);
    }

    /// Waits until a reload is applied (or says it had nothing to do).
    fn wait_applied(&mut self) {
        self.wait_line("an applied reload", |l| l.starts_with("reload: applied"));
    }

    /// Every line seen so far.
    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

fn forward(r: impl std::io::Read, tx: &mpsc::Sender<String>) {
    for l in std::io::BufReader::new(r).lines().map_while(Result::ok) {
        let _ = tx.send(l);
    }
}

impl Attached {
    /// Ctrl-C; the exit status once the `up` ends (`None` if it did not in time).
    fn interrupt(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if self.interrupt().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `ps -a` of the project by name, run outside the project dir: it works while
/// compose.yaml is broken.
fn ps(s: &Stack) -> Vec<serde_json::Value> {
    let args: Vec<String> = [
        "--data-root",
        &s.root().display().to_string(),
        "-p",
        &s.name,
    ]
    .into_iter()
    .chain(["ps", "-a", "--format", "json"])
    .map(String::from)
    .collect();
    let out = compose_tests::run(&s.bin, &args, s.dir.path(), s.dir.path(), &[], WAIT).unwrap();
    assert!(out.success(), "ps: {}", out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The id of the running container of `svc`, if any.
fn running_id(s: &Stack, svc: &str) -> Option<String> {
    ps(s)
        .into_iter()
        .find(|c| c["Service"] == svc && c["State"] == "running")
        .and_then(|c| c["ID"].as_str().map(String::from))
}

/// Replaces compose.yaml as editors do: a new file renamed over the old one.
fn save(s: &Stack, name: &str, text: &str) {
    let tmp = s.proj().join(format!(".{name}.swp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, s.proj().join(name)).unwrap();
}

fn service(name: &str, env: &str) -> String {
    format!(
        "  {name}:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo {name} DEBUG=$$DEBUG; {LOOP}\"]\n    environment: {{DEBUG: \"{env}\"}}\n"
    )
}

fn ready(s: &Stack, a: &mut Attached, services: &[&str]) {
    a.wait_line("the watch", |l| l.starts_with("reload: watching "));
    for svc in services {
        s.wait_for(svc, || running_id(s, svc).is_some());
    }
}

#[test]
fn an_edit_recreates_only_the_changed_service() {
    let yaml = |debug: &str| format!("services:\n{}{}", service("web", debug), service("db", "0"));
    let s = Stack::new("reload-edit", &yaml("0"));
    let mut a = Attached::start(&s, &[]);
    ready(&s, &mut a, &["web", "db"]);
    a.wait_for("web-1  | web DEBUG=0");
    let (web, db) = (
        running_id(&s, "web").unwrap(),
        running_id(&s, "db").unwrap(),
    );
    // The shell, PID 1 of the container (its `sleep`s come and go).
    let db_init = s.pids(std::slice::from_ref(&db)).first().copied().unwrap();

    save(&s, "compose.yaml", &yaml("1"));
    a.wait_for("reload: web: environment.DEBUG changed → recreated");
    a.wait_applied();
    // The attach follows the new container.
    a.wait_for("web-1  | web DEBUG=1");
    assert!(
        !a.output().contains("reload: db:"),
        "db untouched: {}",
        a.output()
    );
    let new_web = running_id(&s, "web").unwrap();
    assert_ne!(new_web, web, "web recreated");
    assert_eq!(running_id(&s, "db").unwrap(), db, "db kept");
    assert!(
        s.pids(std::slice::from_ref(&db)).contains(&db_init),
        "db's process kept"
    );
}

#[test]
fn added_services_start_and_removed_ones_go() {
    let s = Stack::new(
        "reload-add",
        &format!("services:\n{}{}", service("a", "0"), service("b", "0")),
    );
    // The environment variable opts in as well as the flag.
    let mut a = Attached::start(&s, &[("COMPOSE_RELOAD", "1")]);
    ready(&s, &mut a, &["a", "b"]);
    let kept = running_id(&s, "a").unwrap();

    save(
        &s,
        "compose.yaml",
        &format!("services:\n{}{}", service("a", "0"), service("c", "0")),
    );
    a.wait_for("reload: c: added → started");
    a.wait_for("reload: b: removed → stopped and removed");
    a.wait_applied();
    a.wait_for("c-1  | c DEBUG=0");
    assert_eq!(running_id(&s, "a").unwrap(), kept);
    assert!(running_id(&s, "c").is_some());
    assert!(
        ps(&s).iter().all(|c| c["Service"] != "b"),
        "b removed: {:?}",
        ps(&s)
    );
    // Ctrl-C stops what the reload started too, and the `up` ends.
    let status = a.interrupt().expect("up ends after Ctrl-C");
    assert_eq!(status.code(), Some(130));
    assert!(
        ps(&s).iter().all(|c| c["State"] != "running"),
        "all stopped: {:?}",
        ps(&s)
    );
}

#[test]
fn editing_dot_env_recreates_the_service_that_uses_it() {
    let yaml = format!(
        "services:\n  greet:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo G=$$G; {LOOP}\"]\n    environment: {{G: \"${{GREETING}}\"}}\n{}",
        service("other", "0")
    );
    let s = Stack::new("reload-env", &yaml);
    std::fs::write(s.proj().join(".env"), "GREETING=hello\n").unwrap();
    let mut a = Attached::start(&s, &[]);
    ready(&s, &mut a, &["greet", "other"]);
    a.wait_for("greet-1  | G=hello");
    let other = running_id(&s, "other").unwrap();

    save(&s, ".env", "GREETING=bonjour\n");
    a.wait_for("reload: greet: environment.G changed → recreated");
    a.wait_applied();
    a.wait_for("greet-1  | G=bonjour");
    assert_eq!(running_id(&s, "other").unwrap(), other);
}

#[test]
fn a_broken_edit_changes_nothing_and_the_next_good_save_applies() {
    let yaml = |debug: &str| format!("services:\n{}", service("web", debug));
    let s = Stack::new("reload-broken", &yaml("0"));
    let mut a = Attached::start(&s, &[]);
    ready(&s, &mut a, &["web"]);
    let web = running_id(&s, "web").unwrap();

    save(
        &s,
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    environment: [a\n",
    );
    let file = s.proj().join("compose.yaml").display().to_string();
    let err = a.wait_line("the load error", |l| l.contains("does not load"));
    assert!(
        err.contains(&format!("{file}:5:1: ")),
        "file:line named: {err}"
    );
    assert_eq!(running_id(&s, "web").unwrap(), web, "still running");

    save(&s, "compose.yaml", &yaml("2"));
    a.wait_for("reload: web: environment.DEBUG changed → recreated");
    a.wait_applied();
    a.wait_for("web-1  | web DEBUG=2");
    assert_ne!(running_id(&s, "web").unwrap(), web);
}

#[test]
fn up_of_some_services_reloads_only_those() {
    let yaml = |debug: &str| {
        format!(
            "services:\n{}{}",
            service("web", debug),
            service("other", debug)
        )
    };
    let s = Stack::new("reload-some", &yaml("0"));
    let mut a = Attached::start_with(&s, &[], &["web"]);
    ready(&s, &mut a, &["web"]);
    save(&s, "compose.yaml", &yaml("1"));
    a.wait_for("reload: web: environment.DEBUG changed → recreated");
    a.wait_applied();
    a.wait_for("web-1  | web DEBUG=1");
    assert!(!a.output().contains("reload: other"), "{}", a.output());
    assert!(running_id(&s, "other").is_none(), "other not started");
}

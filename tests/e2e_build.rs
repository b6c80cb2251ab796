//! Building images end to end with the real binary (as root): `compose build` and `up`
//! building what is missing, on the busybox base the tests load; the cache step by step,
//! shared build definitions built once, build args from the compose file, .dockerignore,
//! --chown, heredocs, and a failing RUN.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack};

const DOCKERFILE: &str = r#"FROM busybox
ARG GREETING=hello
COPY --chown=1234:1234 app/ /app/
RUN tr a-z A-Z < /app/msg.txt > /app/upper.txt && echo "$GREETING" > /app/greeting
COPY <<EOF /app/note
written by a heredoc
EOF
CMD ["sh", "-c", "cat /app/upper.txt /app/greeting /app/note; ls /app; stat -c %u /app/msg.txt; exec sleep 1000"]
"#;

fn stack(tag: &str) -> Stack {
    let yaml = format!(
        r#"
services:
  web:
    build:
      context: .
      args: {{GREETING: from-compose}}
  worker:
    build:
      context: .
      args: {{GREETING: from-compose}}
    image: example/worker:1
    command: ["sh", "-c", "cat /app/greeting; {LOOP}"]
"#
    );
    let s = Stack::new(tag, &yaml);
    let p = s.proj();
    std::fs::create_dir_all(p.join("app")).unwrap();
    std::fs::write(p.join("app/msg.txt"), "shout\n").unwrap();
    std::fs::write(p.join("app/secret.key"), "no\n").unwrap();
    std::fs::write(p.join(".dockerignore"), "**/*.key\n").unwrap();
    std::fs::write(p.join("Dockerfile"), DOCKERFILE).unwrap();
    s
}

#[test]
fn up_builds_what_is_missing_and_the_cache_holds() {
    let s = stack("build");
    let (_, err) = s.ok(&["up", "-d"]);
    let p = &s.name;
    assert!(err.contains(&format!("Image {p}-web  Built")), "{err}");
    assert!(err.contains("Image example/worker:1  Built"), "{err}");
    assert_eq!(
        err.matches("RUN tr a-z").count(),
        1,
        "one build for the shared definition: {err}"
    );
    s.wait_for("web output", || {
        s.compose(&["logs", "web"]).stdout.contains("heredoc")
    });
    let logs = s.ok(&["logs", "--no-log-prefix", "web"]).0;
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines[0], "SHOUT", "{logs}");
    assert_eq!(lines[1], "from-compose", "build args from the file: {logs}");
    assert_eq!(lines[2], "written by a heredoc");
    assert!(!logs.contains("secret.key"), ".dockerignore'd: {logs}");
    assert!(logs.contains("\n1234\n"), "--chown: {logs}");

    // Nothing changed: `build` takes every step from the cache; `up` builds nothing.
    let (_, out) = s.ok(&["build"]);
    assert_eq!(out.matches("CACHED").count(), 3, "{out}");
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(!err.contains("Built"), "{err}");

    // A changed source reruns its step and what follows; --build rebuilds.
    std::fs::write(s.proj().join("app/msg.txt"), "louder\n").unwrap();
    let (_, out) = s.ok(&["build", "web"]);
    assert_eq!(out.matches("CACHED").count(), 0, "{out}");
    let (_, err) = s.ok(&["up", "-d", "--build"]);
    assert!(err.contains(&format!("Image {p}-web  Built")), "{err}");
}

#[test]
fn a_failing_build_fails_up_naming_the_step_and_creates_nothing() {
    let s = stack("buildfail");
    std::fs::write(
        s.proj().join("Dockerfile"),
        "FROM busybox\nRUN echo about to fail; exit 7\n",
    )
    .unwrap();
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("RUN echo about to fail; exit 7"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("non-zero code: 7"), "{}", out.stderr);
    assert!(out.stderr.contains("about to fail"), "{}", out.stderr);
    assert!(s.ps_json().is_empty(), "no container was made");
    let nobuild = s.compose(&["up", "-d", "--no-build"]);
    assert!(!nobuild.success());
    assert!(nobuild.stderr.contains("--no-build"), "{}", nobuild.stderr);
}

#[test]
fn progress_plain_tty_and_quiet_with_a_failing_step() {
    let s = stack("buildprog");
    std::fs::write(
        s.proj().join("Dockerfile"),
        "FROM busybox\nRUN echo step-output; echo more >&2\nRUN echo going-wrong; exit 4\n",
    )
    .unwrap();
    let out = s.compose(&["--progress", "plain", "build", "web"]);
    assert!(!out.success());
    let err = &out.stderr;
    assert!(err.contains("#1 [web 1/3] FROM busybox\n"), "{err}");
    assert!(
        err.contains(
            "#2 [web 2/3] RUN echo step-output; echo more >&2\n#2 step-output\n#2 more\n#2 DONE "
        ),
        "{err}"
    );
    assert!(err.contains("#3 going-wrong\n"), "{err}");
    assert!(
        err.contains("[web 3/3] RUN echo going-wrong; exit 4"),
        "{err}"
    );
    assert!(err.contains("non-zero code: 4"), "{err}");

    let out = s.compose(&["--progress", "tty", "build", "web"]);
    let err = &out.stderr;
    assert!(
        err.contains(" => CACHED [web 2/3] RUN echo step-output"),
        "{err}"
    );
    // The failing step stays on screen with its output under it.
    assert!(
        err.contains(" => [web 3/3] RUN echo going-wrong; exit 4\n\x1b[2m => > going-wrong"),
        "{err:?}"
    );

    let out = s.compose(&["build", "-q", "web"]);
    assert!(!out.success());
    assert!(
        !out.stderr.contains("#1 ") && !out.stderr.contains(" => "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("non-zero code: 4"), "{}", out.stderr);
}

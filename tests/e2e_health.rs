//! Health checks end to end (as root): `depends_on: service_healthy`, `up --wait`, an
//! unhealthy dependency, one without a check; probes run in the container as its process.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack, line_of};

fn yaml(db_check: &str, web_condition: &str) -> String {
    format!(
        r#"
services:
  db:
    image: busybox
    user: "1000"
    command: ["sh", "-c", "sleep 0.5; touch /tmp/ready; {LOOP}"]
    healthcheck:
      test: {db_check}
      interval: 100ms
      timeout: 2s
      retries: 3
      start_period: 1s
      start_interval: 100ms
  web:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    depends_on:
      db: {{condition: {web_condition}}}
"#
    )
}

#[test]
fn a_healthy_dependency_is_waited_for() {
    // The probe runs as the container's user: `id -u` must say 1000.
    let s = Stack::new(
        "healthy",
        &yaml(
            r#"["CMD-SHELL", "test -f /tmp/ready && test $(id -u) = 1000"]"#,
            "service_healthy",
        ),
    );
    let (_, err) = s.ok(&["up", "-d"]);
    let p = &s.name;
    let healthy = line_of(&err, &format!("Container {p}-db-1  Healthy"));
    let web = line_of(&err, &format!("Container {p}-web-1  Starting"));
    assert!(healthy < web, "{err}");
}

#[test]
fn an_unhealthy_dependency_fails_up_naming_it() {
    let s = Stack::new(
        "unhealthy",
        &yaml(
            r#"["CMD-SHELL", "echo not ready; exit 1"]"#,
            "service_healthy",
        ),
    );
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success(), "{}", out.stderr);
    let p = &s.name;
    assert!(
        out.stderr.contains(&format!(
            "dependency failed to start: container {p}-db-1 is unhealthy"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not ready"),
        "the probe's output: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&format!("{p}-web-1  Started")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_dependency_without_a_check_is_an_error() {
    let s = Stack::new(
        "nocheck",
        &yaml(r#"["CMD", "true"]"#, "service_healthy").replace(
            "    healthcheck:\n      test: [\"CMD\", \"true\"]\n",
            "    healthcheck:\n      disable: true\n      test: [\"CMD\", \"true\"]\n",
        ),
    );
    let out = s.compose(&["up", "-d"]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("no healthcheck configured"),
        "{}",
        out.stderr
    );
}

#[test]
fn up_wait_returns_once_healthy_and_fails_on_an_exit() {
    let s = Stack::new(
        "wait",
        &yaml(r#"["CMD-SHELL", "test -f /tmp/ready"]"#, "service_started"),
    );
    let (_, err) = s.ok(&["up", "--wait"]);
    let p = &s.name;
    assert!(
        err.contains(&format!("Container {p}-db-1  Healthy")),
        "{err}"
    );
    let ps = s.ps_json();
    assert!(ps.iter().all(|c| c["State"] == "running"), "{ps:?}");
    let db = ps.iter().find(|c| c["Service"] == "db").unwrap();
    assert_eq!(db["Health"], "healthy", "{ps:?}");
    let (table, _) = s.ok(&["ps"]);
    assert!(table.contains("(healthy)"), "{table}");

    s.write(
        "services:\n  broken:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 100ms\n      retries: 50\n",
    );
    let out = s.compose(&["up", "--wait", "--remove-orphans"]);
    assert!(!out.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("exited before it became healthy"),
        "{}",
        out.stderr
    );
}

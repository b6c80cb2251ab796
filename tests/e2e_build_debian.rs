//! A multi-stage build on a local Debian base and busybox, end to end (as root): the Debian
//! rootfs is made from this host's packages by `scripts/debian-rootfs` (no network) and
//! built into an image by a service of the project; the app's build takes it through a
//! `service:` named context, copies files both ways between the Debian and busybox
//! stages, runs bash and dash, and both results run under `compose up`.

#![allow(clippy::unwrap_used)]

mod engine;

use compose_tests::repo_root;
use engine::{LOOP, Stack};

const DOCKERFILE: &str = r#"FROM busybox AS tools
RUN mkdir /results && echo from-busybox > /results/bb.txt
FROM deb AS debian-stage
COPY --from=tools /results /results
RUN bash -c 'for i in 1 2 3; do echo "bash line $i"; done' > /results/bash.txt \
 && dash -c 'echo "dash $((6 * 7))"' > /results/dash.txt \
 && cat /etc/debian_version > /results/debian_version \
 && readlink /bin/sh > /results/sh
FROM busybox
COPY --from=debian-stage /results /results
"#;

fn stack() -> Option<Stack> {
    if !std::path::Path::new("/etc/debian_version").exists() {
        eprintln!("skipped: needs a Debian host");
        return None;
    }
    let yaml = format!(
        r#"
services:
  debian:
    build:
      context: ./debian
      dockerfile_inline: "FROM scratch\nCOPY rootfs/ /\nCMD [\"bash\"]\n"
    command: ["bash", "-c", "{LOOP}"]
  app:
    build:
      context: .
      additional_contexts:
        deb: service:debian
    command: ["sh", "-c", "cat /results/*; {LOOP}"]
  deb-app:
    build:
      context: .
      target: debian-stage
      additional_contexts:
        deb: service:debian
    command: ["bash", "-c", "echo \"running $$BASH_VERSION\"; cat /results/dash.txt; {LOOP}"]
"#
    );
    let s = Stack::new("debbuild", &yaml);
    let p = s.proj();
    std::fs::create_dir(p.join("debian")).unwrap();
    let script = repo_root().join("scripts/debian-rootfs");
    let out = std::process::Command::new(&script)
        .arg(p.join("debian/rootfs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debian-rootfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(p.join("Dockerfile"), DOCKERFILE).unwrap();
    Some(s)
}

#[test]
fn debian_and_busybox_stages_run_under_up() {
    let Some(s) = stack() else {
        return;
    };
    let (_, err) = s.ok(&["up", "-d"]);
    let p = &s.name;
    assert!(err.contains(&format!("Image {p}-debian  Built")), "{err}");
    assert!(err.contains(&format!("Image {p}-app  Built")), "{err}");
    // The Debian base is built before the app that takes it.
    assert!(
        err.find(&format!("{p}-debian  Built")) < err.find(&format!("{p}-app  Built")),
        "{err}"
    );
    s.wait_for("app output", || {
        s.compose(&["logs", "app"]).stdout.contains("from-busybox")
    });
    let logs = s.ok(&["logs", "--no-log-prefix", "app"]).0;
    assert!(
        logs.contains("bash line 1\nbash line 2\nbash line 3\n"),
        "{logs}"
    );
    assert!(logs.contains("dash 42"), "{logs}");
    assert!(
        logs.contains("from-busybox"),
        "busybox → debian → busybox: {logs}"
    );
    assert!(logs.contains("dash\n"), "/bin/sh is dash: {logs}");
    let version = std::fs::read_to_string("/etc/debian_version").unwrap();
    assert!(logs.contains(version.trim()), "{logs}");

    s.wait_for("deb-app output", || {
        s.compose(&["logs", "deb-app"]).stdout.contains("dash 42")
    });
    let logs = s.ok(&["logs", "--no-log-prefix", "deb-app"]).0;
    assert!(
        logs.contains("running 5."),
        "bash in the Debian image: {logs}"
    );
}

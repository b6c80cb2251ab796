//! `compose build --pull` and `build.pull: true` end to end (as root): the base image is
//! only in a real registry on 127.0.0.1 (Debian's `docker-registry`, seeded with our own
//! push); a build without pull refuses it, with pull fetches it and builds on it.

#![allow(clippy::unwrap_used, dead_code)]

mod engine;
#[path = "../crates/image/tests/registry/harness.rs"]
mod harness;

use engine::{LOOP, Stack, load_busybox};
use harness::Registry;

fn seeded() -> (Registry, String) {
    let reg = Registry::start();
    let seed = tempfile::tempdir().unwrap();
    let bin = compose_tests::compose_bin().unwrap();
    load_busybox(&bin, seed.path());
    let image = format!("{}/base/busybox:1", reg.host());
    for args in [
        vec!["image", "tag", "busybox", &image],
        vec!["image", "push", "-q", &image],
    ] {
        let out = std::process::Command::new(&bin)
            .arg("--data-root")
            .arg(seed.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (reg, image)
}

#[test]
fn build_pull_fetches_the_base_from_the_registry() {
    if !std::path::Path::new(harness::REGISTRY_BIN).exists() {
        eprintln!("skipped: needs docker-registry");
        return;
    }
    let (_reg, image) = seeded();
    let yaml = |pull: bool| {
        format!(
            "services:\n  app:\n    build:\n      context: .\n      pull: {pull}\n    command: [\"sh\", \"-c\", \"cat /built; {LOOP}\"]\n"
        )
    };
    let s = Stack::new("buildpull", &yaml(false));
    std::fs::write(
        s.proj().join("Dockerfile"),
        format!("FROM {image}\nRUN echo built-on-pulled > /built\n"),
    )
    .unwrap();
    let out = s.compose(&["build"]);
    assert!(!out.success());
    assert!(out.stderr.contains("not in the store"), "{}", out.stderr);

    s.ok(&["build", "--pull"]);
    s.ok(&["up", "-d"]);
    s.wait_for("output", || {
        s.compose(&["logs", "app"])
            .stdout
            .contains("built-on-pulled")
    });
    s.ok(&["down"]);

    // build.pull: true in the file does the same for `up`.
    s.ok(&["image", "rm", &image]);
    s.write(&yaml(true));
    let (_, err) = s.ok(&["up", "-d", "--build"]);
    assert!(err.contains("Built"), "{err}");
}

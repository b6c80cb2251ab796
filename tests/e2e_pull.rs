//! Images from a registry end to end (as root): a real registry (Debian's
//! `docker-registry`) on 127.0.0.1, seeded with our own `image push`; `up` pulls what a
//! fresh data root lacks, `compose pull` refreshes, `--pull never` refuses, and an image
//! in use by a container is not removed.

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
    let image = format!("{}/lib/busybox:1", reg.host());
    let compose = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .arg("--data-root")
            .arg(seed.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    compose(&["image", "tag", "busybox", &image]);
    compose(&["image", "push", "-q", &image]);
    (reg, image)
}

#[test]
fn up_pulls_missing_images_and_pull_policies_hold() {
    let (_reg, image) = seeded();
    let yaml = format!(
        "services:\n  app:\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo pulled-and-running; {LOOP}\"]\n"
    );
    let s = Stack::new("pull", &yaml);
    // The stack's data root has busybox but not the registry's name for it.
    let never = s.compose(&["up", "-d", "--pull", "never"]);
    assert!(!never.success(), "{}", never.stderr);
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(err.contains(&format!("Image {image}  Pulled")), "{err}");
    s.wait_for("output", || {
        s.compose(&["logs", "app"])
            .stdout
            .contains("pulled-and-running")
    });
    // Present now: a second `up` does not pull; `compose pull` does.
    let (_, err) = s.ok(&["up", "-d"]);
    assert!(!err.contains("Pulling"), "{err}");
    s.ok(&["pull", "-q"]);
    // In use by a container: not removed.
    let out = s.compose(&["image", "rm", &image]);
    assert!(
        !out.success(),
        "an image in use was removed: {}",
        out.stdout
    );
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    s.ok(&["down"]);
    s.ok(&["image", "rm", &image]);
}

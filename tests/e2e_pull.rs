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

/// A registry behind Basic auth: `compose image pull` finds the password through the
/// docker config's `credHelpers` (a `docker-credential-*` program on PATH), and fails
/// clearly without it.
#[test]
fn pull_asks_a_credential_helper() {
    let reg = Registry::with_user("alice", "wonderland");
    let seed = tempfile::tempdir().unwrap();
    let bin = compose_tests::compose_bin().unwrap();
    load_busybox(&bin, seed.path());
    let image = format!("{}/private/busybox:1", reg.host());
    let compose = |root: &std::path::Path, env: &[(&str, String)], args: &[&str]| {
        use std::io::Write;
        let mut child = std::process::Command::new(&bin)
            .arg("--data-root")
            .arg(root)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"wonderland\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let nothing = seed.path().join("no-config");
    let plain = [("DOCKER_CONFIG", nothing.display().to_string())];
    compose(seed.path(), &plain, &["image", "tag", "busybox", &image]);
    let out = compose(
        seed.path(),
        &plain,
        &[
            "image",
            "push",
            "-q",
            "--username",
            "alice",
            "--password-stdin",
            &image,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let denied = compose(&root, &plain, &["image", "pull", "-q", &image]);
    assert!(!denied.status.success());

    let helpers = tmp.path().join("bin");
    std::fs::create_dir(&helpers).unwrap();
    let helper = helpers.join("docker-credential-testpass");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread -r url\necho \"$url\" >> \"$0.asked\"\necho '{\"Username\":\"alice\",\"Secret\":\"wonderland\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = tmp.path().join("docker");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"testpass"}}}}"#, reg.host()),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helpers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("DOCKER_CONFIG", config.display().to_string()),
        ("PATH", path),
    ];
    let out = compose(&root, &env, &["image", "pull", "-q", &image]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked = std::fs::read_to_string(helpers.join("docker-credential-testpass.asked")).unwrap();
    assert_eq!(asked.trim(), reg.host());
}

/// `compose pull` fetches and verifies (as `skopeo copy`); the layers are unpacked once,
/// when `up` first creates containers on the image, however many at once.
#[test]
fn pull_defers_unpacking_to_the_first_create() {
    let (_reg, image) = seeded();
    let svc = |n: &str| {
        format!(
            "  {n}:\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo {n}-up; {LOOP}\"]\n"
        )
    };
    let yaml = format!("services:\n{}{}{}", svc("a"), svc("b"), svc("c"));
    let s = Stack::new("pull-defer", &yaml);
    let snapshots = || {
        std::fs::read_dir(s.root().join("snapshots"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0)
    };
    // An empty store: busybox's names go, and with them its layers.
    s.ok(&["image", "rm", "-f", "busybox", "compose-example/busybox"]);
    s.ok(&["image", "prune"]);
    assert_eq!(snapshots(), 0);
    s.ok(&["pull", "-q"]);
    let (listed, _) = s.ok(&["image", "ls"]);
    assert!(listed.contains("lib/busybox"), "{listed}");
    assert_eq!(snapshots(), 0, "pull stored the blobs only");
    s.ok(&["up", "-d"]);
    let layers = snapshots();
    assert!(layers > 0, "made at the first create");
    for n in ["a", "b", "c"] {
        s.wait_for("output", || {
            s.compose(&["logs", n]).stdout.contains(&format!("{n}-up"))
        });
    }
    assert_eq!(snapshots(), layers);
}

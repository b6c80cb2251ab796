//! Image garbage collection next to running containers (as root): untagging the image a
//! container runs on, then pruning, keeps the container's snapshots until it is removed.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack};

fn snapshots(s: &Stack) -> usize {
    std::fs::read_dir(s.root().join("snapshots"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn prune_after_forced_untag_keeps_a_running_containers_rootfs() {
    let yaml = format!(
        "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n"
    );
    let s = Stack::new("gc", &yaml);
    s.ok(&["up", "-d"]);
    let before = snapshots(&s);
    assert!(before > 0, "busybox is unpacked");

    // Every name of the image goes (the base-images script gives it two).
    s.ok(&["image", "rm", "-f", "busybox", "compose-example/busybox"]);
    let (left, _) = s.ok(&["image", "ls", "-q"]);
    assert_eq!(left.trim(), "", "no image left: {left}");
    let (out, _) = s.ok(&["image", "prune"]);
    assert!(!out.contains("deleted snapshot"), "{out}");
    assert_eq!(snapshots(&s), before, "the container's layers stay");

    // The container still works, and can be restarted on the same rootfs.
    s.ok(&["exec", "-T", "app", "ls", "/bin/busybox"]);
    s.ok(&["restart", "-t", "1", "app"]);
    s.ok(&["exec", "-T", "app", "ls", "/bin/busybox"]);

    // Once the container is gone, so is what only it held.
    s.ok(&["down", "-t", "0"]);
    let (out, _) = s.ok(&["image", "prune"]);
    assert!(out.contains("deleted snapshot"), "{out}");
    assert_eq!(snapshots(&s), 0);
}

/// A data root given relative to the working directory names the same place for the shims
/// and the supervisor, which run from `/`.
#[test]
fn a_relative_data_root_is_the_same_for_every_process() {
    let yaml = format!(
        "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo relative-ok; {LOOP}\"]\n"
    );
    let s = Stack::new("rel", &yaml);
    let bin = compose_tests::compose_bin().unwrap();
    let relative = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .current_dir(s.proj())
            .args(["--data-root", "../root", "-p", &s.name])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    relative(&["up", "-d"]);
    s.wait_for("the container's output", || {
        relative(&["logs", "app"]).contains("relative-ok")
    });
    // The absolute root sees the same project.
    assert_eq!(s.ps_json().len(), 1);
    relative(&["down", "-t", "0"]);
    assert!(s.ps_json().is_empty());
}

#[test]
fn a_lost_snapshot_is_made_again_from_its_blob() {
    let yaml = format!(
        "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n"
    );
    let s = Stack::new("gc-lost", &yaml);
    let dir = s.root().join("snapshots");
    // The layers are unpacked from their stored blobs when a container needs them (a pull
    // may defer that; here they are removed by hand).
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_dir_all(e.unwrap().path()).unwrap();
    }
    assert_eq!(snapshots(&s), 0);
    s.ok(&["up", "-d"]);
    assert!(snapshots(&s) > 0, "made again");
    let (out, _) = s.ok(&["exec", "-T", "app", "cat", "/bin/busybox"]);
    assert!(!out.is_empty());
}

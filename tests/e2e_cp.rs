//! `compose cp` both ways (as root), and that a symlink in the container can neither send a
//! copy to the host's files nor read them.

#![allow(clippy::unwrap_used)]

mod engine;

use engine::{LOOP, Stack};

#[test]
fn cp_in_and_out_and_symlinks_stay_inside() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
    let yaml = format!(
        "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"mkdir -p /data/sub && echo made-inside > /data/sub/made.txt && ln -s {0} /data/evil && ln -s {0}/secret /data/evil-file && touch /tmp/ready; {LOOP}\"]\n",
        outside.path().display()
    );
    let s = Stack::new("cp", &yaml);
    s.ok(&["up", "-d"]);
    s.wait_for("the container's files", || {
        let t = s.root().join("probe");
        s.compose(&["cp", "app:/tmp/ready", t.to_str().unwrap()])
            .success()
    });
    // Out: a file, and a directory into an existing local directory.
    let local = s.proj().join("out");
    std::fs::create_dir(&local).unwrap();
    s.ok(&[
        "cp",
        "app:/data/sub/made.txt",
        local.join("copy.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(local.join("copy.txt")).unwrap(),
        "made-inside\n"
    );
    s.ok(&["cp", "app:/data/sub", local.to_str().unwrap()]);
    assert!(local.join("sub/made.txt").is_file());
    // In, then back out.
    std::fs::write(s.proj().join("in.txt"), "from the host\n").unwrap();
    s.ok(&[
        "cp",
        s.proj().join("in.txt").to_str().unwrap(),
        "app:/data/",
    ]);
    s.ok(&[
        "cp",
        "app:/data/in.txt",
        local.join("back.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(local.join("back.txt")).unwrap(),
        "from the host\n"
    );

    // A symlink to a host path resolves inside the container's root.
    let _ = s.compose(&[
        "cp",
        s.proj().join("in.txt").to_str().unwrap(),
        "app:/data/evil/",
    ]);
    let names: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["secret"],
        "nothing was written outside the container"
    );
    let leak = s.compose(&[
        "cp",
        "app:/data/evil-file",
        local.join("leak").to_str().unwrap(),
    ]);
    assert!(
        !leak.success(),
        "read a host file through a container symlink"
    );
    assert!(!local.join("leak").exists());
    s.ok(&["down"]);
}

//! podman drives compose-oci as its OCI runtime (through conmon): a busybox image imported
//! locally, run with `--rm`. podman's own state lives in a temp dir.

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// The compose-oci under test: `COMPOSE_OCI_BIN` when set (CI points it at the static
/// build that `bench/runtime.sh` times), else the one cargo built for these tests.
fn ours() -> String {
    std::env::var("COMPOSE_OCI_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_compose-oci").to_string())
}

#[test]
fn podman_runs_a_container_with_compose_oci() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for applet in ["sh", "echo", "grep"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    // podman's default ulimits (nofile 1048576) exceed this host's hard limit: see DESIGN.md.
    let conf = tmp.path().join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
         [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(tmp.path().join("storage"))
            .arg("--runroot")
            .arg(tmp.path().join("run"))
            .arg("--tmpdir")
            .arg(tmp.path().join("tmp"))
            .args(["--storage-driver", "vfs", "--runtime", &ours()])
            .args(args);
        c
    };
    let tar = tmp.path().join("image.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(made.success());
    let import = podman(&[
        "import",
        "-q",
        tar.to_str().unwrap(),
        "localhost/compose-oci-test:1",
    ])
    .output()
    .expect("podman is needed (apt-get install podman)");
    assert!(import.status.success(), "{import:?}");
    // `podman run --rm [-t] --network none IMAGE sh -c SCRIPT`: its stdout.
    let run = |tty: bool, script: &str| {
        let mut args = vec!["run", "--rm"];
        if tty {
            args.push("-t");
        }
        args.extend([
            "--network",
            "none",
            "localhost/compose-oci-test:1",
            "sh",
            "-c",
            script,
        ]);
        let out = podman(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // podman's seccomp profile went through our compiler.
    let stdout = run(false, "echo hello; grep Seccomp: /proc/self/status");
    assert_eq!(stdout, "hello\nSeccomp:\t2\n");
    // -t: conmon hands us its console socket; the process gets a terminal of its own
    // container's /dev/pts, whose output conmon relays (with CR LF line ends).
    let stdout = run(true, "tty; test -t 0 && echo stdin-is-a-tty");
    assert_eq!(stdout, "/dev/pts/0\r\nstdin-is-a-tty\r\n");
    let left = podman(&["ps", "-aq"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout), "");
    let _ = podman(&["rmi", "-a", "-f"]).output();
    remove_conmon_cgroups();
    // compose-oci keeps its cgroup parent across containers: gone once none is left.
    if let Ok(h) = compose_runtime::cgroups::detect() {
        compose_runtime::cgroups::remove_parent(h, "compose-oci");
    }
}

/// conmon puts itself in `libpod_parent/conmon` of each cgroup controller and podman leaves
/// those behind; remove them once empty (rmdir fails on a cgroup still in use).
fn remove_conmon_cgroups() {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for c in controllers.flatten() {
        let parent = c.path().join("libpod_parent");
        let _ = std::fs::remove_dir(parent.join("conmon"));
        let _ = std::fs::remove_dir(parent);
    }
}

//! Fixtures: a busybox rootfs per test, a runtime in a temp state dir, and a guard that
//! removes the container (processes, cgroup, state) even when the test fails.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use compose_runtime::{Container, CreateOptions, ExitStatus, Rootfs, Runtime};
use oci_spec::runtime::{Mount, MountBuilder, Spec};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The cgroup parent of every test container; kept by the runtime across containers,
/// removed by each fixture's drop once no test's container is left in it.
pub const CGROUP_PARENT: &str = "compose-test";

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub rt: Runtime,
    pub id: String,
}

/// A unique id per test and process.
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Puts busybox and its applet links in `dir/bin`.
pub fn busybox_into(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    for d in ["etc", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        assert!(
            Path::new("/bin/busybox").exists(),
            "apt-get install busybox-static"
        );
        let tmp = tempfile::tempdir().unwrap();
        let rt = Runtime::new(tmp.path().join("state"), CGROUP_PARENT).unwrap();
        std::fs::create_dir(tmp.path().join("out")).unwrap();
        Fixture {
            tmp,
            rt,
            id: unique(name),
        }
    }

    /// A busybox rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        let r = self.tmp.path().join("rootfs");
        if !r.exists() {
            busybox_into(&r);
        }
        r
    }

    /// The host side of the container's `/out`.
    pub fn out(&self) -> PathBuf {
        self.tmp.path().join("out")
    }

    pub fn read_out(&self, name: &str) -> String {
        std::fs::read_to_string(self.out().join(name)).unwrap_or_default()
    }

    /// Docker's default spec running `sh -c script`, with `/out` bound read-write.
    pub fn spec(&self, script: &str) -> Spec {
        let mut spec = compose_runtime::spec::docker_default(&["sh", "-c", script]).unwrap();
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        mounts.push(bind(&self.out(), "/out", &["rbind", "rw"]));
        spec.set_mounts(Some(mounts));
        spec
    }

    pub fn create(&self, spec: &Spec) -> compose_runtime::Result<Guard> {
        self.create_on(spec, &Rootfs::Dir(self.rootfs()))
    }

    pub fn create_on(&self, spec: &Spec, rootfs: &Rootfs) -> compose_runtime::Result<Guard> {
        let c = self
            .rt
            .create(&self.id, spec, rootfs, &CreateOptions::default())?;
        Ok(Guard(Some(c)))
    }

    /// Create, start, wait.
    pub fn run(&self, spec: &Spec) -> ExitStatus {
        let mut g = self.create(spec).unwrap();
        g.c().start().unwrap();
        g.c().wait().unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Best effort: another test's container may still use it (then the last one's
        // fixture removes it).
        compose_runtime::cgroups::remove_parent(self.rt.hierarchy(), CGROUP_PARENT);
    }
}

pub fn bind(src: &Path, dest: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(src)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap()
}

/// Deletes the container (forcibly) when dropped.
pub struct Guard(pub Option<Container>);

impl Guard {
    pub fn c(&mut self) -> &mut Container {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take()
            && let Err(e) = c.delete(true)
        {
            eprintln!("cleanup failed: {e}");
        }
    }
}

/// Polls `cond` for up to 10 s.
pub fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

//! The cgroup v2 driver, on the cgroup2 mount a hybrid host has at /sys/fs/cgroup/unified
//! (no controllers there: this checks joining, listing, freezing, killing and removal, not
//! limits).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use compose_runtime::cgroups::{Cgroup, Limits, V2};

struct Cleanup(std::process::Child, V2, std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = self.1.remove();
        // The parent stays after a remove; this test's own one goes at the end.
        let _ = std::fs::remove_dir(&self.2);
    }
}

#[test]
fn v2_join_freeze_kill_remove() -> common::TestResult {
    let root = Path::new("/sys/fs/cgroup/unified");
    if !root.join("cgroup.procs").exists() {
        eprintln!("no cgroup2 mount at {}: skipped", root.display());
        return Ok(());
    }
    let id = common::unique("v2");
    let parent = common::unique(&format!("{}-v2", common::CGROUP_PARENT));
    let cg = V2::new(root, &parent, &id);
    cg.create(&Limits::default())?;
    let child = std::process::Command::new("/bin/busybox")
        .args(["sleep", "100"])
        .spawn()?;
    let pid = child.id() as i32;
    let mut c = Cleanup(child, V2::new(root, &parent, &id), root.join(&parent));
    std::fs::write(&cg.procs_files()[0], pid.to_string())?;
    assert_eq!(cg.pids()?, vec![pid]);
    cg.set_frozen(true)?;
    cg.set_frozen(false)?;
    cg.kill_all()?;
    let st = c.0.wait()?;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGKILL)
    );
    assert!(cg.pids()?.is_empty());
    assert!(!cg.oom_killed());
    cg.remove()?;
    assert!(!root.join(&parent).join(&id).exists());
    assert!(
        root.join(&parent).exists(),
        "the parent is kept for the next one"
    );
    Ok(())
}

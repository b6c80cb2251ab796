//! Lifecycle, exit codes, signals and stop, as root on real kernel objects.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, TestResult, wait_for};
use compose_runtime::{Error, Status};

#[test]
fn true_exits_zero() {
    let f = Fixture::new("true");
    let mut spec = f.spec("");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["/bin/true".into()]));
    let st = f.run(&spec);
    assert_eq!((st.code, st.signal, st.oom_killed), (0, None, false));
}

#[test]
fn exit_code_is_reported() {
    let f = Fixture::new("exit3");
    assert_eq!(f.run(&f.spec("exit 3")).code, 3);
}

#[test]
fn states_from_create_to_delete() -> TestResult {
    let f = Fixture::new("states");
    let mut g = f.create(&f.spec("sleep 100"))?;
    assert_eq!(g.c().status(), Status::Created);
    // Another process would load it from the state dir.
    let other = f.rt.load(&f.id)?;
    assert_eq!(other.status(), Status::Created);
    assert_eq!(other.pid(), g.c().pid());
    g.c().start()?;
    assert_eq!(g.c().status(), Status::Running);
    assert_eq!(f.rt.load(&f.id)?.status(), Status::Running);
    assert!(matches!(g.c().start(), Err(Error::BadState { .. })));
    // Killed from the "other process"; the creator reaps it.
    other.kill(libc::SIGKILL)?;
    let st = g.c().wait()?;
    assert_eq!((st.code, st.signal), (137, Some(libc::SIGKILL)));
    assert_eq!(g.c().status(), Status::Stopped);
    assert_eq!(f.rt.load(&f.id)?.record().exit, Some(st));
    let dir = g.c().dir().to_path_buf();
    g.0.take().unwrap().delete(false)?;
    assert!(!dir.exists());
    assert!(matches!(f.rt.load(&f.id), Err(Error::NotFound(_))));
    Ok(())
}

#[test]
fn signal_with_a_handler_reaches_the_init() -> TestResult {
    let f = Fixture::new("trap");
    let mut g =
        f.create(&f.spec("trap 'exit 5' USR1; touch /out/ready; while :; do sleep 0.05; done"))?;
    g.c().start()?;
    wait_for(|| f.out().join("ready").exists());
    g.c().kill(libc::SIGUSR1)?;
    assert_eq!(g.c().wait()?.code, 5);
    Ok(())
}

#[test]
fn a_stale_record_is_not_a_live_container() -> TestResult {
    let f = Fixture::new("stale");
    let mut g = f.create(&f.spec("sleep 100"))?;
    g.c().start()?;
    let state = g.c().dir().join("state.json");
    let text = std::fs::read_to_string(&state)?;
    let start = g.c().record().start_time;
    std::fs::write(
        &state,
        text.replace(&format!("\"start_time\":{start}"), "\"start_time\":1"),
    )?;
    // Same pid, other start time: another process.
    assert_eq!(f.rt.load(&f.id)?.status(), Status::Stopped);
    std::fs::write(&state, text)?;
    assert_eq!(f.rt.load(&f.id)?.status(), Status::Running);
    Ok(())
}

#[test]
fn stop_kills_what_ignores_sigterm_after_the_grace_period() -> TestResult {
    let f = Fixture::new("stop");
    let script = "trap '' TERM; sleep 1000 & sleep 1000 & touch /out/ready; wait";
    let mut g = f.create(&f.spec(script))?;
    g.c().start()?;
    wait_for(|| f.out().join("ready").exists());
    assert!(g.c().pids()?.len() >= 3, "{:?}", g.c().pids()?);
    let t = Instant::now();
    g.c().stop(libc::SIGTERM, Duration::from_millis(300))?;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(g.c().pids()?, Vec::<i32>::new());
    assert_eq!(g.c().wait()?.code, 137);
    Ok(())
}

#[test]
fn missing_binary_fails_start() -> TestResult {
    let f = Fixture::new("nobin");
    let mut spec = f.spec("");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["no-such-cmd".into()]));
    let mut g = f.create(&spec)?;
    let err = g.c().start().unwrap_err().to_string();
    assert!(err.contains("exec \"no-such-cmd\""), "{err}");
    assert_eq!(g.c().wait()?.code, 127);
    Ok(())
}

/// With `start_at_once` (`run`), the process goes on once set up: no exec fifo is made,
/// the creator's `start` only waits for the exec (and reports its failure), and a second
/// `start` is refused.
#[test]
fn start_at_once_needs_no_exec_fifo() -> TestResult {
    let f = Fixture::new("atonce");
    let opts = compose_runtime::CreateOptions {
        start_at_once: true,
        ..Default::default()
    };
    let rootfs = compose_runtime::Rootfs::Dir(f.rootfs());
    let spec = f.spec("touch /out/ran; exit 4");
    let c = f.rt.create(&f.id, &spec, &rootfs, &opts)?;
    let mut g = common::Guard(Some(c));
    assert!(
        !g.c().dir().join("exec.fifo").exists(),
        "an exec fifo was made"
    );
    // It runs without a start (the fifo would have held it until one).
    wait_for(|| f.out().join("ran").exists());
    g.c().start()?;
    assert!(matches!(g.c().start(), Err(Error::BadState { .. })));
    assert_eq!(g.c().wait()?.code, 4);
    drop(g);

    let f = Fixture::new("atonce-nobin");
    let rootfs = compose_runtime::Rootfs::Dir(f.rootfs());
    let mut spec = f.spec("");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["no-such-cmd".into()]));
    let c = f.rt.create(&f.id, &spec, &rootfs, &opts)?;
    let mut g = common::Guard(Some(c));
    let err = g.c().start().unwrap_err().to_string();
    assert!(err.contains("exec \"no-such-cmd\""), "{err}");
    assert_eq!(g.c().wait()?.code, 127);
    Ok(())
}

#[test]
fn create_fails_cleanly_on_a_bad_rootfs() {
    let f = Fixture::new("badroot");
    let spec = f.spec("true");
    let missing = f.tmp.path().join("nope");
    let err = f
        .create_on(&spec, &compose_runtime::Rootfs::Dir(missing))
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(!f.rt.root().join(&f.id).exists());
}

#[test]
fn only_the_creator_learns_the_exit_status() -> TestResult {
    let f = Fixture::new("notparent");
    let mut g = f.create(&f.spec("exit 4"))?;
    let mut other = f.rt.load(&f.id)?;
    g.c().start()?;
    let state = other.state();
    assert_eq!(state.id, f.id);
    assert!(matches!(other.wait(), Err(Error::NotParent(_))));
    assert_eq!(g.c().wait()?.code, 4);
    // Once the creator recorded it, anyone can read it.
    assert_eq!(f.rt.load(&f.id)?.wait()?.code, 4);
    assert_eq!(f.rt.load(&f.id)?.state().pid, None);
    Ok(())
}

#[test]
fn another_process_can_start_it() -> TestResult {
    let f = Fixture::new("xstart");
    let mut g = f.create(&f.spec("echo started > /out/s"))?;
    f.rt.load(&f.id)?.start()?;
    assert_eq!(g.c().wait()?.code, 0);
    assert_eq!(f.read_out("s"), "started\n");
    Ok(())
}

#[test]
fn oom_score_adj_is_set() {
    let f = Fixture::new("oomadj");
    let mut spec = f.spec("cat /proc/self/oom_score_adj > /out/adj");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_oom_score_adj(Some(500));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("adj").trim(), "500");
}

/// `run`'s path: the exit status comes back, and the container is gone (state dir and
/// cgroup), for a clean exit and for a process killed by a signal.
#[test]
fn wait_and_delete_reports_the_exit_and_leaves_nothing() -> TestResult {
    let f = Fixture::new("wad");
    for (script, code, signal) in [("exit 7", 7, None), ("sleep 100", 137, Some(9))] {
        let mut g = f.create(&f.spec(script))?;
        g.c().start()?;
        if signal.is_some() {
            g.c().kill(libc::SIGKILL)?;
        }
        let c = g.0.take().unwrap();
        let dir = c.dir().to_path_buf();
        let st = c.wait_and_delete()?;
        assert_eq!((st.code, st.signal), (code, signal), "{script}");
        assert!(!dir.exists(), "{}", dir.display());
        let cg = match f.rt.hierarchy() {
            compose_runtime::cgroups::Hierarchy::V1 => "/sys/fs/cgroup/pids",
            compose_runtime::cgroups::Hierarchy::V2 => "/sys/fs/cgroup",
        };
        let cg = format!("{cg}/{}/{}", common::CGROUP_PARENT, f.id);
        assert!(!std::path::Path::new(&cg).exists(), "{cg}");
        assert!(f.rt.load(&f.id).is_err());
    }
    Ok(())
}

/// Removes a test's own cgroup parent at the end, even when the test fails.
struct ParentGuard(compose_runtime::cgroups::Hierarchy, String);

impl Drop for ParentGuard {
    fn drop(&mut self) {
        compose_runtime::cgroups::remove_parent(self.0, &self.1);
    }
}

/// The runtime's cgroup parent outlives its containers (no mkdir and rmdir of it per
/// run): after a container is deleted the parent is still there, the same cgroup (same
/// inode) when the next container comes and goes, and only the container's own cgroup
/// is gone.
#[test]
fn the_cgroup_parent_is_kept_across_containers() -> TestResult {
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::new("keep");
    let parent = common::unique("compose-test-keep");
    let rt = compose_runtime::Runtime::new(f.tmp.path().join("state-keep"), &parent)?;
    let _cleanup = ParentGuard(rt.hierarchy(), parent.clone());
    let top = match rt.hierarchy() {
        compose_runtime::cgroups::Hierarchy::V1 => "/sys/fs/cgroup/pids",
        compose_runtime::cgroups::Hierarchy::V2 => "/sys/fs/cgroup",
    };
    let parent_dir = std::path::Path::new(top).join(&parent);
    let rootfs = compose_runtime::Rootfs::Dir(f.rootfs());
    let mut inode = None;
    for round in 0..2 {
        let id = format!("{}-{round}", f.id);
        let c = rt.create(&id, &f.spec("true"), &rootfs, &Default::default())?;
        let mut g = common::Guard(Some(c));
        g.c().start()?;
        let c = g.0.take().unwrap();
        assert_eq!(c.wait_and_delete()?.code, 0);
        assert!(!parent_dir.join(&id).exists(), "{id}'s cgroup is left");
        let meta = std::fs::metadata(&parent_dir)?;
        assert_eq!(*inode.get_or_insert(meta.ino()), meta.ino(), "made again");
    }
    drop(_cleanup);
    assert!(
        !parent_dir.exists(),
        "remove_parent left {}",
        parent_dir.display()
    );
    Ok(())
}

/// A host process of the test's, killed and reaped even when the test fails.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A delete of a container whose cgroup still holds a process once its init is gone
/// (here a host process moved in, outside the container's pid namespace) kills it and
/// removes the cgroup: the one-rmdir path falls back to reading and killing.
#[test]
fn delete_kills_what_is_left_in_the_cgroup() -> TestResult {
    let f = Fixture::new("leftover");
    let mut g = f.create(&f.spec("true"))?;
    let mut intruder = Reaped(
        std::process::Command::new("/bin/busybox")
            .args(["sleep", "100"])
            .spawn()?,
    );
    let pid = intruder.0.id();
    let files: Vec<std::path::PathBuf> = match f.rt.hierarchy() {
        compose_runtime::cgroups::Hierarchy::V1 => ["pids", "freezer", "memory"]
            .iter()
            .map(|c| {
                format!(
                    "/sys/fs/cgroup/{c}/{}/{}/cgroup.procs",
                    common::CGROUP_PARENT,
                    f.id
                )
                .into()
            })
            .collect(),
        compose_runtime::cgroups::Hierarchy::V2 => vec![
            format!(
                "/sys/fs/cgroup/{}/{}/cgroup.procs",
                common::CGROUP_PARENT,
                f.id
            )
            .into(),
        ],
    };
    for p in &files {
        std::fs::write(p, pid.to_string())?;
    }
    g.c().start()?;
    let c = g.0.take().unwrap();
    let st = c.wait_and_delete();
    let reaped = intruder.0.wait()?;
    assert_eq!(st?.code, 0);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&reaped),
        Some(libc::SIGKILL)
    );
    for p in &files {
        assert!(!p.parent().unwrap().exists(), "{}", p.display());
    }
    Ok(())
}

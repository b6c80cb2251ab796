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

//! `init: true` (the reaper as PID 1), and pause/resume.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Fixture, Guard, TestResult, wait_for};
use compose_runtime::{CreateOptions, Rootfs, Status};

fn create(f: &Fixture, script: &str, init: bool) -> compose_runtime::Result<Guard> {
    let opts = CreateOptions {
        init,
        ..Default::default()
    };
    let c =
        f.rt.create(&f.id, &f.spec(script), &Rootfs::Dir(f.rootfs()), &opts)?;
    Ok(Guard(Some(c)))
}

/// The states of PID 1's children (zombies are not in cgroup.procs, but are children
/// until reaped).
fn children(g: &mut Guard) -> Vec<char> {
    let pid = g.c().pid();
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| compose_runtime::state::proc_start(p.parse().ok()?))
        .map(|(_, s)| s)
        .collect()
}

/// An orphan is re-parented to PID 1, which here is `sleep` (it never waits).
const ORPHAN: &str = "sh -c 'sleep 0.1 & exit 0'; touch /out/orphaned; exec sleep 1000";

#[test]
fn without_init_an_orphan_stays_a_zombie() -> TestResult {
    let f = Fixture::new("noinit");
    let mut g = create(&f, ORPHAN, false)?;
    g.c().start()?;
    wait_for(|| f.out().join("orphaned").exists());
    wait_for(|| children(&mut g) == ['Z']);
    Ok(())
}

#[test]
fn init_reaps_zombies_and_forwards_signals() -> TestResult {
    let f = Fixture::new("init");
    let mut g = create(&f, ORPHAN, true)?;
    g.c().start()?;
    wait_for(|| f.out().join("orphaned").exists());
    // The orphan's sleep ends and is reaped: `sleep 1000` is the reaper's only child.
    wait_for(|| children(&mut g).len() == 1);
    assert_ne!(children(&mut g), ['Z']);
    assert_eq!(g.c().pids()?.len(), 2);
    // PID 1 ignores SIGTERM without a handler; the reaper passes it on to the process.
    g.c().kill(libc::SIGTERM)?;
    let exit = g.c().wait()?;
    assert_eq!(exit.code, 128 + libc::SIGTERM);
    Ok(())
}

#[test]
fn init_passes_on_the_exit_code() -> TestResult {
    let f = Fixture::new("initcode");
    let mut g = create(&f, "exit 9", true)?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 9);
    Ok(())
}

#[test]
fn pause_freezes_and_resume_thaws() -> TestResult {
    let f = Fixture::new("pause");
    let script = "i=0; while :; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; \
                  sleep 0.01; done";
    let mut g = create(&f, script, false)?;
    assert!(
        g.c().pause().is_err(),
        "a created container can't be paused"
    );
    g.c().start()?;
    wait_for(|| !f.read_out("n").is_empty());
    g.c().pause()?;
    assert_eq!(g.c().status(), Status::Paused);
    assert_eq!(f.rt.load(&f.id)?.status(), Status::Paused);
    let n = f.read_out("n");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(f.read_out("n"), n, "no progress while paused");
    f.rt.load(&f.id)?.resume()?;
    assert_eq!(g.c().status(), Status::Running);
    wait_for(|| f.read_out("n") != n);
    // A paused container still stops.
    g.c().pause()?;
    g.c().stop(libc::SIGTERM, Duration::from_millis(100))?;
    assert_eq!(g.c().wait()?.code, 137);
    Ok(())
}

#[test]
fn the_reaper_does_not_expose_the_host_binary() -> TestResult {
    let f = Fixture::new("initexe");
    // PID 1 is a fork of the runtime's process that never exec'd: its /proc/1/exe is the
    // host binary (CVE-2019-5736). It is non-dumpable, so even root in the container
    // can't open it; its own exe it can.
    let script = "cat /proc/self/exe > /dev/null; echo $? > /out/self; \
                  cat /proc/1/exe > /dev/null 2> /out/err; echo $? > /out/one";
    let mut g = create(&f, script, true)?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    assert_eq!(f.read_out("self").trim(), "0");
    assert_eq!(f.read_out("one").trim(), "1");
    assert!(
        f.read_out("err").contains("Permission denied"),
        "{}",
        f.read_out("err")
    );
    Ok(())
}

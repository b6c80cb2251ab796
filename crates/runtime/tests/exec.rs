//! `exec` into a running container: exit codes, its pid namespace, a tty, and errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::os::fd::AsFd;

use common::{Fixture, TestResult, wait_for};
use compose_runtime::{Error, ExecStdio};
use oci_spec::runtime::{Process, ProcessBuilder};

fn process(script: &str) -> Process {
    ProcessBuilder::default()
        .args(vec!["sh".into(), "-c".into(), script.into()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap()
}

/// Runs `script` in the container with stdout into a pipe: (exit code, output).
fn exec_capture(c: &compose_runtime::Container, script: &str) -> (i32, String) {
    let (mut r, w) = std::io::pipe().unwrap();
    let stdio = ExecStdio {
        stdout: Some(w.as_fd()),
        ..ExecStdio::default()
    };
    let p = c.spawn_exec(&process(script), stdio).unwrap();
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    (p.wait().unwrap().code, out)
}

#[test]
fn exec_returns_the_exit_code_and_sees_the_containers_pid_namespace() -> TestResult {
    let f = Fixture::new("exec");
    let mut g = f.create(&f.spec("touch /out/up; exec sleep 1000"))?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let (code, out) = exec_capture(
        g.c(),
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/self/ns/pid; \
         hostname; exit 5",
    );
    assert_eq!(code, 5);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "sleep 1000 ",
        "PID 1 is the container's init: {out}"
    );
    let init_ns = std::fs::read_link(format!("/proc/{}/ns/pid", g.c().pid()))?;
    assert_eq!(lines[1], init_ns.to_string_lossy());
    let own_ns = std::fs::read_link("/proc/self/ns/pid")?;
    assert_ne!(lines[1], own_ns.to_string_lossy());
    // In the container's cgroup while it runs; killed by stop like the rest.
    let (code, _) = exec_capture(g.c(), "exit 0");
    assert_eq!(code, 0);
    Ok(())
}

#[test]
fn exec_with_a_tty() -> TestResult {
    let f = Fixture::new("exectty");
    let mut g = f.create(&f.spec("touch /out/up; exec sleep 1000"))?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let (master, slave) = compose_runtime::pty::open()?;
    let stdio = ExecStdio {
        stdin: Some(slave.as_fd()),
        stdout: Some(slave.as_fd()),
        stderr: Some(slave.as_fd()),
        tty: true,
        console: None,
    };
    let p = g.c().spawn_exec(
        &process("[ -t 0 ] && [ -t 1 ] && echo a-tty; exit 3"),
        stdio,
    )?;
    drop(slave);
    let mut out = Vec::new();
    let mut m = std::fs::File::from(master);
    // EIO once the process (the last holder of the slave) is gone.
    let _ = m.read_to_end(&mut out);
    assert_eq!(p.wait()?.code, 3);
    assert_eq!(String::from_utf8_lossy(&out).trim_end(), "a-tty");
    Ok(())
}

#[test]
fn exec_errors_are_clear() -> TestResult {
    let f = Fixture::new("execerr");
    let mut g = f.create(&f.spec("touch /out/up; exec sleep 1000"))?;
    // Not running yet.
    let err = g
        .c()
        .exec(&process("true"), ExecStdio::default())
        .unwrap_err();
    assert!(matches!(err, Error::BadState { .. }), "{err}");
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let mut p = process("true");
    p.set_cwd("/no/such/dir".into());
    let err = g
        .c()
        .exec(&p, ExecStdio::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("chdir \"/no/such/dir\""), "{err}");
    let mut p = process("true");
    p.set_args(Some(vec!["no-such-cmd".into()]));
    let err = g
        .c()
        .exec(&p, ExecStdio::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("exec \"no-such-cmd\""), "{err}");
    // Nothing of the failed execs stays in the container.
    let c = g.c();
    wait_for(|| c.pids().unwrap().len() == 1);
    Ok(())
}

/// An exec'd process is under the container's seccomp filter, as its init is.
#[test]
fn exec_gets_the_containers_seccomp_filter() -> TestResult {
    let f = Fixture::new("execsecc");
    let spec = f.spec("touch /out/up; exec sleep 1000");
    assert!(
        spec.linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .is_some(),
        "the default spec has the default profile"
    );
    let mut g = f.create(&spec)?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let (code, out) = exec_capture(g.c(), "grep '^Seccomp:' /proc/self/status");
    assert_eq!(code, 0);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    Ok(())
}

//! The shim: containers that outlive their creator, exit records, CRI logs, rotation, OOM,
//! stop, terminal and stdin, as root on real kernel objects.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Fixture, Guard, TestResult, wait_for};
use compose_runtime::logs::{self, Stream};
use compose_runtime::pty::WinSize;
use compose_runtime::{CreateOptions, Rootfs, ShimOptions, Status};
use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder, Spec};

/// The runtime's own shim binary; `COMPOSE_TEST_SHIM_EXE` runs the suite with another
/// (e.g. the `compose` binary, or a release build to measure its RSS).
fn shim_exe() -> PathBuf {
    std::env::var_os("COMPOSE_TEST_SHIM_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_compose-runtime-shim").into())
}

fn shim_opts(f: &Fixture) -> ShimOptions {
    ShimOptions {
        exe: shim_exe(),
        log: log_path(f),
        log_max_size: None,
        log_max_files: 1,
        terminal: false,
        stdin: false,
    }
}

fn log_path(f: &Fixture) -> PathBuf {
    f.tmp.path().join("logs").join("ctr.log")
}

fn create(f: &Fixture, spec: &Spec, shim: ShimOptions) -> compose_runtime::Result<Guard> {
    let opts = CreateOptions {
        shim: Some(shim),
        ..Default::default()
    };
    let c = f.rt.create(&f.id, spec, &Rootfs::Dir(f.rootfs()), &opts)?;
    Ok(Guard(Some(c)))
}

fn log_text(f: &Fixture) -> Vec<(Stream, bool, String)> {
    logs::read_all(&log_path(f))
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.stream,
                l.partial,
                String::from_utf8_lossy(&l.bytes).into_owned(),
            )
        })
        .collect()
}

/// Run by `the_container_outlives_its_creator` in a process of its own: creates and
/// starts the container under a shim, then exits.
#[test]
#[ignore = "a helper, run in a child process"]
fn helper_create_start_and_exit() {
    let Ok(root) = std::env::var("SHIM_TEST_ROOT") else {
        return;
    };
    let id = std::env::var("SHIM_TEST_ID").unwrap();
    let rootfs = std::env::var("SHIM_TEST_ROOTFS").unwrap();
    let log = std::env::var("SHIM_TEST_LOG").unwrap();
    let out = std::env::var("SHIM_TEST_OUT").unwrap();
    let rt = compose_runtime::Runtime::new(root, common::CGROUP_PARENT).unwrap();
    let mut spec = compose_runtime::spec::docker_default(&[
        "sh",
        "-c",
        "while [ ! -e /out/go ]; do sleep 0.02; done; echo finished; exit 7",
    ])
    .unwrap();
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(common::bind(
        std::path::Path::new(&out),
        "/out",
        &["rbind", "rw"],
    ));
    spec.set_mounts(Some(mounts));
    let shim = ShimOptions {
        exe: shim_exe(),
        log: log.into(),
        log_max_size: None,
        log_max_files: 1,
        terminal: false,
        stdin: false,
    };
    let opts = CreateOptions {
        shim: Some(shim),
        ..Default::default()
    };
    let c = rt
        .create(&id, &spec, &Rootfs::Dir(rootfs.into()), &opts)
        .unwrap();
    // Started from yet another handle, as a later command would.
    drop(c);
    rt.load(&id).unwrap().start().unwrap();
}

#[test]
fn the_container_outlives_its_creator() -> TestResult {
    let f = Fixture::new("outlive");
    let guard = Guard(None);
    let st = Command::new(std::env::current_exe()?)
        .args(["--ignored", "--exact", "helper_create_start_and_exit"])
        .env("SHIM_TEST_ROOT", f.rt.root())
        .env("SHIM_TEST_ID", &f.id)
        .env("SHIM_TEST_ROOTFS", f.rootfs())
        .env("SHIM_TEST_LOG", log_path(&f))
        .env("SHIM_TEST_OUT", f.out())
        .output()?;
    let mut guard = guard;
    guard.0 = f.rt.load(&f.id).ok();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
    // The creator is gone; the container runs on under its shim.
    let mut c = f.rt.load(&f.id)?;
    assert_eq!(c.status(), Status::Running);
    let shim = c.record().shim.unwrap();
    assert!(shim.is_alive());
    assert_eq!(c.exit_status(), None);
    std::fs::write(f.out().join("go"), "")?;
    let exit = c.wait()?;
    assert_eq!((exit.code, exit.signal, exit.oom_killed), (7, None, false));
    assert_eq!(f.rt.load(&f.id)?.exit_status(), Some(exit));
    assert_eq!(f.rt.load(&f.id)?.status(), Status::Stopped);
    assert_eq!(
        log_text(&f),
        vec![(Stream::Stdout, false, "finished".into())]
    );
    wait_for(|| !shim.is_alive());
    Ok(())
}

#[test]
fn exit_codes_and_signals_are_recorded() -> TestResult {
    let f = Fixture::new("shimexit");
    let mut g = create(&f, &f.spec("exit 3"), shim_opts(&f))?;
    assert_eq!(g.c().status(), Status::Created);
    g.c().start()?;
    assert_eq!(f.rt.load(&f.id)?.wait()?.code, 3);
    drop(g);

    let f = Fixture::new("shimsig");
    let mut g = create(&f, &f.spec("touch /out/up; exec sleep 1000"), shim_opts(&f))?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    f.rt.load(&f.id)?.kill(libc::SIGKILL)?;
    let exit = f.rt.load(&f.id)?.wait()?;
    assert_eq!((exit.code, exit.signal), (137, Some(libc::SIGKILL)));
    assert_eq!(g.c().wait()?, exit);
    Ok(())
}

#[test]
fn logs_keep_order_streams_partials_and_times() -> TestResult {
    let f = Fixture::new("shimlogs");
    let before = std::time::SystemTime::now();
    let script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo; \
                  head -c 40000 /dev/zero | tr '\\0' a; echo; sleep 0.1; printf tail";
    let mut g = create(&f, &f.spec(script), shim_opts(&f))?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    let lines = logs::read_all(&log_path(&f))?;
    let after = std::time::SystemTime::now();
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l.stream, l.partial, l.bytes.len(), l.bytes.first().copied()))
        .collect();
    use Stream::{Stderr, Stdout};
    assert_eq!(
        got,
        vec![
            (Stdout, false, 3, Some(b'o')),
            (Stderr, false, 3, Some(b't')),
            (Stdout, false, 0, None),
            (Stdout, true, 16384, Some(b'a')),
            (Stdout, true, 16384, Some(b'a')),
            (Stdout, false, 40000 - 2 * 16384, Some(b'a')),
            (Stdout, true, 4, Some(b't')),
        ]
    );
    assert_eq!(lines[1].bytes, b"two");
    assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(lines[0].time >= before && lines[6].time <= after);
    let text = std::fs::read_to_string(log_path(&f))?;
    let first = text.lines().next().unwrap();
    assert!(first.ends_with("Z stdout F one"), "{first}");
    assert_eq!(first.find('Z'), Some(29), "nanoseconds: {first}");
    Ok(())
}

#[test]
fn logs_rotate_by_size() -> TestResult {
    let f = Fixture::new("shimrot");
    let mut o = shim_opts(&f);
    o.log_max_size = Some(300);
    o.log_max_files = 3;
    let script = "i=1; while [ $i -le 40 ]; do echo line-$i; i=$((i+1)); done";
    let mut g = create(&f, &f.spec(script), o)?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    let log = log_path(&f);
    assert!(logs::numbered_exists(&log, 1) && logs::numbered_exists(&log, 2));
    assert!(!logs::numbered_exists(&log, 3));
    for p in logs::rotated(&log).iter().chain([&log]) {
        assert!(std::fs::metadata(p)?.len() <= 300, "{}", p.display());
    }
    let kept: Vec<String> = log_text(&f).into_iter().map(|l| l.2).collect();
    assert_eq!(kept.last().map(String::as_str), Some("line-40"));
    assert!(kept.len() < 40 && kept.len() > 10, "{kept:?}");
    let first: u32 = kept[0].trim_start_matches("line-").parse()?;
    let want: Vec<String> = (first..=40).map(|i| format!("line-{i}")).collect();
    assert_eq!(kept, want, "contiguous and in order");
    Ok(())
}

#[test]
fn follow_reads_until_the_exit_is_recorded() -> TestResult {
    let f = Fixture::new("shimfollow");
    let mut o = shim_opts(&f);
    o.log_max_size = Some(200);
    o.log_max_files = 5;
    let script = "i=1; while [ $i -le 15 ]; do echo n$i; i=$((i+1)); sleep 0.02; done";
    let mut g = create(&f, &f.spec(script), o)?;
    let c = f.rt.load(&f.id)?;
    let log = log_path(&f);
    let reader = std::thread::spawn(move || {
        logs::follow(&log, || c.finished())
            .map(|l| String::from_utf8_lossy(&l.unwrap().bytes).into_owned())
            .collect::<Vec<_>>()
    });
    g.c().start()?;
    let got = reader.join().unwrap();
    let want: Vec<String> = (1..=15).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want);
    Ok(())
}

#[test]
fn an_oom_kill_is_reported() -> TestResult {
    let f = Fixture::new("shimoom");
    let mut spec = f.spec("exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=60");
    let mem = LinuxMemoryBuilder::default()
        .limit(16i64 << 20)
        .swap(16i64 << 20)
        .build()?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_resources(Some(LinuxResourcesBuilder::default().memory(mem).build()?));
    spec.set_linux(Some(linux));
    let mut g = create(&f, &spec, shim_opts(&f))?;
    g.c().start()?;
    let exit = f.rt.load(&f.id)?.wait()?;
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(exit.code, 137);
    Ok(())
}

#[test]
fn stop_kills_what_ignores_sigterm_and_nothing_survives() -> TestResult {
    let f = Fixture::new("shimstop");
    let script = "trap '' TERM; sleep 1000 & sleep 1000 & touch /out/ready; wait";
    let mut g = create(&f, &f.spec(script), shim_opts(&f))?;
    g.c().start()?;
    wait_for(|| f.out().join("ready").exists());
    let other = f.rt.load(&f.id)?;
    let pids = other.pids()?;
    assert!(pids.len() >= 3, "{pids:?}");
    other.stop(libc::SIGTERM, Duration::from_millis(300))?;
    assert_eq!(other.pids()?, Vec::<i32>::new());
    for p in pids {
        assert!(compose_runtime::state::proc_start(p).is_none_or(|(_, s)| s == 'Z'));
    }
    assert_eq!(f.rt.load(&f.id)?.wait()?.code, 137);
    let dir = g.c().dir().to_path_buf();
    g.0.take().unwrap().delete(false)?;
    assert!(!dir.exists());
    Ok(())
}

#[test]
fn a_missing_binary_fails_start_from_any_process() -> TestResult {
    let f = Fixture::new("shimnobin");
    let mut spec = f.spec("");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["no-such-cmd".into()]));
    let _g = create(&f, &spec, shim_opts(&f))?;
    let err = f.rt.load(&f.id)?.start().unwrap_err().to_string();
    assert!(err.contains("exec \"no-such-cmd\""), "{err}");
    assert_eq!(f.rt.load(&f.id)?.wait()?.code, 127);
    Ok(())
}

#[test]
fn a_bad_log_path_fails_create_cleanly() {
    let f = Fixture::new("shimbadlog");
    let mut o = shim_opts(&f);
    std::fs::write(f.tmp.path().join("file"), "").unwrap();
    o.log = f.tmp.path().join("file").join("x.log");
    let err = create(&f, &f.spec("true"), o).err().unwrap().to_string();
    assert!(err.contains("log dir") && err.contains("/file"), "{err}");
    assert!(!f.rt.root().join(&f.id).exists());
}

#[test]
fn terminal_mode_gives_the_process_a_tty() -> TestResult {
    let f = Fixture::new("shimtty");
    let mut o = shim_opts(&f);
    o.terminal = true;
    let mut g = create(&f, &f.spec("[ -t 0 ] && [ -t 1 ] && echo isatty"), o)?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    let lines = log_text(&f);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].2.trim_end_matches('\r'), "isatty");
    Ok(())
}

#[test]
fn resize_sets_the_window_size_of_the_shim_s_terminal() -> TestResult {
    let f = Fixture::new("shimresize");
    let mut o = shim_opts(&f);
    o.terminal = true;
    // Waits (at most 10 s) to see the size only a resize can give.
    let script = "i=0; while [ \"$(stty size)\" != '33 77' ]; do \
                  i=$((i+1)); [ $i -gt 200 ] && { echo never; exit 1; }; sleep 0.05; done; \
                  echo resized";
    let mut g = create(&f, &f.spec(script), o)?;
    g.c().start()?;
    g.c().resize(WinSize { rows: 33, cols: 77 })?;
    assert_eq!(g.c().wait()?.code, 0, "{:?}", log_text(&f));
    let lines = log_text(&f);
    assert_eq!(
        lines.last().map(|l| l.2.trim_end_matches('\r')),
        Some("resized")
    );
    Ok(())
}

#[test]
fn resize_without_a_terminal_says_so() -> TestResult {
    let f = Fixture::new("shimnoresize");
    let g = create(&f, &f.spec("sleep 10"), shim_opts(&f))?;
    let err = g.0.as_ref().unwrap().resize(WinSize { rows: 1, cols: 1 });
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("no terminal"), "{msg}");
    Ok(())
}

#[test]
fn stdin_stays_open_when_asked() -> TestResult {
    let f = Fixture::new("shimstdin");
    // Without stdin, cat reads EOF at once.
    let mut g = create(&f, &f.spec("cat; echo eof"), shim_opts(&f))?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    drop(g);
    let f = Fixture::new("shimstdin2");
    let mut o = shim_opts(&f);
    o.stdin = true;
    let mut g = create(&f, &f.spec("touch /out/up; cat; echo eof"), o)?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(g.c().status(), Status::Running);
    assert!(log_text(&f).is_empty());
    Ok(())
}

#[test]
fn the_shim_is_small() -> TestResult {
    let f = Fixture::new("shimrss");
    let mut g = create(&f, &f.spec("exec sleep 1000"), shim_opts(&f))?;
    g.c().start()?;
    let shim = g.c().record().shim.unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", shim.pid))?;
    let kb = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let (rss, anon, file) = (kb("VmRSS:"), kb("RssAnon:"), kb("RssFile:"));
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", shim.pid))?;
    let pss = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    eprintln!(
        "shim VmRSS {rss} kB: anon {anon} kB, file {file} kB (the binary's pages, shared); \
         Pss {pss}"
    );
    // What each shim costs on its own; its code is the page cache's, shared by all shims.
    assert!(anon < 1024, "shim anonymous RSS {anon} kB");
    Ok(())
}

#[test]
fn exec_works_from_any_process_on_a_shim_container() -> TestResult {
    let f = Fixture::new("shimexec");
    let mut g = create(&f, &f.spec("touch /out/up; exec sleep 1000"), shim_opts(&f))?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let p = oci_spec::runtime::ProcessBuilder::default()
        .args(vec!["sh".into(), "-c".into(), "exit 6".into()])
        .cwd("/")
        .build()?;
    let st =
        f.rt.load(&f.id)?
            .exec(&p, compose_runtime::ExecStdio::default())?;
    assert_eq!(st.code, 6);
    Ok(())
}

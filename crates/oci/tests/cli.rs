//! compose-oci driven as runc is, on bundles made by `crun spec` with a busybox rootfs, as
//! root; and the same bundle run by runc and crun, comparing what the container sees.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

/// The compose-oci under test: `COMPOSE_OCI_BIN` when set (CI points it at the static
/// build that `bench/runtime.sh` times), else the one cargo built for these tests.
fn ours() -> String {
    std::env::var("COMPOSE_OCI_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_compose-oci").to_string())
}

fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A bundle in a temp dir, a state root for each runtime, and a container id; the
/// containers are force-deleted when it drops.
struct Fixture {
    tmp: tempfile::TempDir,
    id: String,
}

impl Fixture {
    fn new(name: &str, args: &[&str]) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let f = Fixture {
            tmp,
            id: unique(name),
        };
        make_rootfs(&f.bundle().join("rootfs"));
        let out = Command::new("crun")
            .arg("spec")
            .current_dir(f.bundle())
            .output()
            .expect("crun is needed for `crun spec` (apt-get install crun)");
        assert!(out.status.success(), "{out:?}");
        f.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
        });
        f
    }

    fn bundle(&self) -> PathBuf {
        self.tmp.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let path = self.bundle().join("config.json");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&path, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    }

    /// `compose-oci --root R ARGS...`
    fn ours(&self, args: &[&str]) -> Output {
        Command::new(ours())
            .arg("--root")
            .arg(self.root())
            .args(args)
            .output()
            .unwrap()
    }

    /// As `ours`, for a command that leaves a container behind: the container's init
    /// inherits our stdio, so we give it files, not pipes that would stay open.
    fn ours_detached(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let err = self.tmp.path().join("stderr");
        let status = Command::new(ours())
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        (status, std::fs::read_to_string(&err).unwrap())
    }

    /// `create --bundle B --console-socket SOCK ID`, as `ours_detached`.
    fn create_with_console(&self, sock: &Path) -> (std::process::ExitStatus, String) {
        let b = self.bundle();
        let (b, sock) = (b.to_str().unwrap(), sock.to_str().unwrap());
        self.ours_detached(&["create", "--bundle", b, "--console-socket", sock, &self.id])
    }

    fn state(&self) -> Value {
        let out = self.ours(&["state", &self.id]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.ours(&["delete", "--force", &self.id]);
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.tmp.path().join("runc-root"))
            .args(["delete", "--force", &self.id])
            .output();
        // compose-oci keeps its cgroup parent across containers; the last test's fixture
        // removes it (a busy one, still used by another test, stays for that one's).
        if let Ok(h) = compose_runtime::cgroups::detect() {
            compose_runtime::cgroups::remove_parent(h, "compose-oci");
        }
    }
}

/// busybox and its applets in `root/bin`, and the usual empty dirs.
fn make_rootfs(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    for d in ["etc", "tmp", "proc", "dev", "sys", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_prints_hello() {
    let f = Fixture::new("hello", &["echo", "hello"]);
    let b = f.bundle();
    let out = f.ours(&["run", "--bundle", b.to_str().unwrap(), &f.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
    // run removes the container once it exits.
    let out = f.ours(&["list", "-q"]);
    assert_eq!(stdout(&out), "");
}

#[test]
fn run_exits_with_the_process_status() {
    let f = Fixture::new("code", &["sh", "-c", "exit 7"]);
    let b = f.bundle();
    let out = f.ours(&["run", "--bundle", b.to_str().unwrap(), &f.id]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

/// create, state, list, start, kill, delete by hand, as a caller like podman does.
#[test]
fn lifecycle_by_hand() {
    let f = Fixture::new("life", &["sleep", "60"]);
    let b = f.bundle();
    let pid_file = f.tmp.path().join("pid");
    // The init is orphaned when create exits: be its reaper, as conmon is for podman.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (status, err) = f.ours_detached(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &f.id,
    ]);
    assert!(status.success(), "{err}");
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let st = f.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["id"], f.id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(
        st["bundle"],
        std::fs::canonicalize(&b).unwrap().to_str().unwrap()
    );
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let list = stdout(&f.ours(&["list", "--format", "json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["id"], f.id.as_str());
    assert_eq!(list[0]["status"], "created");

    let (status, err) = f.ours_detached(&["start", &f.id]);
    assert!(status.success(), "{err}");
    assert_eq!(f.state()["status"], "running");
    // exec, as runc takes it: arguments with --env/--cwd, or a process file; its status.
    let out = f.ours(&[
        "exec",
        "--env",
        "X=from-exec",
        "--cwd",
        "/bin",
        &f.id,
        "sh",
        "-c",
        "echo $X $PWD; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "from-exec /bin");
    let process = f.tmp.path().join("process.json");
    let p = json!({"args": ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"], "cwd": "/",
        "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]});
    std::fs::write(&process, p.to_string()).unwrap();
    let out = f.ours(&["exec", "--process", process.to_str().unwrap(), &f.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sleep 60", "PID 1 of the container");
    // A running container is not deleted without --force.
    let out = f.ours(&["delete", &f.id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));

    let out = f.ours(&["kill", &f.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.state()["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "still {}", f.state());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(f.state()["pid"], 0);
    // SAFETY: waitpid on our (adopted) child; a null status pointer is allowed.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
    let out = f.ours(&["delete", &f.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = f.ours(&["state", &f.id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert_eq!(stdout(&f.ours(&["list", "-q"])), "");
}

#[test]
fn what_is_not_supported_is_refused_clearly() {
    let f = Fixture::new("refuse", &["true"]);
    let b = f.bundle();
    let b = b.to_str().unwrap();
    let out = f.ours(&["--systemd-cgroup", "run", "--bundle", b, &f.id]);
    assert!(
        stderr(&out).contains("--systemd-cgroup"),
        "{}",
        stderr(&out)
    );
    let out = f.ours(&["exec", "--tty", &f.id, "ls"]);
    assert!(
        stderr(&out).contains("needs --console-socket"),
        "{}",
        stderr(&out)
    );
    f.edit(|c| c["process"]["terminal"] = json!(true));
    let log = f.tmp.path().join("log.json");
    let out = Command::new(ours())
        .arg("--root")
        .arg(f.root())
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle", b, &f.id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("process.terminal"),
        "{}",
        stderr(&out)
    );
    // The log holds the same message as JSON, as podman reads it.
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("process.terminal"));
    // Nothing was left behind.
    assert_eq!(stdout(&f.ours(&["list", "-q"])), "");
}

#[test]
fn a_missing_bundle_is_named() {
    let f = Fixture::new("nobundle", &["true"]);
    let missing = f.tmp.path().join("nope");
    let out = f.ours(&["create", "--bundle", missing.to_str().unwrap(), &f.id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

/// What the container sees of itself: capabilities, seccomp, no_new_privs, ids, hostname,
/// environment, mount targets, /dev, masked and read-only paths.
const PROBE: &str = r#"
grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status
id; hostname; env | sort
awk '{print $5}' /proc/self/mountinfo | sort
ls -a /dev | sort | tr '\n' ' '; echo
for p in /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list \
         /proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware /proc/sys \
         /proc/sysrq-trigger; do
  if [ -d $p ]; then echo "$p dir $(ls $p 2>/dev/null | wc -l)"
  elif [ -e $p ]; then echo "$p file $(head -c 100 $p 2>/dev/null | wc -c)"
  else echo "$p absent"; fi
done
touch /proc/sys/kernel/x 2>/dev/null; echo write-proc-sys=$?
touch /x 2>/dev/null; echo write-root=$?
unshare -u true 2>/dev/null; echo unshare=$?
mkdir /tmp/d 2>/dev/null; echo mkdir=$?
"#;

/// Runs the probe under compose-oci and under runc on the same bundle.
fn differential(f: &Fixture) -> (String, String) {
    std::fs::write(f.bundle().join("rootfs/probe.sh"), PROBE).unwrap();
    f.edit(|c| {
        c["process"]["args"] = json!(["sh", "/probe.sh"]);
        // Both runtimes would differ here: cgroup mounts in the container are not
        // supported by ours yet (they are skipped with a warning).
        let mounts = c["mounts"].as_array().unwrap().clone();
        c["mounts"] = json!(
            mounts
                .into_iter()
                .filter(|m| m["destination"] != "/sys/fs/cgroup")
                .collect::<Vec<_>>()
        );
        // A tmpfs /tmp, so both may write there on the read-only root.
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                         "options": ["nosuid", "nodev"]}),
        );
    });
    let b = f.bundle();
    let ours = f.ours(&["run", "--bundle", b.to_str().unwrap(), &f.id]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    let runc = Command::new("runc")
        .arg("--root")
        .arg(f.tmp.path().join("runc-root"))
        .args(["run", "--bundle", b.to_str().unwrap(), &f.id])
        .output()
        .expect("runc is needed (apt-get install runc)");
    assert!(runc.status.success(), "{}", stderr(&runc));
    (stdout(&ours), stdout(&runc))
}

/// The probe under crun, which (1.8) needs the hybrid host's cgroup2 mount out of sight.
fn under_crun(f: &Fixture) -> String {
    let b = f.bundle();
    let script = "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root \"$1\" run --bundle \"$2\" \"$3\"";
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(f.tmp.path().join("crun-root"))
        .arg(&b)
        .arg(&f.id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // crun links /dev/core even where /proc/kcore is absent; runc and we do not.
    stdout(&out).replace(" core ", " ")
}

#[test]
fn differential_with_runc_on_crun_spec_defaults() {
    let f = Fixture::new("diff", &["true"]);
    let (ours, runc) = differential(&f);
    assert_eq!(ours, runc);
    assert_eq!(ours, under_crun(&f));
    // The probe saw what it should, not two equal failures.
    assert!(ours.contains("CapEff:\t0000000020000420"), "{ours}");
    assert!(ours.contains("NoNewPrivs:\t1"), "{ours}");
    assert!(ours.contains("uid=0 gid=0"), "{ours}");
    assert!(ours.contains("/proc/keys file 0"), "{ours}");
    assert!(
        ours.contains("write-proc-sys=1") && ours.contains("write-root=1"),
        "{ours}"
    );
    assert!(ours.contains("mkdir=0"), "{ours}");
}

/// Our default seccomp profile in the bundle: runc compiles it with libseccomp, we with
/// our own compiler, and the container must see the same.
#[test]
fn differential_with_runc_under_our_default_profile() {
    let f = Fixture::new("diffsc", &["true"]);
    let caps = compose_runtime::spec::default_capabilities();
    let profile = serde_json::to_value(compose_runtime::seccomp::default_profile(&caps)).unwrap();
    f.edit(|c| {
        c["linux"]["seccomp"] = profile;
        // The 14 default caps, so `unshare` would pass the capability check were it not
        // for the filter... it would not (no CAP_SYS_ADMIN), but then the filter decides
        // first in both runtimes.
    });
    let (ours, runc) = differential(&f);
    assert_eq!(ours, runc);
    assert_eq!(ours, under_crun(&f));
    assert!(ours.contains("Seccomp:\t2"), "{ours}");
    assert!(ours.contains("unshare=1"), "{ours}");
    assert!(ours.contains("mkdir=0"), "{ours}");
}

/// As runc: a created container that never started is deleted without --force.
#[test]
fn a_created_container_is_deleted_without_force() {
    let f = Fixture::new("created", &["true"]);
    let b = f.bundle();
    let pid_file = f.tmp.path().join("pid");
    // SAFETY: prctl with integer arguments (see lifecycle_by_hand).
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (status, err) = f.ours_detached(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &f.id,
    ]);
    assert!(status.success(), "{err}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let out = f.ours(&["delete", &f.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // SAFETY: waitpid on our (adopted) child; a null status pointer is allowed.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    assert_eq!(stdout(&f.ours(&["list", "-q"])), "");
}

/// A SIGTERM to a foreground `run` reaches the container, which exits by its trap; the
/// container is removed and its status is ours.
#[test]
fn run_forwards_signals_to_the_container() {
    let script = "trap 'exit 3' TERM; echo up > /tmp/up; while true; do sleep 0.05; done";
    let f = Fixture::new("sig", &["sh", "-c", script]);
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
    });
    let b = f.bundle();
    let mut child = Command::new(ours())
        .arg("--root")
        .arg(f.root())
        .args(["run", "--bundle", b.to_str().unwrap(), &f.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = f.bundle().join("rootfs/tmp/up");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !up.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(stdout(&f.ours(&["list", "-q"])), "");
}

/// Receives one fd sent with SCM_RIGHTS on the next connection to `listener`.
fn receive_fd(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use std::os::fd::AsFd;
    let (conn, _) = listener.accept().unwrap();
    compose_runtime::pty::recv_fd(conn.as_fd()).unwrap()
}

/// What a pty's master reads until the last slave closes (EIO).
fn read_until_hangup(master: std::os::fd::OwnedFd) -> String {
    use std::io::Read;
    let mut file = std::fs::File::from(master);
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// `process.terminal` with `--console-socket`, as conmon drives runc: the master of a pty
/// made in the container's own /dev/pts comes over the socket; the process has the slave
/// as stdio and controlling terminal, and sees the size set on the master.
#[test]
fn a_terminal_s_master_goes_to_the_console_socket() {
    use std::os::fd::AsRawFd;
    let f = Fixture::new("tty", &["sh", "-c", "tty; stty size; echo done"]);
    f.edit(|c| c["process"]["terminal"] = json!(true));
    let sock = f.tmp.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let (status, err) = f.create_with_console(&sock);
    assert!(status.success(), "{err}");
    let master = receiver.join().unwrap();
    let ws = libc::winsize {
        ws_row: 33,
        ws_col: 77,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0);
    let out = f.ours(&["start", &f.id]);
    assert!(out.status.success(), "{out:?}");
    let text = read_until_hangup(master);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("33 77"), "{text:?}");
    assert!(text.contains("done"), "{text:?}");
}

/// `exec --tty --console-socket`: the exec'd process gets a pty of the container's own
/// /dev/pts, whose master comes over the socket.
#[test]
fn exec_with_a_terminal_sends_its_master() {
    let f = Fixture::new("exec-tty", &["sleep", "60"]);
    let b = f.bundle();
    let (status, err) =
        f.ours_detached(&["run", "--detach", "--bundle", b.to_str().unwrap(), &f.id]);
    assert!(status.success(), "{err}");
    let sock = f.tmp.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let out = f.ours(&[
        "exec",
        "--tty",
        "--console-socket",
        sock.to_str().unwrap(),
        &f.id,
        "sh",
        "-c",
        "tty; test -t 1 && echo stdout-is-a-tty",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = read_until_hangup(receiver.join().unwrap());
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("stdout-is-a-tty"), "{text:?}");
}

/// A terminal without a console socket, or a console socket without a terminal, is
/// refused with a word on what to give.
#[test]
fn terminal_and_console_socket_go_together() {
    let f = Fixture::new("tty-mismatch", &["true"]);
    let b = f.bundle();
    let sock = f.tmp.path().join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (status, err) = f.create_with_console(&sock);
    assert!(!status.success());
    assert!(err.contains("process.terminal is false"), "{err}");
    f.edit(|c| c["process"]["terminal"] = json!(true));
    let (status, err) = f.ours_detached(&["create", "--bundle", b.to_str().unwrap(), &f.id]);
    assert!(!status.success());
    assert!(err.contains("give --console-socket"), "{err}");
    // A socket nobody listens on is named, and nothing is left of the container.
    let gone = f.tmp.path().join("nobody.sock");
    let (status, err) = f.create_with_console(&gone);
    assert!(!status.success());
    assert!(err.contains("nobody.sock"), "{err}");
    assert_eq!(stdout(&f.ours(&["list", "-q"])), "");
    assert!(!f.root().join(&f.id).exists(), "a state dir was left");
}

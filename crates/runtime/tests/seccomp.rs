//! Seccomp for real: containers run under the compiled filters and we read what their
//! syscalls return. Each denial test has a control without the filter (or with it off)
//! whose result differs, so the filter, not the capabilities, is what the test sees.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use common::{Fixture, TestResult};
use compose_runtime::{caps, seccomp};
use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder, LinuxSeccomp, Spec};

/// A static helper that makes the syscalls busybox can't, printing `name errno` (0: it
/// worked) for each name on its command line.
const HELPER: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long call(const char *n) {
    if (!strcmp(n, "mount")) return mount("none", "/tmp", "tmpfs", 0, "");
    if (!strcmp(n, "unshare")) return unshare(CLONE_NEWUTS);
    if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, 0, -2, 1);
    if (!strcmp(n, "add_key")) return syscall(SYS_add_key, "user", "compose-test", "x", 1, -2);
    if (!strcmp(n, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0x00ff0000UL);
    if (!strcmp(n, "init_module")) return syscall(SYS_init_module, NULL, 0, "");
    if (!strcmp(n, "finit_module")) return syscall(SYS_finit_module, -1, "", 0);
    if (!strcmp(n, "personality_bad")) return syscall(SYS_personality, 0x0040000UL);
    if (!strcmp(n, "personality_ok")) return syscall(SYS_personality, 0xffffffffUL);
    if (!strcmp(n, "vsock")) return socket(40, SOCK_STREAM, 0);
    if (!strcmp(n, "clone_ns") || !strcmp(n, "clone_plain") || !strcmp(n, "clone3")) {
        long r;
        if (!strcmp(n, "clone3")) {
            uint64_t args[8] = {0, 0, 0, 0, SIGCHLD, 0, 0, 0};
            r = syscall(SYS_clone3, args, sizeof args);
        } else {
            unsigned long f = SIGCHLD | (!strcmp(n, "clone_ns") ? CLONE_NEWUTS : 0);
            r = syscall(SYS_clone, f, NULL, NULL, NULL, 0);
        }
        if (r == 0) _exit(0);
        if (r > 0) waitpid(r, NULL, 0);
        return r;
    }
    errno = EINVAL;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        errno = 0;
        long r = call(argv[i]);
        printf("%s %d\n", argv[i], r < 0 ? errno : 0);
    }
    return 0;
}
"#;

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;

/// Compiles the helper statically into the rootfs as /bin/sys.
fn install_helper(rootfs: &Path, tmp: &Path) {
    let src = tmp.join("sys.c");
    std::fs::write(&src, HELPER).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(rootfs.join("bin/sys"))
        .arg(&src)
        .output()
        .expect("gcc is needed (apt-get install gcc libc6-dev)");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every capability the host can grant, as the spec's sets.
fn all_caps() -> HashSet<Capability> {
    let host = caps::own_status_mask("CapBnd").unwrap();
    caps::names_of(host)
        .iter()
        .filter_map(|n| n.trim_start_matches("CAP_").parse().ok())
        .collect()
}

fn set_caps(spec: &mut Spec, set: HashSet<Capability>) {
    let c = LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .unwrap();
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_capabilities(Some(c));
}

fn set_seccomp(spec: &mut Spec, profile: Option<LinuxSeccomp>) {
    spec.linux_mut().as_mut().unwrap().set_seccomp(profile);
}

/// Runs the helper on `calls` in a container with every capability; returns each errno.
fn errnos(name: &str, profile: Option<LinuxSeccomp>, calls: &[&str]) -> Vec<(String, i32)> {
    let f = Fixture::new(name);
    install_helper(&f.rootfs(), f.tmp.path());
    let mut spec = f.spec(&format!("/bin/sys {} > /out/r", calls.join(" ")));
    set_caps(&mut spec, all_caps());
    set_seccomp(&mut spec, profile);
    assert_eq!(f.run(&spec).code, 0);
    let out = f.read_out("r");
    let got: Vec<(String, i32)> = out
        .lines()
        .filter_map(|l| {
            let (n, e) = l.split_once(' ')?;
            Some((n.to_string(), e.parse().ok()?))
        })
        .collect();
    eprintln!("{name}: {got:?}");
    assert_eq!(got.len(), calls.len(), "{out}");
    got
}

const DENIED: [&str; 9] = [
    "mount",
    "unshare",
    "keyctl",
    "add_key",
    "kexec_load",
    "init_module",
    "finit_module",
    "personality_bad",
    "vsock",
];

/// Docker's default profile made for the default capabilities, in a container that holds
/// all of them: the capabilities would allow each call, the filter refuses it.
#[test]
fn the_default_profile_denies_with_eperm_what_the_caps_would_allow() {
    let profile = seccomp::default_profile(&compose_runtime::spec::default_capabilities());
    for (name, errno) in errnos("sc-deny", Some(profile), &DENIED) {
        assert_eq!(errno, EPERM, "{name}");
    }
}

#[test]
fn unconfined_lets_the_same_calls_reach_the_kernel() {
    for (name, errno) in errnos("sc-unconf", None, &DENIED) {
        assert_ne!(errno, EPERM, "{name} was refused without a filter");
    }
}

/// Namespaces by clone need CAP_SYS_ADMIN in the profile; clone3 says ENOSYS so libc falls
/// back to clone; a plain fork works.
#[test]
fn clone_flags_are_checked_and_clone3_falls_back() {
    let profile = seccomp::default_profile(&compose_runtime::spec::default_capabilities());
    let calls = ["clone_plain", "clone_ns", "clone3", "personality_ok"];
    let got = errnos("sc-clone", Some(profile), &calls);
    let want = [0, EPERM, ENOSYS, 0];
    for ((name, errno), want) in got.iter().zip(want) {
        assert_eq!(*errno, want, "{name}");
    }
    let got = errnos("sc-clone-u", None, &calls);
    assert!(got.iter().all(|(_, e)| *e == 0), "{got:?}");
}

/// With CAP_SYS_ADMIN in the set the profile is made for, mount and unshare are allowed.
#[test]
fn sys_admin_unlocks_mount_and_unshare() {
    let profile = seccomp::default_profile(&all_caps());
    let got = errnos("sc-admin", Some(profile), &["mount", "unshare", "clone_ns"]);
    assert!(got.iter().all(|(_, e)| *e == 0), "{got:?}");
}

/// The default spec carries the profile: ordinary work runs under it, in filter mode.
#[test]
fn ordinary_work_runs_under_the_default_profile() {
    let f = Fixture::new("sc-work");
    let script = "ls / > /out/ls && echo hello > /out/echo && sleep 0.1 && \
                  mkdir /tmp/d && grep -E 'Seccomp|NoNewPrivs' /proc/self/status > /out/st";
    let spec = f.spec(script);
    assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
    assert_eq!(f.run(&spec).code, 0);
    assert!(f.read_out("ls").contains("bin"));
    assert_eq!(f.read_out("echo"), "hello\n");
    let st = f.read_out("st");
    assert!(st.contains("Seccomp:\t2"), "{st}");
    assert!(st.contains("NoNewPrivs:\t1"), "{st}");
}

/// Without no_new_privs the filter goes in while the init still holds CAP_SYS_ADMIN.
#[test]
fn the_filter_is_installed_without_no_new_privs() {
    let f = Fixture::new("sc-nnp");
    let mut spec = f.spec("grep -E 'Seccomp|NoNewPrivs' /proc/self/status > /out/st");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_no_new_privileges(Some(false));
    assert_eq!(f.run(&spec).code, 0);
    let st = f.read_out("st");
    assert!(st.contains("Seccomp:\t2"), "{st}");
    assert!(st.contains("NoNewPrivs:\t0"), "{st}");
}

#[test]
fn unconfined_has_no_filter() {
    let f = Fixture::new("sc-none");
    let mut spec = f.spec("grep Seccomp: /proc/self/status > /out/st");
    set_seccomp(&mut spec, None);
    assert_eq!(f.run(&spec).code, 0);
    assert!(f.read_out("st").contains("Seccomp:\t0"));
}

/// A Docker-format profile file denying mkdir with its own errno.
#[test]
fn a_custom_profile_file_denies_mkdir_with_its_errno() -> TestResult {
    let f = Fixture::new("sc-file");
    let path = f.tmp.path().join("profile.json");
    std::fs::write(
        &path,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 122, "comment": "EDQUOT, for a message we can spot"}]}"#,
    )?;
    let profile =
        seccomp::load_docker_profile(&path, &compose_runtime::spec::default_capabilities())?;
    let mut spec =
        f.spec("mkdir /tmp/x 2> /out/err; echo $? > /out/rc; touch /tmp/y && echo ok > /out/touch");
    set_seccomp(&mut spec, Some(profile));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("rc").trim(), "1");
    let err = f.read_out("err").to_lowercase();
    assert!(err.contains("quota"), "{err}");
    assert_eq!(f.read_out("touch"), "ok\n");
    Ok(())
}

#[test]
fn an_unknown_syscall_in_a_profile_is_named() -> TestResult {
    let f = Fixture::new("sc-typo");
    let path = f.tmp.path().join("profile.json");
    std::fs::write(
        &path,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdri"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )?;
    let err = seccomp::load_docker_profile(&path, &HashSet::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"mkdri\"") && err.contains("profile.json"),
        "{err}"
    );
    // The same typo in a spec's profile stops create, naming it, and leaves nothing.
    let mut profile = seccomp::default_profile(&HashSet::new());
    let mut rules = profile.syscalls().clone().unwrap();
    rules[0].set_names(vec!["mkdri".into()]);
    profile.set_syscalls(Some(rules));
    let mut spec = f.spec("true");
    set_seccomp(&mut spec, Some(profile));
    let err = f.create(&spec).err().unwrap().to_string();
    assert!(err.contains("\"mkdri\""), "{err}");
    assert!(!f.rt.root().join(&f.id).exists());
    Ok(())
}

/// Runs the helper on `calls` in three containers of one runtime (one state root), each
/// under `profile` with every capability: the errnos of each run.
fn cached_runs(f: &Fixture, profile: &LinuxSeccomp, calls: &[&str], run: u32) -> Vec<i32> {
    let mut spec = f.spec(&format!("/bin/sys {} > /out/r{run}", calls.join(" ")));
    set_caps(&mut spec, all_caps());
    set_seccomp(&mut spec, Some(profile.clone()));
    assert_eq!(f.run(&spec).code, 0);
    f.read_out(&format!("r{run}"))
        .lines()
        .filter_map(|l| l.split_once(' ')?.1.parse().ok())
        .collect()
}

/// The compiled filter is kept under the state root: written by the first container, read
/// (not rewritten) by the second, and a damaged entry is compiled again and replaced, with
/// the denied calls still denied each time.
#[test]
fn the_compiled_filter_is_cached_checked_and_replaced_when_damaged() {
    use std::os::unix::fs::MetadataExt;
    let mut f = Fixture::new("sc-cache");
    install_helper(&f.rootfs(), f.tmp.path());
    let profile = seccomp::default_profile(&compose_runtime::spec::default_capabilities());
    let dir = f.tmp.path().join("seccomp-cache");
    // Without the option nothing is kept (the state root holds only containers).
    assert_eq!(cached_runs(&f, &profile, &["mount"], 0), [EPERM]);
    assert!(!dir.exists() && !f.rt.root().join(seccomp::cache::DIR).exists());
    f.rt = f.rt.clone().with_seccomp_cache(&dir);
    let entry = seccomp::cache::entry_for(&dir, &profile).unwrap();
    assert!(!entry.exists());
    let calls = ["mount", "keyctl", "unshare"];

    assert_eq!(cached_runs(&f, &profile, &calls, 1), [EPERM; 3]);
    let first = std::fs::metadata(&entry).expect("written by the first container");
    assert_eq!(cached_runs(&f, &profile, &calls, 2), [EPERM; 3]);
    let second = std::fs::metadata(&entry).unwrap();
    assert_eq!(
        (first.ino(), first.mtime_nsec(), first.mtime()),
        (second.ino(), second.mtime_nsec(), second.mtime()),
        "read, not written again"
    );

    // Damaged: the instructions turned into "allow everything" without fixing the sum.
    let mut bytes = std::fs::read(&entry).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len - 64..len - 32] {
        *b = 0;
    }
    std::fs::write(&entry, &bytes).unwrap();
    assert_eq!(cached_runs(&f, &profile, &calls, 3), [EPERM; 3]);
    let third = std::fs::metadata(&entry).unwrap();
    assert_ne!(third.ino(), second.ino(), "replaced by a new file");
    assert_ne!(std::fs::read(&entry).unwrap(), bytes);
    let (_, outcome) = seccomp::cache::load_or_compile(&dir, &profile).unwrap();
    assert_eq!(outcome, seccomp::cache::Outcome::Hit);
}

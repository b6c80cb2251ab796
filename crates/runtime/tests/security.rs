//! Isolation and hardening: each test fails without the defense it checks.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsRawFd;

use common::{Fixture, TestResult, bind};
use compose_runtime::Error;

#[test]
fn host_pids_are_invisible() {
    let f = Fixture::new("pidns");
    let st = f.run(&f.spec("echo $$ > /out/pid; ls /proc > /out/proc"));
    assert_eq!(st.code, 0);
    assert_eq!(f.read_out("pid").trim(), "1");
    let pids: Vec<u32> = f
        .read_out("proc")
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    // sh and ls, nothing of the host's.
    assert!(pids.len() <= 3 && pids.contains(&1), "{pids:?}");
}

#[test]
fn hostname_is_set() {
    let f = Fixture::new("host");
    let mut spec = f.spec("hostname > /out/h");
    spec.set_hostname(Some("box-7".into()));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("h").trim(), "box-7");
}

#[test]
fn effective_caps_are_dockers_fourteen() {
    let f = Fixture::new("caps");
    let st = f.run(&f.spec("grep Cap /proc/self/status > /out/caps"));
    assert_eq!(st.code, 0);
    let caps = f.read_out("caps");
    for line in [
        "CapEff:\t00000000a80425fb",
        "CapPrm:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
    ] {
        assert!(caps.contains(line), "{line} not in\n{caps}");
    }
    assert!(caps.contains("CapInh:\t0000000000000000"), "{caps}");
}

#[test]
fn a_cap_the_host_lacks_is_refused_by_name() {
    let f = Fixture::new("nocap");
    let mut spec = f.spec("true");
    let mut caps = compose_runtime::spec::default_capabilities();
    caps.insert(oci_spec::runtime::Capability::SysResource);
    let p = spec.process_mut().as_mut().unwrap();
    let mut c = p.capabilities().clone().unwrap();
    c.set_bounding(Some(caps));
    p.set_capabilities(Some(c));
    let host = compose_runtime::caps::own_status_mask("CapBnd").unwrap();
    let r = f.create(&spec);
    if host & (1 << 24) == 0 {
        let err = r.err().unwrap().to_string();
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
    }
}

#[test]
fn an_rlimit_above_the_hard_limit_is_refused_clearly() {
    let f = Fixture::new("rlim");
    let mut spec = f.spec("true");
    let lim = oci_spec::runtime::PosixRlimitBuilder::default()
        .typ(oci_spec::runtime::PosixRlimitType::RlimitNofile)
        .soft(1_048_576u64)
        .hard(1_048_576u64)
        .build()
        .unwrap();
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_rlimits(Some(vec![lim]));
    let can_raise = compose_runtime::caps::own_status_mask("CapEff").unwrap() & (1 << 24) != 0;
    match f.create(&spec) {
        Err(e @ Error::RlimitAboveHard { .. }) => assert!(e.to_string().contains("RLIMIT_NOFILE")),
        Err(e) => panic!("{e}"),
        Ok(_) => assert!(can_raise),
    }
}

#[test]
fn rlimits_are_set() {
    let f = Fixture::new("rlimok");
    let mut spec = f.spec("ulimit -n > /out/n");
    let lim = oci_spec::runtime::PosixRlimitBuilder::default()
        .typ(oci_spec::runtime::PosixRlimitType::RlimitNofile)
        .soft(321u64)
        .hard(4321u64)
        .build()
        .unwrap();
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_rlimits(Some(vec![lim]));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("n").trim(), "321");
}

#[test]
fn masked_and_read_only_paths() {
    let f = Fixture::new("mask");
    let script = "wc -c < /proc/kcore > /out/kcore; ls -A /sys/firmware > /out/fw; \
                  cat /proc/keys > /out/keys; stat -c %t,%T /proc/keys /proc/timer_list > /out/dev; \
                  if echo x > /proc/sys/kernel/hostname; then echo writable; else echo ro; fi > /out/sys; \
                  grep NoNewPrivs /proc/self/status > /out/nnp";
    assert_eq!(f.run(&f.spec(script)).code, 0);
    // This host's kernel has no /proc/kcore; where there is one it must read as empty.
    if std::path::Path::new("/proc/kcore").exists() {
        assert_eq!(f.read_out("kcore").trim(), "0");
    }
    assert_eq!(
        f.read_out("dev"),
        "1,3\n1,3\n",
        "/dev/null over the masked files"
    );
    assert_eq!(f.read_out("fw").trim(), "");
    assert_eq!(f.read_out("keys").trim(), "");
    assert_eq!(f.read_out("sys").trim(), "ro");
    assert_eq!(f.read_out("nnp").trim(), "NoNewPrivs:\t1");
}

/// Opens a host directory without O_CLOEXEC, as a careless runtime would leak one, at a
/// number above 100 (apart from the fds the container's own commands open).
fn leak_dir_fd(path: &std::path::Path) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: F_DUPFD makes a new fd (without FD_CLOEXEC) that we then own.
    let fd = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD, 100) };
    assert!(fd >= 100);
    // SAFETY: fd is new and ours.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

#[test]
fn no_runtime_fd_is_visible() {
    let f = Fixture::new("fds");
    let leak = leak_dir_fd(f.tmp.path());
    let st = f.run(&f.spec("ls /proc/self/fd > /out/fds"));
    assert_eq!(st.code, 0);
    let fds: Vec<i32> = f
        .read_out("fds")
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(!fds.contains(&leak.as_raw_fd()), "{fds:?}");
    // stdio, and the dir ls reads.
    assert!(fds.iter().all(|fd| *fd <= 3), "{fds:?}");
}

#[test]
fn a_cwd_outside_the_root_is_refused() -> TestResult {
    // CVE-2024-21626: a host dir fd left open lets `cwd: /proc/self/fd/N` escape the root.
    let f = Fixture::new("cwd");
    let leak = leak_dir_fd(f.tmp.path());
    let mut spec = f.spec("pwd > /out/pwd; touch escaped");
    let cwd = format!("/proc/self/fd/{}", leak.as_raw_fd());
    spec.process_mut().as_mut().unwrap().set_cwd(cwd.into());
    let mut g = f.create(&spec)?;
    let err = g.c().start().unwrap_err().to_string();
    assert!(err.contains("chdir"), "{err}");
    assert!(!f.tmp.path().join("escaped").exists());
    Ok(())
}

#[test]
fn a_symlinked_mount_target_stays_inside_the_rootfs() {
    let f = Fixture::new("symlink");
    let root = f.rootfs();
    let name = common::unique("escape");
    // An image whose /etc/hosts points out of the root.
    std::os::unix::fs::symlink(
        format!("/../../../../../../tmp/{name}"),
        root.join("etc/hosts"),
    )
    .unwrap();
    let hosts = f.tmp.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let mut spec = f.spec("cat /etc/hosts > /out/hosts");
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(bind(&hosts, "/etc/hosts", &["bind", "ro"]));
    spec.set_mounts(Some(mounts));
    assert_eq!(f.run(&spec).code, 0);
    assert!(
        !std::path::Path::new("/tmp").join(&name).exists(),
        "created outside the rootfs"
    );
    assert!(
        root.join("tmp").join(&name).exists(),
        "the target is made inside the rootfs"
    );
    assert_eq!(f.read_out("hosts"), "127.0.0.1 localhost\n");
}

#[test]
fn devices_are_there_and_usable() {
    let f = Fixture::new("dev");
    let script = "head -c 4 /dev/urandom | wc -c > /out/r; echo x > /dev/null && ls /dev > /out/dev; \
                  test -c /dev/pts/ptmx && echo ok > /out/pts; grep -c mqueue /proc/mounts > /out/mq";
    assert_eq!(f.run(&f.spec(script)).code, 0);
    assert_eq!(f.read_out("r").trim(), "4");
    let dev = f.read_out("dev");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx",
    ] {
        assert!(dev.split_whitespace().any(|x| x == d), "{d} not in {dev}");
    }
    assert_eq!(f.read_out("pts").trim(), "ok");
}

#[test]
fn device_cgroup_denies_nodes_not_listed() {
    let f = Fixture::new("devcg");
    // mknod is allowed (CAP_MKNOD, "b *:* m"), opening a disk it makes is not.
    let script = "mknod /tmp/blk b 7 0 && head -c 1 /tmp/blk 2> /out/err; echo $? > /out/rc";
    assert_eq!(f.run(&f.spec(script)).code, 0);
    assert!(
        f.read_out("err").contains("not permitted"),
        "{}",
        f.read_out("err")
    );
    assert_ne!(f.read_out("rc").trim(), "0");
}

#[test]
fn user_and_groups_are_set_and_caps_dropped_for_non_root() {
    let f = Fixture::new("user");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.out(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut spec = f.spec("id > /out/id; grep CapEff /proc/self/status > /out/caps");
    let user = oci_spec::runtime::UserBuilder::default()
        .uid(1000u32)
        .gid(1001u32)
        .additional_gids(vec![10u32, 20])
        .build()
        .unwrap();
    spec.process_mut().as_mut().unwrap().set_user(user);
    assert_eq!(f.run(&spec).code, 0);
    let id = f.read_out("id");
    assert!(id.starts_with("uid=1000 gid=1001 groups=10,20"), "{id}");
    assert_eq!(f.read_out("caps").trim(), "CapEff:\t0000000000000000");
}

#[test]
fn joins_a_given_network_namespace() {
    let f = Fixture::new("netns");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let spec = f.spec("readlink /proc/self/ns/net > /out/ns");
    let opts = compose_runtime::CreateOptions {
        netns: Some("/proc/self/ns/net".into()),
        ..Default::default()
    };
    let rootfs = compose_runtime::Rootfs::Dir(f.rootfs());
    let c = f.rt.create(&f.id, &spec, &rootfs, &opts).unwrap();
    let mut g = common::Guard(Some(c));
    g.c().start().unwrap();
    assert_eq!(g.c().wait().unwrap().code, 0);
    assert_eq!(f.read_out("ns").trim(), host_ns.to_string_lossy());
    // And a new one by default.
    let f2 = Fixture::new("netns2");
    assert_eq!(
        f2.run(&f2.spec("readlink /proc/self/ns/net > /out/ns"))
            .code,
        0
    );
    assert_ne!(f2.read_out("ns").trim(), host_ns.to_string_lossy());
}

/// A fresh network namespace (the init unshares it itself, beside the parent's cgroup
/// setup, rather than in the clone): its own, with nothing but `lo`, the creating thread
/// still in the host's, and no fd of the creating process holding it afterwards.
#[test]
fn a_fresh_network_namespace_is_the_containers_alone() {
    let f = Fixture::new("freshnet");
    let host_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let spec = f.spec("readlink /proc/self/ns/net > /out/ns; ls /sys/class/net > /out/links");
    let mut g = f.create(&spec).unwrap();
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        host_ns,
        "the creating thread left the host's network namespace"
    );
    g.c().start().unwrap();
    assert_eq!(g.c().wait().unwrap().code, 0);
    drop(g);
    let ns = f.read_out("ns").trim().to_string();
    assert!(ns.starts_with("net:["), "{ns}");
    assert_ne!(ns, host_ns.to_string_lossy());
    assert_eq!(
        f.read_out("links").split_whitespace().collect::<Vec<_>>(),
        ["lo"]
    );
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        assert_ne!(
            target.to_string_lossy(),
            ns,
            "an fd still holds the namespace"
        );
    }
}

/// Nothing of the creating process's signal state reaches the process: a signal it
/// ignores (the exec would keep that; 32 too, which glibc's own wrappers will not touch)
/// or blocks is default and unblocked inside.
#[test]
fn the_process_starts_with_default_signals_and_an_empty_mask() {
    let f = Fixture::new("signals");
    // The kernel's struct sigaction: SIG_IGN (1), no flags, no restorer, an empty mask.
    let ign: [usize; 4] = [1, 0, 0, 0];
    for sig in [libc::SIGHUP, 32] {
        // SAFETY: this test's own process (nextest runs each test alone); a valid
        // struct, a null old-action pointer, the kernel's 8-byte sigset size.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                ign.as_ptr(),
                std::ptr::null_mut::<usize>(),
                8usize,
            )
        };
        assert_eq!(r, 0, "ignoring {sig}");
    }
    // SAFETY: as above; a valid, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    // Read from the host once it runs: a plain `sleep`, no shell making choices of its own.
    let mut spec = f.spec("");
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["sleep".into(), "100".into()]));
    let mut g = f.create(&spec).unwrap();
    g.c().start().unwrap();
    let pid = g.c().pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let _ = g.c().kill(libc::SIGKILL);
    let sig: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("SigIgn") || l.starts_with("SigBlk"))
        .collect();
    assert_eq!(sig.len(), 2, "{status}");
    for line in sig {
        let mask = line.split_whitespace().nth(1).unwrap_or("?");
        assert!(mask.bytes().all(|b| b == b'0'), "{line}");
    }
}

#[test]
fn a_failed_step_names_itself_and_leaves_nothing() {
    let f = Fixture::new("badopt");
    let mut spec = f.spec("true");
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination("/bad")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec!["size=lots".to_string()])
            .build()
            .unwrap(),
    );
    spec.set_mounts(Some(mounts));
    let err = f.create(&spec).err().unwrap();
    assert!(matches!(err, Error::Init { .. }), "{err}");
    assert!(
        err.to_string().contains("mounting tmpfs size=lots on /bad"),
        "{err}"
    );
    assert!(!f.rt.root().join(&f.id).exists());
    let cg = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(common::CGROUP_PARENT)
        .join(&f.id);
    assert!(!cg.exists());
}

#[test]
fn spec_device_rules_apply_on_top_of_the_defaults() {
    let f = Fixture::new("devrule");
    if f.rt.hierarchy() != compose_runtime::cgroups::Hierarchy::V1 {
        return;
    }
    // Allow reading the loop-control node (10:237) the spec asks for; a disk stays denied.
    let mut spec = f.spec(
        "mknod /tmp/ok c 10 237; mknod /tmp/blk b 7 0; \
         head -c 1 /tmp/blk 2> /out/blk; head -c 0 /tmp/ok 2> /out/ok; true",
    );
    let rule = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(oci_spec::runtime::LinuxDeviceType::C)
        .major(10)
        .minor(237)
        .access("rw")
        .build()
        .unwrap();
    let mut linux = spec.linux().clone().unwrap();
    let res = oci_spec::runtime::LinuxResourcesBuilder::default()
        .devices(vec![rule])
        .build()
        .unwrap();
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    assert_eq!(f.run(&spec).code, 0);
    assert!(
        f.read_out("blk").contains("not permitted"),
        "{}",
        f.read_out("blk")
    );
    assert!(
        !f.read_out("ok").contains("not permitted"),
        "{}",
        f.read_out("ok")
    );
}

#[test]
fn spec_devices_are_created() {
    let f = Fixture::new("devnode");
    let mut spec =
        f.spec("stat -c '%t,%T %a %u:%g' /dev/extra/mynull > /out/st; echo x > /dev/extra/mynull");
    let dev = oci_spec::runtime::LinuxDeviceBuilder::default()
        .path("/dev/extra/mynull")
        .typ(oci_spec::runtime::LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .file_mode(0o620u32)
        .uid(1000u32)
        .gid(5u32)
        .build()
        .unwrap();
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(vec![dev]));
    spec.set_linux(Some(linux));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("st").trim(), "1,3 620 1000:5");
}

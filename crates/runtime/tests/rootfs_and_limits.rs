//! Rootfs kinds, mounts, and cgroup limits.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Fixture, TestResult, bind};
use compose_runtime::Rootfs;
use oci_spec::runtime::{
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, MountBuilder, Spec,
};

fn set_resources(spec: &mut Spec, r: oci_spec::runtime::LinuxResources) {
    let mut linux = spec.linux().clone().unwrap();
    linux.set_resources(Some(r));
    spec.set_linux(Some(linux));
}

#[test]
fn overlay_over_two_lowers_writes_only_to_the_upper() -> TestResult {
    let f = Fixture::new("overlay");
    let top = f.tmp.path().join("lower-top");
    let bottom = f.tmp.path().join("lower-bottom");
    common::busybox_into(&bottom);
    std::fs::write(bottom.join("etc/x"), "bottom")?;
    std::fs::write(bottom.join("etc/y"), "y")?;
    std::fs::create_dir_all(top.join("etc"))?;
    std::fs::write(top.join("etc/x"), "top")?;
    let spec = f
        .spec("cat /etc/x > /out/x; cat /etc/y > /out/y; echo new > /etc/new; echo more >> /etc/y");
    let rootfs = Rootfs::Overlay {
        lowers: vec![top.clone(), bottom.clone()],
    };
    let mut g = f.create_on(&spec, &rootfs)?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    assert_eq!(f.read_out("x"), "top");
    assert_eq!(f.read_out("y"), "y");
    let upper = g.c().dir().join("upper");
    assert_eq!(std::fs::read_to_string(upper.join("etc/new"))?, "new\n");
    assert_eq!(std::fs::read_to_string(upper.join("etc/y"))?, "ymore\n");
    assert!(!top.join("etc/new").exists() && !bottom.join("etc/new").exists());
    assert_eq!(std::fs::read_to_string(bottom.join("etc/y"))?, "y");
    Ok(())
}

#[test]
fn an_overlay_in_the_caller_s_dir_keeps_its_upper_across_containers() -> TestResult {
    // Rootfs::OverlayIn: the upper and work dirs outside the state dir, kept on delete, so a
    // container made again under the same id finds its files (a restart, in the engine).
    let f = Fixture::new("keepupper");
    let base = f.tmp.path().join("base");
    common::busybox_into(&base);
    let rw = f.tmp.path().join("rw");
    let rootfs = Rootfs::OverlayIn {
        lowers: vec![base.clone()],
        dir: rw.clone(),
    };
    for expect in ["1", "2"] {
        let spec = f.spec("echo x >> /count; wc -l < /count > /out/n");
        let mut g = f.create_on(&spec, &rootfs)?;
        assert!(!g.c().dir().join("upper").exists(), "not in the state dir");
        g.c().start()?;
        assert_eq!(g.c().wait()?.code, 0);
        assert_eq!(f.read_out("n").trim(), expect);
        drop(g);
    }
    assert_eq!(std::fs::read_to_string(rw.join("upper/count"))?, "x\nx\n");
    assert!(!base.join("count").exists(), "the lower is untouched");
    Ok(())
}

#[test]
fn a_long_overlay_chain_mounts() -> TestResult {
    // 64 lowers with long paths: far over the one-page limit of a `lowerdir=` option.
    let f = Fixture::new("chain");
    let mut lowers = Vec::new();
    for i in 0..64 {
        let l = f
            .tmp
            .path()
            .join(format!("{}-layer-{i:03}", "l".repeat(60)));
        std::fs::create_dir_all(l.join("layers"))?;
        std::fs::write(l.join("layers").join(i.to_string()), "")?;
        lowers.push(l);
    }
    let base = f.tmp.path().join("base");
    common::busybox_into(&base);
    lowers.push(base);
    let spec = f.spec("ls /layers | wc -l > /out/n");
    let mut g = f.create_on(&spec, &Rootfs::Overlay { lowers })?;
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    assert_eq!(f.read_out("n").trim(), "64");
    Ok(())
}

#[test]
fn read_only_rootfs() {
    let f = Fixture::new("rorootfs");
    let mut spec = f.spec("if touch /newfile; then echo rw; else echo ro; fi > /out/root; touch /dev/shm/ok && echo ok > /out/shm");
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(true));
    spec.set_root(Some(root));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("root").trim(), "ro");
    assert_eq!(f.read_out("shm").trim(), "ok");
    assert!(!f.rootfs().join("newfile").exists());
}

#[test]
fn bind_mounts_ro_and_rw() {
    let f = Fixture::new("bind");
    let data = f.tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hello"), "hi").unwrap();
    let mut spec = f.spec("cat /data/hello > /out/hello; if touch /data/new; then echo rw; else echo ro; fi > /out/data");
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(bind(&data, "/data", &["rbind", "ro"]));
    spec.set_mounts(Some(mounts));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("hello"), "hi");
    assert_eq!(f.read_out("data").trim(), "ro");
    assert!(!data.join("new").exists());
}

#[test]
fn tmpfs_size_and_mode() {
    let f = Fixture::new("tmpfs");
    let mut spec = f.spec(
        "stat -c %a /scratch > /out/mode; \
         if dd if=/dev/zero of=/scratch/f bs=1024 count=2048 2>/dev/null; then echo fit; else echo full; fi > /out/dd",
    );
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(
        MountBuilder::default()
            .destination("/scratch")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "size=1m".to_string(),
                "mode=1770".to_string(),
                "nosuid".to_string(),
            ])
            .build()
            .unwrap(),
    );
    spec.set_mounts(Some(mounts));
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("mode").trim(), "1770");
    assert_eq!(f.read_out("dd").trim(), "full");
}

#[test]
fn memory_limit_ends_in_a_reported_oom_kill() {
    let f = Fixture::new("oom");
    // /dev/shm is tmpfs, charged to the cgroup and not reclaimable without swap.
    let mut spec = f.spec("exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=60");
    let mem = LinuxMemoryBuilder::default()
        .limit(16i64 << 20)
        .swap(16i64 << 20)
        .build()
        .unwrap();
    set_resources(
        &mut spec,
        LinuxResourcesBuilder::default()
            .memory(mem)
            .build()
            .unwrap(),
    );
    let st = f.run(&spec);
    assert!(st.oom_killed, "{st:?}");
    assert_eq!(st.code, 137);
}

#[test]
fn pids_limit_bounds_a_fork_bomb() -> TestResult {
    let f = Fixture::new("pids");
    // The bomb runs in a child shell, which dies at its first failed fork; its sleeps stay,
    // and the init lives on without forking (`:` and `exec`).
    let script = "sh -c 'while :; do sleep 30 & done' 2>/dev/null; : > /out/done; exec sleep 30";
    let mut spec = f.spec(script);
    let pids = LinuxPidsBuilder::default().limit(10).build()?;
    set_resources(
        &mut spec,
        LinuxResourcesBuilder::default().pids(pids).build()?,
    );
    let mut g = f.create(&spec)?;
    g.c().start()?;
    common::wait_for(|| f.out().join("done").exists());
    let n = g.c().pids()?.len();
    assert!((5..=10).contains(&n), "{n} processes");
    g.c().stop(libc::SIGKILL, Duration::ZERO)?;
    assert!(g.c().pids()?.is_empty());
    Ok(())
}

#[test]
fn no_mount_reaches_the_host() -> TestResult {
    let f = Fixture::new("nomount");
    let rootfs = Rootfs::Overlay {
        lowers: vec![f.rootfs()],
    };
    let _g = f.create_on(&f.spec("true"), &rootfs)?;
    // The init is set up (overlay, proc, dev, binds...) and waits for start.
    let host = std::fs::read_to_string("/proc/self/mountinfo")?;
    let tmp = f.tmp.path().to_string_lossy().into_owned();
    assert!(!host.contains(&tmp), "{host}");
    Ok(())
}

#[test]
fn v1_limits_are_written_and_the_cgroup_namespace_hides_the_path() -> TestResult {
    use oci_spec::runtime::LinuxCpuBuilder;
    let f = Fixture::new("limits");
    if f.rt.hierarchy() != compose_runtime::cgroups::Hierarchy::V1 {
        return Ok(());
    }
    let mut spec = f.spec("cat /proc/self/cgroup > /out/cg");
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(128i64 << 20)
                .build()?,
        )
        .cpu(
            LinuxCpuBuilder::default()
                .quota(50_000i64)
                .period(100_000u64)
                .shares(512u64)
                .cpus("0")
                .build()?,
        )
        .build()?;
    set_resources(&mut spec, r);
    let mut g = f.create(&spec)?;
    let cg = |c: &str, file: &str| {
        let p = format!(
            "/sys/fs/cgroup/{c}/{}/{}/{file}",
            common::CGROUP_PARENT,
            f.id
        );
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        cg("memory", "memory.memsw.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cg("cpu", "cpu.shares"), "512");
    assert_eq!(cg("cpuset", "cpuset.cpus"), "0");
    assert!(!cg("cpuset", "cpuset.mems").is_empty());
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    let inside = f.read_out("cg");
    assert!(inside.lines().any(|l| l.ends_with(":memory:/")), "{inside}");
    assert!(!inside.contains(&f.id), "{inside}");
    Ok(())
}

/// The init moves itself into its cgroups (on v1, its one thread through `tasks`): once
/// `create` returns, every controller the runtime uses lists it as a process of the
/// container's cgroup, before it runs anything of the container's.
#[test]
fn the_init_is_in_every_cgroup_of_the_container_once_created() -> TestResult {
    let f = Fixture::new("cg-join");
    let g = f.create(&f.spec("true"))?;
    let pid = g.0.as_ref().map(|c| c.pid()).unwrap_or_default();
    let want = format!("/{}/{}", common::CGROUP_PARENT, f.id);
    let lines = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let mut seen = 0;
    for l in lines.lines() {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let first = controllers.split(',').next().unwrap_or_default();
        let dir = std::path::Path::new("/sys/fs/cgroup").join(first);
        let ours = dir.join(want.trim_start_matches('/'));
        if controllers.is_empty() || controllers.starts_with("name=") || !ours.exists() {
            continue;
        }
        assert_eq!(path, want, "{l}");
        let procs = std::fs::read_to_string(ours.join("cgroup.procs"))?;
        assert!(procs.lines().any(|p| p == pid.to_string()), "{l}: {procs}");
        seen += 1;
    }
    if f.rt.hierarchy() == compose_runtime::cgroups::Hierarchy::V1 {
        assert!(seen >= 3, "{lines}");
    }
    Ok(())
}

/// The cgroups are made while the init sets up (after the clone): when that fails (a
/// cpuset of a CPU this host lacks), create says so and leaves no cgroup or state (the init is killed by its pidfd).
#[test]
fn a_cgroup_that_cannot_be_made_fails_create_cleanly() -> TestResult {
    use oci_spec::runtime::LinuxCpuBuilder;
    let f = Fixture::new("cg-bad");
    let mut spec = f.spec("true");
    let r = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("1023").build()?)
        .build()?;
    set_resources(&mut spec, r);
    let err = f.create(&spec).err().ok_or("create succeeded")?;
    assert!(err.to_string().contains("cpuset"), "{err}");
    assert!(!f.rt.root().join(&f.id).exists());
    let cg = match f.rt.hierarchy() {
        compose_runtime::cgroups::Hierarchy::V1 => "/sys/fs/cgroup/cpuset",
        compose_runtime::cgroups::Hierarchy::V2 => "/sys/fs/cgroup",
    };
    let cg = format!("{cg}/{}/{}", common::CGROUP_PARENT, f.id);
    assert!(!std::path::Path::new(&cg).exists(), "{cg}");
    Ok(())
}

/// A directory rootfs is bound onto itself inside the init's mount namespace: the host
/// sees no mount on it, and the state dir gets no mount point.
#[test]
fn a_dir_rootfs_is_bound_onto_itself_unseen_by_the_host() -> TestResult {
    let f = Fixture::new("dirroot");
    let rootfs = f.rootfs();
    let mut g = f.create(&f.spec("ls / > /out/ls"))?;
    let host = std::fs::read_to_string("/proc/self/mountinfo")?;
    assert!(!host.contains(&*rootfs.to_string_lossy()), "{host}");
    assert!(!g.c().dir().join("rootfs").exists());
    let inside = std::fs::read_to_string(format!("/proc/{}/mountinfo", g.c().pid()))?;
    let root_line = inside.lines().find(|l| l.split(' ').nth(4) == Some("/"));
    assert!(root_line.is_some(), "{inside}");
    g.c().start()?;
    assert_eq!(g.c().wait()?.code, 0);
    assert!(f.read_out("ls").contains("bin"));
    Ok(())
}

/// The old root is detached before the process runs (the detach now follows the init's
/// "set up" report, and precedes its wait for start): none of the host's mounts (its
/// cgroup hierarchies, say) is in the container's mount table, and one mount is at `/`.
#[test]
fn the_old_root_is_gone_before_the_process_runs() -> TestResult {
    let f = Fixture::new("oldroot");
    let spec = f.spec("cat /proc/self/mountinfo > /out/mi");
    assert_eq!(f.run(&spec).code, 0);
    let mi = f.read_out("mi");
    let fields = |l: &str| {
        let (left, right) = l.split_once(" - ").unwrap_or((l, ""));
        let point = left.split(' ').nth(4).unwrap_or_default().to_string();
        let fstype = right.split(' ').next().unwrap_or_default().to_string();
        (point, fstype)
    };
    let all: Vec<(String, String)> = mi.lines().map(fields).collect();
    assert!(!all.is_empty(), "{mi}");
    assert!(
        all.iter().all(|(_, t)| t != "cgroup" && t != "cgroup2"),
        "{mi}"
    );
    assert_eq!(all.iter().filter(|(p, _)| p == "/").count(), 1, "{mi}");
    Ok(())
}

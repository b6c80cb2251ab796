//! A user namespace where the spec asks for one: root in the container is an unprivileged
//! uid on the host, for the init and for `exec` alike.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Fixture, TestResult, bind, wait_for};
use compose_runtime::ExecStdio;
use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    ProcessBuilder, Spec,
};

/// Far above any uid of this host's users; each test process takes its own range.
fn host_base() -> u32 {
    1_000_000 + (std::process::id() % 1000) * 65536
}

fn range(container: u32, host: u32, size: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(container)
        .host_id(host)
        .size(size)
        .build()
        .unwrap()
}

/// The rootfs belongs to the mapped root, as an image unpacked for this mapping would:
/// the host's root is nobody in the namespace, and mount points can't be made in its dirs.
fn own_rootfs(f: &Fixture, base: u32) {
    let st = std::process::Command::new("chown")
        .args(["-hR", &format!("{base}:{base}")])
        .arg(f.rootfs())
        .status()
        .unwrap();
    assert!(st.success());
}

fn with_userns(spec: &mut Spec, base: u32) {
    let mut linux = spec.linux().clone().unwrap();
    let mut ns = linux.namespaces().clone().unwrap();
    ns.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()
            .unwrap(),
    );
    linux.set_namespaces(Some(ns));
    linux.set_uid_mappings(Some(vec![range(0, base, 65536)]));
    linux.set_gid_mappings(Some(vec![range(0, base, 65536)]));
    spec.set_linux(Some(linux));
}

#[test]
fn root_in_the_container_is_an_unprivileged_uid_on_the_host() -> TestResult {
    let f = Fixture::new("userns");
    let base = host_base();
    // /out belongs to the mapped root; /secret to the host's root only.
    std::os::unix::fs::chown(f.out(), Some(base), Some(base))?;
    own_rootfs(&f, base);
    let secret = f.tmp.path().join("secret");
    std::fs::write(&secret, "host only")?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
    let mut spec = f.spec(
        "id -u > /out/uid; cat /proc/self/uid_map > /out/map; touch /out/made; \
         if cat /secret >/dev/null 2>&1; then echo read; else echo denied; fi > /out/secret; \
         echo x > /dev/null && echo null > /out/dev",
    );
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(bind(&secret, "/secret", &["rbind", "ro"]));
    spec.set_mounts(Some(mounts));
    with_userns(&mut spec, base);
    let exit = f.run(&spec);
    assert_eq!(exit.code, 0);
    assert_eq!(f.read_out("uid").trim(), "0");
    let map: Vec<String> = f
        .read_out("map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(map, ["0", &base.to_string(), "65536"]);
    assert_eq!(std::fs::metadata(f.out().join("made"))?.uid(), base);
    assert_eq!(f.read_out("secret").trim(), "denied");
    assert_eq!(f.read_out("dev").trim(), "null");
    Ok(())
}

#[test]
fn exec_joins_the_container_s_user_namespace() -> TestResult {
    let f = Fixture::new("userns-exec");
    let base = host_base() + 32768;
    std::os::unix::fs::chown(f.out(), Some(base), Some(base))?;
    own_rootfs(&f, base);
    let mut spec = f.spec("touch /out/up; exec sleep 1000");
    with_userns(&mut spec, base);
    // Only 32768 ids are free above this base in this process's range.
    let mut linux = spec.linux().clone().unwrap();
    linux.set_uid_mappings(Some(vec![range(0, base, 32768)]));
    linux.set_gid_mappings(Some(vec![range(0, base, 32768)]));
    spec.set_linux(Some(linux));
    let mut g = f.create(&spec)?;
    g.c().start()?;
    wait_for(|| f.out().join("up").exists());
    let process = ProcessBuilder::default()
        .args(vec!["cat".into(), "/proc/self/uid_map".into()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()?;
    let (mut r, w) = std::io::pipe()?;
    let stdio = ExecStdio {
        stdout: Some(w.as_fd()),
        ..ExecStdio::default()
    };
    let p = g.c().spawn_exec(&process, stdio)?;
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out)?;
    assert_eq!(p.wait()?.code, 0);
    let map: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(map, ["0", &base.to_string(), "32768"]);
    Ok(())
}

#[test]
fn a_user_namespace_without_maps_is_refused() {
    let f = Fixture::new("userns-nomap");
    let mut spec = f.spec("true");
    with_userns(&mut spec, host_base());
    let mut linux = spec.linux().clone().unwrap();
    linux.set_uid_mappings(None);
    spec.set_linux(Some(linux));
    let err = f
        .create(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("uidMappings"), "{err}");
    assert!(f.rt.load(&f.id).is_err());
}

//! Namespaced sysctls from the spec: set inside the container, never on the host; a
//! host-wide one refused with its name.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Fixture, TestResult};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

fn set_sysctls(spec: &mut Spec, kv: &[(&str, &str)]) {
    let mut linux = spec.linux().clone().unwrap();
    let map: HashMap<String, String> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    linux.set_sysctl(Some(map));
    spec.set_linux(Some(linux));
}

fn host(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn namespaced_sysctls_are_set_in_the_container_only() -> TestResult {
    let f = Fixture::new("sysctl");
    let mut spec = f.spec(
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start > /out/port; \
         cat /proc/sys/kernel/shmmni > /out/shmmni; \
         cat /proc/sys/fs/mqueue/msg_max > /out/msgmax",
    );
    let before = (
        host("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
        host("/proc/sys/kernel/shmmni"),
        host("/proc/sys/fs/mqueue/msg_max"),
    );
    // Values no default has, so that only the sysctl can explain them.
    set_sysctls(
        &mut spec,
        &[
            ("net.ipv4.ip_unprivileged_port_start", "77"),
            ("kernel.shmmni", "1234"),
            ("fs.mqueue.msg_max", "33"),
        ],
    );
    assert_eq!(f.run(&spec).code, 0);
    assert_eq!(f.read_out("port").trim(), "77");
    assert_eq!(f.read_out("shmmni").trim(), "1234");
    assert_eq!(f.read_out("msgmax").trim(), "33");
    let after = (
        host("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
        host("/proc/sys/kernel/shmmni"),
        host("/proc/sys/fs/mqueue/msg_max"),
    );
    assert_eq!(before, after, "the host's sysctls changed");
    Ok(())
}

#[test]
fn a_host_wide_sysctl_is_refused_by_name() {
    let f = Fixture::new("sysctl-host");
    let mut spec = f.spec("true");
    set_sysctls(&mut spec, &[("kernel.panic", "5")]);
    let err = f
        .create(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("kernel.panic") && err.contains("not namespaced"),
        "{err}"
    );
    assert!(
        f.rt.load(&f.id).is_err(),
        "a refused container left state behind"
    );
}

#[test]
fn a_net_sysctl_without_a_network_namespace_is_refused() {
    let f = Fixture::new("sysctl-hostnet");
    let mut spec = f.spec("true");
    let mut linux = spec.linux().clone().unwrap();
    let ns = linux.namespaces().clone().unwrap();
    let ns = ns
        .into_iter()
        .filter(|n| n.typ() != LinuxNamespaceType::Network)
        .collect::<Vec<_>>();
    linux.set_namespaces(Some(ns));
    spec.set_linux(Some(linux));
    set_sysctls(&mut spec, &[("net.ipv4.ip_forward", "1")]);
    let err = f
        .create(&spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("host's network namespace"), "{err}");
}

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal")
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("literal")
}

fn record(id: &str, network: &str, ipv4: &str, names: &[&str]) -> ContainerRecord {
    ContainerRecord {
        id: id.into(),
        network: network.into(),
        ipv4: v4(ipv4),
        ipv6: None,
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        links: Vec::new(),
    }
}

/// front: web-1, web-2 on `front`; db-1 on `back`; app-1 on both.
fn zone() -> Zone {
    let mut z = Zone::new(&["proj.internal".to_owned()]).expect("valid domain");
    z.set_network("front", NetworkSettings::default());
    z.set_network("back", NetworkSettings { internal: true });
    for r in [
        record("w1", "front", "10.0.1.2", &["proj-web-1", "web", "www"]),
        record("w2", "front", "10.0.1.3", &["proj-web-2", "web"]),
        record("d1", "back", "10.0.2.2", &["proj-db-1", "db"]),
        record("a1", "front", "10.0.1.4", &["proj-app-1", "app"]),
        record("a1", "back", "10.0.2.4", &["proj-app-1", "app"]),
    ] {
        z.update_container(r).expect("valid record");
    }
    z
}

fn addrs(z: &Zone, from: &str, name: &str) -> Vec<IpAddr> {
    match z.resolve(ip(from), name, QueryKind::A) {
        Resolution::Addresses(mut a) => {
            a.sort();
            a
        }
        other => panic!("{name} from {from}: {other:?}"),
    }
}

#[test]
fn service_name_has_every_replica() {
    let z = zone();
    assert_eq!(
        addrs(&z, "10.0.1.4", "web"),
        vec![ip("10.0.1.2"), ip("10.0.1.3")]
    );
    assert_eq!(
        addrs(&z, "10.0.1.4", "WWW.Proj.Internal."),
        vec![ip("10.0.1.2")]
    );
}

#[test]
fn views_follow_the_source_networks() {
    let z = zone();
    // db is only on back: web-1 (front only) cannot see it, app-1 (both) can.
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "db", QueryKind::A),
        Resolution::NxDomain
    );
    assert_eq!(addrs(&z, "10.0.2.4", "db"), vec![ip("10.0.2.2")]);
    // app answers with both of its addresses to a client on both networks.
    assert_eq!(
        addrs(&z, "10.0.1.4", "app"),
        vec![ip("10.0.1.4"), ip("10.0.2.4")]
    );
    assert_eq!(addrs(&z, "10.0.2.2", "app"), vec![ip("10.0.2.4")]);
    // A stranger sees nothing of ours, and our names are not forwarded for it.
    assert_eq!(
        z.resolve(ip("10.9.9.9"), "web", QueryKind::A),
        Resolution::NxDomain
    );
    assert_eq!(
        z.resolve(ip("10.9.9.9"), "example.com", QueryKind::A),
        Resolution::Forward
    );
}

#[test]
fn host_addresses_see_everything() {
    let mut z = zone();
    z.add_host_address(ip("10.0.1.1"));
    assert_eq!(addrs(&z, "10.0.1.1", "db"), vec![ip("10.0.2.2")]);
    z.remove_host_address(ip("10.0.1.1"));
    assert_eq!(
        z.resolve(ip("10.0.1.1"), "db", QueryKind::A),
        Resolution::NxDomain
    );
}

#[test]
fn internal_only_clients_are_not_forwarded() {
    let z = zone();
    assert_eq!(
        z.resolve(ip("10.0.2.2"), "example.com", QueryKind::A),
        Resolution::NxDomain
    );
    // app-1 is also on a network with a way out.
    assert_eq!(
        z.resolve(ip("10.0.2.4"), "example.com", QueryKind::A),
        Resolution::Forward
    );
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "example.com", QueryKind::A),
        Resolution::Forward
    );
}

#[test]
fn local_forms_are_never_forwarded() {
    let z = zone();
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "nosuch", QueryKind::A),
        Resolution::NxDomain
    );
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "nosuch.proj.internal", QueryKind::A),
        Resolution::NxDomain
    );
}

#[test]
fn aaaa_and_other_types_of_known_names_are_empty() {
    let z = zone();
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "web", QueryKind::Aaaa),
        Resolution::Addresses(vec![])
    );
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "web", QueryKind::Other),
        Resolution::Addresses(vec![])
    );
    let mut z = z;
    let mut r = record("w3", "front", "10.0.1.9", &["proj-web-3", "web"]);
    r.ipv6 = Some("fd00::9".parse().expect("literal"));
    z.update_container(r).expect("valid");
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "web", QueryKind::Aaaa),
        Resolution::Addresses(vec![ip("fd00::9")])
    );
}

#[test]
fn pointer_records_follow_views() {
    let z = zone();
    let name = "2.1.0.10.in-addr.arpa";
    assert_eq!(
        z.resolve(ip("10.0.1.3"), name, QueryKind::Ptr),
        Resolution::Pointer("proj-web-1.proj.internal".into())
    );
    assert_eq!(
        z.resolve(ip("10.0.2.2"), name, QueryKind::Ptr),
        Resolution::NxDomain
    );
    // Not one of ours: forwarded.
    assert_eq!(
        z.resolve(ip("10.0.1.3"), "8.8.8.8.in-addr.arpa", QueryKind::Ptr),
        Resolution::Forward
    );
}

#[test]
fn links_are_private_to_the_linking_container() {
    let mut z = zone();
    let mut r = record("w1", "front", "10.0.1.2", &["proj-web-1", "web"]);
    r.links = vec![Link {
        alias: "Database".into(),
        target: "app".into(),
    }];
    z.update_container(r).expect("valid");
    assert_eq!(addrs(&z, "10.0.1.2", "database"), vec![ip("10.0.1.4")]);
    assert_eq!(
        z.resolve(ip("10.0.1.3"), "database", QueryKind::A),
        Resolution::NxDomain
    );
}

#[test]
fn removal_takes_effect_at_once() {
    let mut z = zone();
    assert!(z.remove_container("w2"));
    assert_eq!(addrs(&z, "10.0.1.4", "web"), vec![ip("10.0.1.2")]);
    assert!(z.remove_endpoint("a1", "back"));
    assert_eq!(addrs(&z, "10.0.1.2", "app"), vec![ip("10.0.1.4")]);
    assert!(!z.remove_container("w2"));
    z.remove_network("front");
    assert_eq!(
        z.resolve(ip("10.0.2.2"), "web", QueryKind::A),
        Resolution::NxDomain
    );
}

#[test]
fn bad_records_change_nothing() {
    let mut z = zone();
    let err = z
        .update_container(record("x", "nope", "10.0.3.2", &["x"]))
        .expect_err("unknown network");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = z
        .update_container(record("x", "front", "10.0.1.8", &["bad name"]))
        .expect_err("bad name");
    assert!(err.to_string().contains("bad name"), "{err}");
    assert_eq!(
        z.resolve(ip("10.0.1.8"), "web", QueryKind::A),
        Resolution::NxDomain
    );
    assert!(Zone::new(&["bad domain".into()]).is_err());
}

#[test]
fn order_is_shuffled() {
    let mut z = zone();
    for i in 10..20 {
        z.update_container(record(
            &format!("w{i}"),
            "front",
            &format!("10.0.1.{i}"),
            &["web"],
        ))
        .expect("valid");
    }
    let first = |_: usize| match z.resolve(ip("10.0.1.4"), "web", QueryKind::A) {
        Resolution::Addresses(a) => a[0],
        other => panic!("{other:?}"),
    };
    let firsts: HashSet<IpAddr> = (0..200).map(first).collect();
    assert!(firsts.len() > 1, "always {firsts:?} first");
}

#[test]
fn batch_updates_are_all_or_nothing() {
    let mut z = zone();
    let err = z
        .update_containers([
            record("n1", "front", "10.0.1.30", &["new-1", "new"]),
            record("n2", "front", "10.0.1.31", &["bad name"]),
        ])
        .expect_err("one bad record");
    assert!(err.to_string().contains("n2"), "{err}");
    assert_eq!(
        z.resolve(ip("10.0.1.2"), "new", QueryKind::A),
        Resolution::NxDomain
    );
    z.update_containers([
        record("n1", "front", "10.0.1.30", &["new-1", "new"]),
        record("n2", "front", "10.0.1.31", &["new-2", "new"]),
    ])
    .expect("valid batch");
    assert_eq!(
        addrs(&z, "10.0.1.2", "new"),
        vec![ip("10.0.1.30"), ip("10.0.1.31")]
    );
}

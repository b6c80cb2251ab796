//! The network crate against the real kernel, as root: bridges, veths in network
//! namespaces, nftables NAT and isolation, teardown. Each test makes its own namespaces and
//! project (unique names, subnets from the IPAM) and removes them on drop.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};

use anyhow::Result;
use common::{Netns, Outside, Project, Server, eventually, fetch, fetch_from, run, unique};
use compose_network::bridge::{self, NetworkSpec};
use compose_network::endpoint;
use compose_network::firewall::{self, FirewallSpec, FwNetwork, FwPort};
use compose_network::ipam::IpamConfig;
use compose_network::names::bridge_name;
use compose_network::netlink::Netlink;
use compose_network::ports::{self, HostPort, PortError, PortRequest, Proto};
use compose_network::teardown::teardown;

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

fn fw_spec(p: &Project, ports: Vec<FwPort>) -> FirewallSpec {
    FirewallSpec {
        project: p.name.clone(),
        networks: p.networks.iter().map(FwNetwork::from).collect(),
        ports,
    }
}

/// Publishes `req` for a container at `ip:80`, through the reservation the engine makes.
fn publish(p: &Project, req: PortRequest, ip: Ipv4Addr) -> Result<HostPort> {
    let taken = firewall::published_on_host(Some(&p.name))?;
    let host = ports::reserve(&[req], &taken)?[0];
    let port = FwPort {
        host,
        container_ip: ip,
        container_port: req.container_port,
    };
    firewall::apply(&fw_spec(p, vec![port]))?;
    Ok(host)
}

fn any_port(ip: Option<Ipv4Addr>) -> PortRequest {
    PortRequest {
        host_ip: ip,
        host_ports: None,
        container_port: 80,
        proto: Proto::Tcp,
    }
}

#[test]
fn bridge_and_endpoint_are_in_the_kernel() -> Result<()> {
    let mut p = Project::new();
    let full = format!("{}_default", p.name);
    let spec = NetworkSpec {
        full_name: &full,
        ipam: IpamConfig::default(),
        mtu: Some(1400),
        internal: false,
    };
    let net = bridge::create_network(&spec, &[])?;
    p.networks.push(net.clone());
    assert_eq!(net.bridge, bridge_name(&full));
    let shown = run("ip", &["-o", "addr", "show", "dev", &net.bridge])?;
    let want = format!(
        "{}/{}",
        net.addressing.gateway,
        net.addressing.subnet.prefix()
    );
    assert!(shown.contains(&want), "{shown}");
    let link = run("ip", &["-o", "link", "show", "dev", &net.bridge])?;
    assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");
    let localnet = std::fs::read_to_string(format!(
        "/proc/sys/net/ipv4/conf/{}/route_localnet",
        net.bridge
    ))?;
    assert_eq!(localnet.trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?.trim(),
        "1"
    );

    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let inside = ns.ip(&["-o", "addr", "show", "dev", "eth0"])?;
    assert!(
        inside.contains(&format!(
            "{}/{}",
            ep.address,
            net.addressing.subnet.prefix()
        )),
        "{inside}"
    );
    let link = ns.ip(&["-o", "link", "show", "dev", "eth0"])?;
    assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");
    assert!(link.contains(&mac_text(ep.mac)), "{link}");
    let route = ns.ip(&["route", "show", "default"])?;
    assert!(
        route.contains(&format!("default via {} dev eth0", net.addressing.gateway)),
        "{route}"
    );
    assert!(ns.ip(&["-o", "link", "show", "dev", "lo"])?.contains(",UP"));
    let host_side = run("ip", &["-o", "link", "show", "dev", &ep.host_veth])?;
    assert!(
        host_side.contains(&format!("master {}", net.bridge)),
        "{host_side}"
    );
    let hairpin = std::fs::read_to_string(format!(
        "/sys/class/net/{}/brport/hairpin_mode",
        ep.host_veth
    ))?;
    assert_eq!(hairpin.trim(), "1");
    Ok(())
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn second_network_is_eth1_without_default_route_and_mac_is_honored() -> Result<()> {
    let mut p = Project::new();
    let a = p.network("front", false)?;
    let b = p.network("back", false)?;
    assert_ne!(a.addressing.subnet, b.addressing.subnet);
    let ns = Netns::new()?;
    p.attach(&a, &ns, "eth0", true)?;
    let mac = endpoint::parse_mac("02:aa:bb:cc:dd:ee")?;
    let id = unique("c");
    p.endpoints.push((id.clone(), b.full_name.clone()));
    let spec = endpoint::EndpointSpec {
        container_id: &id,
        network: &b,
        ifname: "eth1",
        address: b.addressing.subnet.nth(9).expect("addr"),
        mac: Some(mac),
        default_route: false,
    };
    endpoint::attach(&spec, &ns.ns_ref())?;
    let link = ns.ip(&["-o", "link", "show", "dev", "eth1"])?;
    assert!(link.contains("02:aa:bb:cc:dd:ee"), "{link}");
    let routes = ns.ip(&["route", "show", "default"])?;
    assert_eq!(routes.lines().count(), 1, "{routes}");
    assert!(routes.contains("dev eth0"), "{routes}");
    Ok(())
}

#[test]
fn two_containers_on_one_bridge_talk() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let (ns1, ns2) = (Netns::new()?, Netns::new()?);
    let ep1 = p.attach(&net, &ns1, "eth0", true)?;
    let ep2 = p.attach(&net, &ns2, "eth0", true)?;
    firewall::apply(&fw_spec(&p, vec![]))?;
    let _srv = Server::start(&ns2, 80, "two")?;
    let got = fetch_from(&ns1, addr(ep2.address, 80))?;
    assert_eq!(got, format!("two {}", ep1.address));
    Ok(())
}

#[test]
fn published_port_reaches_the_container_from_localhost() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let _srv = Server::start(&ns, 80, "web")?;
    let host = publish(&p, any_port(Some(Ipv4Addr::LOCALHOST)), ep.address)?;
    let got = fetch(addr(Ipv4Addr::LOCALHOST, host.port))?;
    // The 127.0.0.1 source was masqueraded to the gateway.
    assert_eq!(got, format!("web {}", net.addressing.gateway));
    // Other projects now see the port as taken.
    let taken = firewall::published_on_host(None)?;
    assert!(
        taken
            .iter()
            .any(|(t, table)| *t == host && table == &firewall::table_name(&p.name))
    );
    let again = PortRequest {
        host_ports: Some((host.port, host.port)),
        ..any_port(Some(Ipv4Addr::LOCALHOST))
    };
    assert!(matches!(
        ports::reserve(&[again], &taken),
        Err(PortError::Published { .. })
    ));
    Ok(())
}

#[test]
fn port_published_on_all_addresses_answers_on_the_gateway_and_loopback() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let _srv = Server::start(&ns, 80, "all")?;
    let host = publish(&p, any_port(None), ep.address)?;
    assert!(fetch(addr(Ipv4Addr::LOCALHOST, host.port))?.starts_with("all "));
    assert!(fetch(addr(net.addressing.gateway, host.port))?.starts_with("all "));
    Ok(())
}

#[test]
fn published_port_is_reached_from_another_host() -> Result<()> {
    let outside = Outside::new()?;
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let _srv = Server::start(&ns, 80, "web")?;
    let host = publish(&p, any_port(None), ep.address)?;
    // The other host connects to the host's address on their shared link.
    let got = fetch_from(&outside.ns, addr(outside.gateway, host.port))?;
    assert_eq!(
        got,
        format!("web {}", outside.ip),
        "the client's address is kept"
    );
    // Published on 127.0.0.1 only: another host cannot reach it.
    let local_only = publish(&p, any_port(Some(Ipv4Addr::LOCALHOST)), ep.address)?;
    assert!(fetch_from(&outside.ns, addr(outside.gateway, local_only.port)).is_err());
    Ok(())
}

#[test]
fn udp_port_is_published() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let sock = common::in_netns(&ns.path(), || std::net::UdpSocket::bind("0.0.0.0:53"))??;
    let req = PortRequest {
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_ports: None,
        container_port: 53,
        proto: Proto::Udp,
    };
    let host = publish(&p, req, ep.address)?;
    assert_eq!(host.proto, Proto::Udp);
    let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
    client.send_to(b"ping", addr(Ipv4Addr::LOCALHOST, host.port))?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut buf = [0u8; 16];
    let (n, from) = sock.recv_from(&mut buf)?;
    assert_eq!(&buf[..n], b"ping");
    sock.send_to(b"pong", from)?;
    client.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let (n, _) = client.recv_from(&mut buf)?;
    assert_eq!(&buf[..n], b"pong");
    Ok(())
}

#[test]
fn hairpin_container_reaches_its_own_published_port() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    let _srv = Server::start(&ns, 80, "self")?;
    let host = publish(&p, any_port(None), ep.address)?;
    // Through a host address: the gateway, which is the host's address on the bridge.
    let got = fetch_from(&ns, addr(net.addressing.gateway, host.port))?;
    assert_eq!(got, format!("self {}", net.addressing.gateway));
    Ok(())
}

#[test]
fn internal_network_cannot_reach_outside() -> Result<()> {
    let outside = Outside::new()?;
    let _srv = Server::start(&outside.ns, 80, "outside")?;
    let mut p = Project::new();
    let open = p.network("open", false)?;
    let closed = p.network("closed", true)?;
    let (ns_open, ns_closed) = (Netns::new()?, Netns::new()?);
    p.attach(&open, &ns_open, "eth0", true)?;
    p.attach(&closed, &ns_closed, "eth0", true)?;
    firewall::apply(&fw_spec(&p, vec![]))?;
    // The control: the same host is reachable from a normal network, masqueraded to the
    // host's address on that link.
    let got = fetch_from(&ns_open, addr(outside.ip, 80))?;
    assert_eq!(got, format!("outside {}", outside.gateway));
    assert!(fetch_from(&ns_closed, addr(outside.ip, 80)).is_err());
    Ok(())
}

#[test]
fn internal_network_still_talks_within_its_bridge() -> Result<()> {
    let mut p = Project::new();
    let closed = p.network("closed", true)?;
    let (ns1, ns2) = (Netns::new()?, Netns::new()?);
    let ep1 = p.attach(&closed, &ns1, "eth0", true)?;
    let ep2 = p.attach(&closed, &ns2, "eth0", true)?;
    firewall::apply(&fw_spec(&p, vec![]))?;
    let _srv = Server::start(&ns2, 80, "inner")?;
    assert_eq!(
        fetch_from(&ns1, addr(ep2.address, 80))?,
        format!("inner {}", ep1.address)
    );
    Ok(())
}

#[test]
fn projects_are_isolated_from_each_other() -> Result<()> {
    let outside = Outside::new()?;
    let _out = Server::start(&outside.ns, 80, "outside")?;
    let (mut a, mut b) = (Project::new(), Project::new());
    let net_a = a.network("default", false)?;
    let net_b = b.network("default", false)?;
    let (ns_a, ns_b) = (Netns::new()?, Netns::new()?);
    a.attach(&net_a, &ns_a, "eth0", true)?;
    let ep_b = b.attach(&net_b, &ns_b, "eth0", true)?;
    firewall::apply(&fw_spec(&a, vec![]))?;
    firewall::apply(&fw_spec(&b, vec![]))?;
    let _srv = Server::start(&ns_b, 80, "b")?;
    // Control: routing and forwarding work for A.
    assert!(fetch_from(&ns_a, addr(outside.ip, 80))?.starts_with("outside "));
    assert!(fetch_from(&ns_a, addr(ep_b.address, 80)).is_err());
    // What B publishes, A reaches through a host address, as any other host would.
    let host = publish(&b, any_port(None), ep_b.address)?;
    let got = fetch_from(&ns_a, addr(net_a.addressing.gateway, host.port))?;
    assert!(got.starts_with("b "), "{got}");
    Ok(())
}

#[test]
fn networks_of_one_project_are_isolated_too() -> Result<()> {
    let mut p = Project::new();
    let n1 = p.network("one", false)?;
    let n2 = p.network("two", false)?;
    let (ns1, ns2) = (Netns::new()?, Netns::new()?);
    p.attach(&n1, &ns1, "eth0", true)?;
    let ep2 = p.attach(&n2, &ns2, "eth0", true)?;
    firewall::apply(&fw_spec(&p, vec![]))?;
    let _srv = Server::start(&ns2, 80, "two")?;
    assert!(fetch_from(&ns1, addr(ep2.address, 80)).is_err());
    // Control: a container on both networks reaches it.
    let ns3 = Netns::new()?;
    p.attach(&n1, &ns3, "eth0", true)?;
    p.attach(&n2, &ns3, "eth1", false)?;
    assert!(fetch_from(&ns3, addr(ep2.address, 80))?.starts_with("two "));
    Ok(())
}

#[test]
fn port_in_use_is_refused_before_anything_is_made() -> Result<()> {
    let busy = TcpListener::bind("127.0.0.1:0")?;
    let port = busy.local_addr()?.port();
    let p = Project::new();
    let req = PortRequest {
        host_ports: Some((port, port)),
        ..any_port(Some(Ipv4Addr::LOCALHOST))
    };
    let err = ports::reserve(&[req], &firewall::published_on_host(None)?).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("host port 127.0.0.1:{port}/tcp is already in use")
    );
    // Also when the port is held on every address (0.0.0.0) by a UDP socket.
    let udp = std::net::UdpSocket::bind("0.0.0.0:0")?;
    let uport = udp.local_addr()?.port();
    let req = PortRequest {
        host_ip: None,
        host_ports: Some((uport, uport)),
        container_port: 53,
        proto: Proto::Udp,
    };
    assert!(matches!(
        ports::reserve(&[req], &[]),
        Err(PortError::InUse(_))
    ));
    assert!(!firewall::table_exists(&p.name)?);
    Ok(())
}

#[test]
fn teardown_removes_everything_and_can_run_twice() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    publish(&p, any_port(Some(Ipv4Addr::LOCALHOST)), ep.address)?;
    assert!(firewall::table_exists(&p.name)?);
    let plan = p.plan();
    teardown(&plan)?;
    let mut nl = Netlink::open()?;
    assert_eq!(nl.link_index(&net.bridge)?, None);
    assert_eq!(nl.link_index(&ep.host_veth)?, None);
    assert!(!firewall::table_exists(&p.name)?);
    assert!(eventually(|| ns
        .ip(&["-o", "link", "show", "dev", "eth0"])
        .is_err()));
    teardown(&plan)?;
    Ok(())
}

#[test]
fn a_bridge_and_its_veths_share_the_bridges_link_group_and_go_in_one_request() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let (a, b) = (Netns::new()?, Netns::new()?);
    let ea = p.attach(&net, &a, "eth0", true)?;
    let eb = p.attach(&net, &b, "eth0", true)?;
    let group = bridge::link_group(&net.bridge);
    let mut nl = Netlink::open()?;
    let links = nl.links()?;
    for name in [&net.bridge, &ea.host_veth, &eb.host_veth] {
        let l = links.iter().find(|l| &l.name == name).expect("link listed");
        assert_eq!(l.group, group, "{name}");
    }
    // The group holds exactly these three: one request takes them all.
    nl.delete_group(group)?;
    for name in [&net.bridge, &ea.host_veth, &eb.host_veth] {
        assert_eq!(nl.link_index(name)?, None, "{name}");
    }
    assert!(nl.delete_group(0).is_err());
    teardown(&p.plan())?;
    Ok(())
}

#[test]
fn teardown_leaves_a_port_that_is_not_the_projects() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    // Someone else's veth on the bridge, in the bridge's group even: the group must not be
    // deleted whole, and this link must outlive the teardown.
    let stranger = format!("xs{}", &p.name[p.name.len().saturating_sub(8)..]);
    let group = bridge::link_group(&net.bridge).to_string();
    run(
        "ip",
        &[
            "link",
            "add",
            &stranger,
            "group",
            &group,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{stranger}p"),
        ],
    )?;
    let cleanup = Cleanup(stranger.clone());
    run("ip", &["link", "set", &stranger, "master", &net.bridge])?;
    teardown(&p.plan())?;
    let mut nl = Netlink::open()?;
    assert_eq!(nl.link_index(&net.bridge)?, None);
    assert_eq!(nl.link_index(&ep.host_veth)?, None);
    assert!(
        nl.link_index(&stranger)?.is_some(),
        "the stranger's veth was deleted"
    );
    drop(cleanup);
    assert_eq!(nl.link_index(&stranger)?, None);
    Ok(())
}

/// Deletes a link on drop.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.0]);
    }
}

#[test]
fn a_table_is_deleted_over_netlink_and_a_missing_one_is_reported() -> Result<()> {
    use compose_network::firewall::nfnl::{FAMILY_INET, delete_table};
    let name = unique("nfx").replace('-', "_");
    run("nft", &["add", "table", "inet", &name])?;
    run(
        "nft",
        &[
            "add",
            "chain",
            "inet",
            &name,
            "c",
            "{ type filter hook forward priority 0; }",
        ],
    )?;
    let listed = || -> Result<bool> {
        let out = run("nft", &["list", "tables", "inet"])?;
        Ok(out
            .lines()
            .any(|l| l.trim() == format!("table inet {name}")))
    };
    assert!(listed()?);
    let deleted = delete_table(FAMILY_INET, &name);
    if listed()? {
        let _ = run("nft", &["delete", "table", "inet", &name]);
    }
    assert!(deleted?, "the table was not reported deleted");
    assert!(!listed()?, "the table is still loaded");
    assert!(
        !delete_table(FAMILY_INET, &name)?,
        "a missing table reported deleted"
    );
    Ok(())
}

#[test]
fn teardown_after_a_partial_one_finishes_the_job() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let ep = p.attach(&net, &ns, "eth0", true)?;
    firewall::apply(&fw_spec(&p, vec![]))?;
    // Half a teardown happened already: the veth and the table are gone, the bridge not.
    run("ip", &["link", "del", &ep.host_veth])?;
    firewall::remove(&p.name)?;
    teardown(&p.plan())?;
    assert_eq!(Netlink::open()?.link_index(&net.bridge)?, None);
    Ok(())
}

#[test]
fn external_network_must_exist_and_is_read_from_the_bridge() -> Result<()> {
    let missing = unique("ext");
    let err = bridge::check_external(&missing).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("external network '{missing}' not found")),
        "{err}"
    );
    let mut owner = Project::new();
    let net = owner.network("shared", false)?;
    let ext = bridge::check_external(&net.full_name)?;
    assert_eq!(ext.bridge, net.bridge);
    assert_eq!(ext.addressing.gateway, net.addressing.gateway);
    assert_eq!(ext.addressing.subnet, net.addressing.subnet);
    Ok(())
}

#[test]
fn configured_subnet_conflicting_with_a_taken_one_makes_nothing() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let full = format!("{}_other", p.name);
    let ipam = IpamConfig {
        subnet: Some(net.addressing.subnet),
        ..IpamConfig::default()
    };
    let spec = NetworkSpec {
        full_name: &full,
        ipam,
        mtu: None,
        internal: false,
    };
    assert!(bridge::create_network(&spec, &[net.addressing.subnet]).is_err());
    assert_eq!(Netlink::open()?.link_index(&bridge_name(&full))?, None);
    Ok(())
}

#[test]
fn network_mode_none_has_only_lo_and_it_is_up() -> Result<()> {
    let ns = Netns::new()?;
    endpoint::loopback_up(&ns.ns_ref())?;
    let links = ns.ip(&["-o", "link", "show"])?;
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains(",UP"), "{links}");
    Ok(())
}

#[test]
fn attach_to_a_missing_namespace_leaves_no_veth() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let id = unique("c");
    let spec = endpoint::EndpointSpec {
        container_id: &id,
        network: &net,
        ifname: "eth0",
        address: net.addressing.subnet.nth(2).expect("addr"),
        mac: None,
        default_route: true,
    };
    let gone = compose_network::netlink::NetnsRef::Path("/run/netns/does-not-exist".into());
    assert!(endpoint::attach(&spec, &gone).is_err());
    let veth = compose_network::names::veth_name(&id, &net.full_name);
    assert_eq!(Netlink::open()?.link_index(&veth)?, None);
    Ok(())
}

#[test]
fn forward_accepts_are_added_when_iptables_drops_and_removed() -> Result<()> {
    // iptables state is per network namespace: do it all inside a fresh one.
    let ns = Netns::new()?;
    let project = unique("fw");
    let bridges = vec!["cbr-test".to_string()];
    let out = common::in_netns(&ns.path(), || -> Result<(String, String, String)> {
        let untouched = {
            firewall::forward_allow(&project, &bridges)?;
            run("iptables", &["-S", "FORWARD"])?
        };
        run("iptables", &["-P", "FORWARD", "DROP"])?;
        firewall::forward_allow(&project, &bridges)?;
        firewall::forward_allow(&project, &bridges)?; // idempotent
        let added = run("iptables", &["-S", "FORWARD"])?;
        firewall::forward_revoke(&project).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let removed = run("iptables", &["-S", "FORWARD"])?;
        Ok((untouched, added, removed))
    })??;
    assert!(!out.0.contains("compose:"), "{}", out.0);
    assert_eq!(
        out.1.matches(&format!("compose:{project}")).count(),
        2,
        "{}",
        out.1
    );
    assert!(
        out.1.contains("-i cbr-test") && out.1.contains("-o cbr-test"),
        "{}",
        out.1
    );
    assert!(!out.2.contains("compose:"), "{}", out.2);
    Ok(())
}

#[test]
fn creating_an_existing_network_adopts_it_and_a_half_made_one_is_redone() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let spec = NetworkSpec {
        full_name: &net.full_name,
        ipam: IpamConfig::default(),
        mtu: None,
        internal: false,
    };
    assert_eq!(bridge::create_network(&spec, &[])?, net);
    // A different configured subnet for a live network is refused, not applied.
    let other = IpamConfig {
        subnet: Some("10.250.0.0/16".parse()?),
        ..IpamConfig::default()
    };
    let wrong = NetworkSpec {
        ipam: other,
        ..spec.clone()
    };
    let err = bridge::create_network(&wrong, &[]).unwrap_err();
    assert!(err.to_string().contains("exists with subnet"), "{err}");
    // A bridge without its address (cut short after the link was made) is made again.
    let full = format!("{}_half", p.name);
    let half = bridge_name(&full);
    p.networks.push(compose_network::bridge::NetworkInfo {
        full_name: full.clone(),
        bridge: half.clone(),
        ..net.clone()
    });
    run("ip", &["link", "add", &half, "type", "bridge"])?;
    let spec = NetworkSpec {
        full_name: &full,
        ..spec
    };
    let redone = bridge::create_network(&spec, &[])?;
    let shown = run("ip", &["-o", "addr", "show", "dev", &half])?;
    assert!(
        shown.contains(&redone.addressing.gateway.to_string()),
        "{shown}"
    );
    assert!(run("ip", &["-o", "link", "show", "dev", &half])?.contains(",UP"));
    Ok(())
}

#[test]
fn attach_replaces_a_leftover_veth_of_the_same_endpoint() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let ns = Netns::new()?;
    let id = unique("c");
    p.endpoints.push((id.clone(), net.full_name.clone()));
    let leftover = compose_network::names::veth_name(&id, &net.full_name);
    run(
        "ip",
        &[
            "link",
            "add",
            &leftover,
            "type",
            "veth",
            "peer",
            "name",
            &unique("lp"),
        ],
    )?;
    let spec = endpoint::EndpointSpec {
        container_id: &id,
        network: &net,
        ifname: "eth0",
        address: net.addressing.subnet.nth(2).expect("addr"),
        mac: None,
        default_route: true,
    };
    let ep = endpoint::attach(&spec, &ns.ns_ref())?;
    let host_side = run("ip", &["-o", "link", "show", "dev", &ep.host_veth])?;
    assert!(
        host_side.contains(&format!("master {}", net.bridge)),
        "{host_side}"
    );
    Ok(())
}

#[test]
fn forwarding_works_on_a_host_whose_iptables_forward_policy_is_drop() -> Result<()> {
    // A host of its own (a fresh netns) so the DROP policy touches no other test.
    let host = Netns::new()?;
    common::in_netns(&host.path(), || -> Result<()> {
        run("ip", &["link", "set", "lo", "up"])?;
        run("iptables", &["-P", "FORWARD", "DROP"])?;
        let outside = Outside::new()?;
        let _srv = Server::start(&outside.ns, 80, "outside")?;
        let mut p = Project::new();
        let net = p.network("default", false)?;
        let ns = Netns::new()?;
        p.attach(&net, &ns, "eth0", true)?;
        let spec = fw_spec(&p, vec![]);
        firewall::apply(&spec)?;
        let got = fetch_from(&ns, addr(outside.ip, 80))?;
        assert_eq!(got, format!("outside {}", outside.gateway));
        // The control: without our accepts in iptables' FORWARD, the DROP policy wins.
        firewall::forward_revoke(&p.name).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert!(fetch_from(&ns, addr(outside.ip, 80)).is_err());
        Ok(())
    })?
}

/// A UDP socket inside `ns` on port 53, and the one datagram it receives (replied to).
fn udp_echo_once(ns: &Netns) -> Result<std::net::UdpSocket> {
    let sock = common::in_netns(&ns.path(), || std::net::UdpSocket::bind("0.0.0.0:53"))??;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    Ok(sock)
}

fn echo(sock: &std::net::UdpSocket) -> Result<Vec<u8>> {
    let mut buf = [0u8; 16];
    let (n, from) = sock.recv_from(&mut buf)?;
    sock.send_to(&buf[..n], from)?;
    Ok(buf[..n].to_vec())
}

#[test]
fn a_replaced_container_gets_the_udp_flow_of_its_published_port() -> Result<()> {
    let mut p = Project::new();
    let net = p.network("default", false)?;
    let (ns_a, ns_b) = (Netns::new()?, Netns::new()?);
    let a = p.attach(&net, &ns_a, "eth0", true)?;
    let sock_a = udp_echo_once(&ns_a)?;
    let req = PortRequest {
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_ports: None,
        container_port: 53,
        proto: Proto::Udp,
    };
    let host = publish(&p, req, a.address)?;
    let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
    client.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let target = addr(Ipv4Addr::LOCALHOST, host.port);
    client.send_to(b"one", target)?;
    assert_eq!(echo(&sock_a)?, b"one");
    let mut buf = [0u8; 16];
    client.recv_from(&mut buf)?;
    // Replace the container: A goes, B (another address) takes the published port.
    let (id_a, _) = p.endpoints[0].clone();
    endpoint::detach(&id_a, &net.full_name)?;
    assert!(compose_network::conntrack::forget_flows(&[a.address])? >= 1);
    let b = p.attach(&net, &ns_b, "eth0", true)?;
    assert_ne!(a.address, b.address);
    let sock_b = udp_echo_once(&ns_b)?;
    let port = FwPort {
        host,
        container_ip: b.address,
        container_port: 53,
    };
    firewall::apply(&fw_spec(&p, vec![port]))?;
    // The same client socket (same flow) now reaches B.
    client.send_to(b"two", target)?;
    assert_eq!(echo(&sock_b)?, b"two");
    Ok(())
}

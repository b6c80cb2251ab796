//! Per-container network setup time: `endpoint::attach` (veth with the peer made in the
//! netns, address, lo up, default route) against the same work done with `ip` commands.
//! Run by bench/netsetup.sh as root; prints per-container means and their ratio.
//!
//! Usage: netsetup [CONTAINERS]   (default 50)

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use compose_network::bridge::{self, NetworkInfo, NetworkSpec};
use compose_network::endpoint::{self, EndpointSpec};
use compose_network::ipam::{self, IpamConfig};
use compose_network::netlink::NetnsRef;
use compose_network::teardown::{TeardownPlan, teardown};

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("run ip")?;
    if !out.status.success() {
        bail!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Namespaces removed on drop, also when the bench fails half-way.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn namespaces(tag: &str, n: usize) -> Result<Namespaces> {
    let mut all = Namespaces(Vec::new());
    for i in 0..n {
        let name = format!("nb{}{tag}{i}", std::process::id());
        ip(&["netns", "add", &name])?;
        all.0.push(name);
    }
    Ok(all)
}

fn network(project: &str) -> Result<NetworkInfo> {
    let full = format!("{project}_default");
    let spec = NetworkSpec {
        full_name: &full,
        ipam: IpamConfig::default(),
        mtu: None,
        internal: false,
    };
    Ok(bridge::create_network(&spec, &[])?)
}

fn ours(net: &NetworkInfo, nss: &Namespaces, ids: &mut Vec<(String, String)>) -> Result<Duration> {
    let mut used: Vec<Ipv4Addr> = Vec::new();
    let start = Instant::now();
    for (i, ns) in nss.0.iter().enumerate() {
        let address = ipam::allocate_address(&net.addressing, &used, None)?;
        used.push(address);
        let id = format!("bench{i}");
        ids.push((id.clone(), net.full_name.clone()));
        let spec = EndpointSpec {
            container_id: &id,
            network: net,
            ifname: "eth0",
            address,
            mac: None,
            default_route: true,
        };
        endpoint::attach(&spec, &NetnsRef::Path(format!("/run/netns/{ns}").into()))?;
    }
    Ok(start.elapsed())
}

fn with_ip(net: &NetworkInfo, nss: &Namespaces, veths: &mut Vec<String>) -> Result<Duration> {
    let prefix = net.addressing.subnet.prefix();
    let gw = net.addressing.gateway.to_string();
    let start = Instant::now();
    for (i, ns) in nss.0.iter().enumerate() {
        let address = net
            .addressing
            .subnet
            .nth(2 + i as u32)
            .context("subnet full")?;
        let veth = format!("nbv{}x{i}", std::process::id());
        veths.push(veth.clone());
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["link", "set", &veth, "master", &net.bridge, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{address}/{prefix}"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "route", "add", "default", "via", &gw])?;
    }
    Ok(start.elapsed())
}

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let project = format!("nb{}", std::process::id());
    let mut plan = TeardownPlan {
        project: project.clone(),
        ..TeardownPlan::default()
    };
    let result = (|| -> Result<(Duration, Duration)> {
        let net_ours = network(&format!("{project}a"))?;
        plan.bridges.push(net_ours.bridge.clone());
        let net_ip = network(&format!("{project}b"))?;
        plan.bridges.push(net_ip.bridge.clone());
        let (ns_a, ns_b) = (namespaces("a", n)?, namespaces("b", n)?);
        let t_ours = ours(&net_ours, &ns_a, &mut plan.endpoints)?;
        let mut veths = Vec::new();
        let t_ip = with_ip(&net_ip, &ns_b, &mut veths);
        for v in &veths {
            let _ = ip(&["link", "del", v]);
        }
        Ok((t_ours, t_ip?))
    })();
    let cleanup = teardown(&plan);
    let (t_ours, t_ip) = result?;
    cleanup?;
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!("containers: {n}");
    println!(
        "ours (netlink, endpoint::attach): {:.3} ms per container",
        per(t_ours)
    );
    println!(
        "ip commands (6 per container):    {:.3} ms per container",
        per(t_ip)
    );
    println!("ratio ip/ours: {:.1}x", per(t_ip) / per(t_ours));
    Ok(())
}

//! Test fixtures: network namespaces, projects and an "outside" host, each removed by a
//! guard on drop (also when the test fails), plus TCP helpers that run inside a netns.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use compose_network::bridge::{self, NetworkInfo, NetworkSpec};
use compose_network::endpoint::{self, Endpoint, EndpointSpec};
use compose_network::ipam::{self, IpamConfig};
use compose_network::lock::HostLock;
use compose_network::netlink::{Netlink, NetnsRef};
use compose_network::teardown::{TeardownPlan, teardown};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A short name unique to this process and call: `<tag><pid>x<n>`.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{tag}{}x{n}", std::process::id())
}

/// Runs a command; fails with its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("spawn {cmd}"))?;
    if !out.status.success() {
        bail!("{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Result<Self> {
        let name = unique("cnt");
        run("ip", &["netns", "add", &name])?;
        Ok(Self { name })
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    pub fn ns_ref(&self) -> NetnsRef {
        NetnsRef::Path(self.path())
    }

    /// `ip -netns NAME args...`
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-netns", self.name.as_str()];
        all.extend(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// Runs `f` on a thread that entered the namespace at `path`.
pub fn in_netns<T: Send>(path: &PathBuf, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            let file = File::open(path)?;
            move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("netns thread panicked"))?
    })
}

/// A TCP server inside a netns that answers every connection with `reply`, until dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(ns: &Netns, port: u16, reply: &str) -> Result<Self> {
        let path = ns.path();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop2, reply) = (stop.clone(), reply.to_string());
        let handle = std::thread::spawn(move || {
            let listener = (|| -> Result<TcpListener> {
                let file = File::open(&path)?;
                move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
                let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
                l.set_nonblocking(true)?;
                Ok(l)
            })();
            let listener = match listener {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        let _ = conn.write_all(format!("{reply} {}\n", peer.ip()).as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        rx.recv().context("server thread")??;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Connects to `addr` and reads the one line the server writes.
pub fn fetch(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// [`fetch`] from inside the namespace.
pub fn fetch_from(ns: &Netns, addr: SocketAddr) -> Result<String> {
    in_netns(&ns.path(), || fetch(addr))?
}

/// A project's networks and endpoints, torn down on drop.
pub struct Project {
    pub name: String,
    pub networks: Vec<NetworkInfo>,
    pub endpoints: Vec<(String, String)>,
    pub allocated: Vec<Ipv4Addr>,
}

impl Project {
    pub fn new() -> Self {
        Self {
            name: unique("tp"),
            networks: Vec::new(),
            endpoints: Vec::new(),
            allocated: Vec::new(),
        }
    }

    pub fn network(&mut self, name: &str, internal: bool) -> Result<NetworkInfo> {
        let full = format!("{}_{name}", self.name);
        let spec = NetworkSpec {
            full_name: &full,
            ipam: IpamConfig::default(),
            mtu: None,
            internal,
        };
        let info = bridge::create_network(&spec, &[])?;
        self.networks.push(info.clone());
        Ok(info)
    }

    /// Attaches a new container (id = a unique name) with namespace `ns` to `net`.
    pub fn attach(
        &mut self,
        net: &NetworkInfo,
        ns: &Netns,
        ifname: &str,
        first: bool,
    ) -> Result<Endpoint> {
        let id = unique("c");
        let address = ipam::allocate_address(&net.addressing, &self.allocated, None)?;
        self.allocated.push(address);
        self.endpoints.push((id.clone(), net.full_name.clone()));
        let spec = EndpointSpec {
            container_id: &id,
            network: net,
            ifname,
            address,
            mac: None,
            default_route: first,
        };
        Ok(endpoint::attach(&spec, &ns.ns_ref())?)
    }

    pub fn plan(&self) -> TeardownPlan {
        TeardownPlan {
            project: self.name.clone(),
            endpoints: self.endpoints.clone(),
            addresses: self.allocated.clone(),
            bridges: self.networks.iter().map(|n| n.bridge.clone()).collect(),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = teardown(&self.plan());
    }
}

/// A host outside every compose network: a netns joined to the host by a plain veth pair
/// with its own subnet (picked by the IPAM under the host lock), default route via the host.
pub struct Outside {
    pub ns: Netns,
    pub host_veth: String,
    pub ip: Ipv4Addr,
    /// The host's address on the link to the outside host.
    pub gateway: Ipv4Addr,
}

impl Outside {
    pub fn new() -> Result<Self> {
        let ns = Netns::new()?;
        let host_veth = unique("cto");
        let _lock = HostLock::acquire()?;
        let mut nl = Netlink::open()?;
        let routes = bridge::host_networks(&mut nl)?;
        let a = ipam::allocate_subnet(&IpamConfig::default(), &routes, &[])?;
        let ip = a.subnet.nth(2).context("subnet")?;
        let prefix = a.subnet.prefix().to_string();
        let this = Self {
            ns,
            host_veth,
            ip,
            gateway: a.gateway,
        };
        run(
            "ip",
            &[
                "link",
                "add",
                &this.host_veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &this.ns.name,
            ],
        )?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/{prefix}", a.gateway),
                "dev",
                &this.host_veth,
            ],
        )?;
        run("ip", &["link", "set", &this.host_veth, "up"])?;
        this.ns
            .ip(&["addr", "add", &format!("{ip}/{prefix}"), "dev", "eth0"])?;
        this.ns.ip(&["link", "set", "eth0", "up"])?;
        this.ns.ip(&["link", "set", "lo", "up"])?;
        this.ns
            .ip(&["route", "add", "default", "via", &a.gateway.to_string()])?;
        Ok(this)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "del", &self.host_veth]);
    }
}

/// Waits until `f` is true or two seconds passed (the kernel applies some changes async).
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

//! Networks and the embedded DNS end to end, as root: the real `compose` binary brings busybox
//! stacks up on real bridges, veths, nftables and the project's DNS supervisor; commands run
//! inside the containers through `nsenter`. The supervisor's upstream is a stub DNS server
//! on 127.0.0.1 made by each test (never the host's resolver).

#![allow(clippy::unwrap_used)]

mod engine;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use compose_network::firewall::table_name;
use compose_network::names::{bridge_name, network_name};
use compose_tests::Output;
use engine::{LOOP, Stack, alive, cgroup_dirs};

/// The address the stub upstream answers for every A query.
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

/// A stub DNS upstream on 127.0.0.1: answers every A query with [`OUTSIDE`], counts them.
struct Stub {
    port: u16,
    queries: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    resolv: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stub {
    fn start() -> Stub {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let queries = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, st) = (Arc::clone(&queries), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(answer) = answer(&buf[..n]) {
                    let _ = sock.send_to(&answer, from);
                }
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
        Stub {
            port,
            queries,
            stop,
            resolv,
            _dir: dir,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "COMPOSE_DNS_RESOLV_CONF".into(),
                self.resolv.display().to_string(),
            ),
            ("COMPOSE_DNS_UPSTREAM_PORT".into(), self.port.to_string()),
        ]
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A reply to one query: its question echoed, one A record (type A only; else no answer).
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let qend = end + 5;
    let qtype = u16::from_be_bytes([*query.get(end + 1)?, *query.get(end + 2)?]);
    let mut out = query[..qend].to_vec();
    out[2] = 0x81; // response, recursion desired
    out[3] = 0x80; // recursion available, NOERROR
    out[6..12].copy_from_slice(&[0, u8::from(qtype == 1), 0, 0, 0, 0]);
    if qtype == 1 {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        out.extend_from_slice(&OUTSIDE.octets());
    }
    Some(out)
}

/// A stack plus its stub upstream.
struct Net {
    s: Stack,
    stub: Stub,
}

impl Net {
    fn new(tag: &str, yaml: &str) -> Net {
        Net {
            s: Stack::new(tag, yaml),
            stub: Stub::start(),
        }
    }

    fn up_as(&self, project: &str) -> Output {
        self.s.compose_env(project, &["up", "-d"], &self.stub.env())
    }

    fn up(&self) -> String {
        let out = self.up_as(&self.s.name);
        assert!(out.success(), "up: {}\n{}", out.status_line(), out.stderr);
        out.stderr
    }

    /// Runs `script` with busybox's sh inside the project's container `container`.
    fn sh_in(&self, project: &str, container: &str, script: &str) -> Output {
        let out = self
            .s
            .compose_as(project, &["ps", "-a", "--format", "json"]);
        let id = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|c| c["Name"] == container)
            .unwrap_or_else(|| panic!("no container {container}: {}", out.stdout))["ID"]
            .as_str()
            .unwrap()
            .to_string();
        let pid = cgroup_dirs(&id)
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .next()
            .unwrap_or_else(|| panic!("no process in {container}"));
        let out = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "-u", "-i", "-n", "-p", "--"])
            .args(["/bin/sh", "-c", script])
            .output()
            .unwrap();
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            timed_out: false,
        }
    }

    fn sh(&self, container: &str, script: &str) -> String {
        let out = self.sh_in(&self.s.name, container, script);
        assert!(
            out.success(),
            "{script} in {container}: {}\n{}{}",
            out.status_line(),
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    fn c(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.s.name)
    }

    fn supervisor_pid(&self) -> Option<i32> {
        let file = self
            .s
            .root()
            .join("supervisors")
            .join(&self.s.name)
            .join("pid");
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }
}

/// The addresses of `Address:` lines of busybox nslookup output, the server's own excepted.
fn addresses(nslookup: &str) -> Vec<String> {
    let mut out: Vec<String> = nslookup
        .split("\n\n")
        .skip(1)
        .flat_map(|block| {
            block
                .lines()
                .filter_map(|l| l.strip_prefix("Address: "))
                .map(|a| a.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

fn link_exists(name: &str) -> bool {
    PathBuf::from("/sys/class/net").join(name).exists()
}

fn nft_table_exists(project: &str) -> bool {
    let out = Command::new("nft")
        .args(["list", "tables", "inet"])
        .output()
        .unwrap();
    let want = format!("table inet {}", table_name(project));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == want)
}

/// Veths on `bridge` (their `master` link).
fn veths_on(bridge: &str) -> Vec<String> {
    let dir = PathBuf::from("/sys/class/net").join(bridge).join("brif");
    engine::entries(&dir)
}

/// HTTP GET of `/` on 127.0.0.1:`port`; the body.
fn http_get(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(text)
}

fn web_and_clients(ports: &str) -> String {
    format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: {ports}
    networks:
      default:
        aliases: [www]
  client:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    scale: 2
    hostname: probe
    links: ["web:site"]
"#
    )
}

#[test]
fn services_find_each_other_by_name_alias_and_container_name() {
    let n = Net::new("dns", &web_and_clients("[\"127.0.0.1::80\", \"80\"]"));
    let err = n.up();
    let p = &n.s.name;
    assert!(
        err.contains(&format!("Network {p}_default  Created")),
        "{err}"
    );
    let c1 = n.c("client", 1);
    let web = addresses(&n.sh(&c1, "nslookup web"));
    assert_eq!(web.len(), 1, "{web:?}");
    assert_eq!(addresses(&n.sh(&c1, "nslookup www")), web, "alias");
    assert_eq!(addresses(&n.sh(&c1, "nslookup site")), web, "link");
    let w = n.c("web", 1);
    assert!(
        !n.sh_in(p, &w, "nslookup site").success(),
        "a link is the linking container's name only"
    );
    assert_eq!(
        addresses(&n.sh(&c1, &format!("nslookup {}", n.c("web", 1)))),
        web,
        "container name"
    );
    // A scaled service answers with every replica.
    let clients = addresses(&n.sh(&c1, "nslookup client"));
    assert_eq!(clients.len(), 2, "{clients:?}");
    n.sh(&c1, &format!("ping -c1 -W5 {}", n.c("client", 2)));
    n.sh(&c1, "ping -c1 -W5 probe");
    let body = n.sh(&c1, "timeout 5 wget -q -O- http://web/");
    assert_eq!(body, "hello from web\n");
    // The container's own files: hostname, resolv.conf on the gateway, hosts with itself.
    assert_eq!(n.sh(&c1, "hostname"), "probe\n");
    let resolv = n.sh(&c1, "cat /etc/resolv.conf");
    assert!(
        resolv.starts_with("nameserver 172.") || resolv.starts_with("nameserver 192.168."),
        "{resolv}"
    );
    assert!(n.sh(&c1, "cat /etc/hosts").contains(&c1));
    // Outside names go to the upstream (the stub), never the host's resolver.
    let before = n.stub.queries.load(Ordering::Relaxed);
    let outside = n.sh(&c1, "nslookup outside.example.com");
    assert!(outside.contains(&OUTSIDE.to_string()), "{outside}");
    assert!(n.stub.queries.load(Ordering::Relaxed) > before);

    // Published ports: `port`, ps, from the host on 127.0.0.1 and from a container via
    // the host's address (hairpin).
    let (addr, _) = n.s.ok(&["port", "web", "80"]);
    let addr = addr.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let local: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let (table, _) = n.s.ok(&["ps"]);
    assert!(
        table.contains(&format!("127.0.0.1:{local}->80/tcp")),
        "{table}"
    );
    assert_eq!(http_get(local), "hello from web\n");
    let ps = n.s.ps_json();
    let ports = ps.iter().find(|c| c["Service"] == "web").unwrap()["Ports"]
        .as_str()
        .unwrap()
        .to_string();
    let any: u16 = ports
        .split(", ")
        .find_map(|p| p.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.split("->").next())
        .unwrap_or_else(|| panic!("{ports}"))
        .parse()
        .unwrap();
    let gateway = resolv.split_whitespace().nth(1).unwrap().to_string();
    let hairpin = n.sh(
        &c1,
        &format!("timeout 5 wget -q -O- http://{gateway}:{any}/"),
    );
    assert_eq!(hairpin, "hello from web\n");
    assert!(!n.s.compose(&["port", "web", "81"]).success());

    // Stopped containers stop answering at once; started again, they answer with the
    // addresses they kept.
    n.s.ok(&["stop", "-t", "1", "client"]);
    assert!(!n.sh_in(p, &w, "nslookup client").success());
    n.s.ok(&["start", "client"]);
    assert_eq!(addresses(&n.sh(&w, "nslookup client")), clients);
}

#[test]
fn another_project_neither_resolves_nor_reaches_the_names() {
    let n = Net::new("iso", &web_and_clients("[]"));
    n.up();
    let other = n.s.sibling("iso2");
    let out = n.up_as(&other.name);
    assert!(out.success(), "{}", out.stderr);
    let web_ip = addresses(&n.sh(&n.c("client", 1), "nslookup web"))
        .pop()
        .unwrap();
    let theirs = format!("{}-client-1", other.name);
    // Their own web answers with their own address, never ours.
    let own = addresses(&n.sh_in(&other.name, &theirs, "nslookup web").stdout);
    assert!(!own.contains(&web_ip), "{own:?} vs {web_ip}");
    let lookup = n.sh_in(&other.name, &theirs, &format!("nslookup {}", n.c("web", 1)));
    assert!(!lookup.success(), "{}", lookup.stdout);
    let reach = n.sh_in(
        &other.name,
        &theirs,
        &format!("timeout 3 wget -q -O- http://{web_ip}/"),
    );
    assert!(!reach.success(), "reached {web_ip}: {}", reach.stdout);
    drop(other);
}

#[test]
fn an_internal_network_has_no_way_out() {
    let yaml = format!(
        r#"
services:
  srv:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo srv > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [front]
  inside:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    networks: [back]
  both:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    networks: [front, back]
networks:
  front:
  back:
    internal: true
"#
    );
    let n = Net::new("internal", &yaml);
    n.up();
    let inside = n.c("inside", 1);
    let both = n.c("both", 1);
    // Names on its own network resolve; outside names are NXDOMAIN, never forwarded.
    assert_eq!(addresses(&n.sh(&inside, "nslookup both")).len(), 1);
    let before = n.stub.queries.load(Ordering::Relaxed);
    let out = n.sh_in(&n.s.name, &inside, "nslookup outside.example.com");
    assert!(!out.success(), "{}", out.stdout);
    assert!(!out.stdout.contains(&OUTSIDE.to_string()));
    assert_eq!(n.stub.queries.load(Ordering::Relaxed), before);
    // Not on front: srv is unknown to it, and its address unreachable.
    let srv_ip = addresses(&n.sh(&both, "nslookup srv")).pop().unwrap();
    assert!(!n.sh_in(&n.s.name, &inside, "nslookup srv").success());
    assert_eq!(
        n.sh(&both, &format!("timeout 5 wget -q -O- http://{srv_ip}/")),
        "srv\n"
    );
    let escape = n.sh_in(
        &n.s.name,
        &inside,
        &format!("timeout 3 wget -q -O- http://{srv_ip}/"),
    );
    assert!(!escape.success(), "{}", escape.stdout);
}

#[test]
fn a_host_port_in_use_fails_up_with_nothing_made() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let n = Net::new(
        "busy",
        &web_and_clients(&format!("[\"127.0.0.1:{port}:80\"]")),
    );
    let out = n.up_as(&n.s.name);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains(&format!("host port 127.0.0.1:{port}/tcp is already in use")),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(n.s.ids().is_empty());
    let bridge = bridge_name(&network_name(&n.s.name, "default"));
    assert!(!link_exists(&bridge));
    assert!(!nft_table_exists(&n.s.name));
    drop(held);
}

#[test]
fn down_cleans_everything_even_after_the_supervisor_was_killed() {
    let n = Net::new("kill", &web_and_clients("[\"80\"]"));
    n.up();
    let bridge = bridge_name(&network_name(&n.s.name, "default"));
    assert!(link_exists(&bridge));
    assert_eq!(veths_on(&bridge).len(), 3);
    assert!(nft_table_exists(&n.s.name));
    let c1 = n.c("client", 1);
    let web = addresses(&n.sh(&c1, "nslookup web"));
    let parts = host_parts(&n);
    assert_eq!(parts, ["2", "3", "4"]);

    // A killed supervisor is started again by the next up, which re-adopts the names.
    let pid = n.supervisor_pid().unwrap();
    kill9(pid);
    n.s.wait_for("the supervisor to die", || !alive(pid));
    n.up();
    let again = n.supervisor_pid().unwrap();
    assert_ne!(again, pid);
    assert_eq!(addresses(&n.sh(&c1, "nslookup web")), web);

    kill9(again);
    n.s.wait_for("the supervisor to die", || !alive(again));
    n.s.ok(&["down", "-t", "1"]);
    assert!(!link_exists(&bridge));
    assert!(!nft_table_exists(&n.s.name));
    assert!(!n.s.root().join("supervisors").join(&n.s.name).exists());
    assert!(engine::entries(&n.s.root().join("netfiles")).is_empty());
    // The addresses went back: the next up hands out the same first ones.
    n.up();
    assert_eq!(host_parts(&n), parts);
    let last = n.supervisor_pid().unwrap();
    n.s.ok(&["down", "-t", "1"]);
    assert!(!alive(last));
    assert!(!link_exists(&bridge));
    // A second down finds nothing to do.
    n.s.ok(&["down", "-t", "1"]);
}

fn kill9(pid: i32) {
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// The last octets of every address of the project's containers on the default network.
fn host_parts(n: &Net) -> Vec<String> {
    let mut all = Vec::new();
    for name in ["web", "client"] {
        for a in addresses(&n.sh(&n.c("client", 1), &format!("nslookup {name}"))) {
            all.push(a.rsplit('.').next().unwrap().to_string());
        }
    }
    all.sort();
    all
}

#[test]
fn network_modes_addresses_and_the_etc_files() {
    let yaml = format!(
        r#"
services:
  a:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    hostname: alpha
    domainname: example.test
    mac_address: "02:42:0a:d5:4d:32"
    extra_hosts: ["gw=host-gateway", "fixed=10.1.2.3"]
    dns_search: [corp.test]
    dns_opt: ["ndots:3"]
    networks:
      back: {{}}
      front:
        priority: 10
        ipv4_address: 10.213.77.50
  b:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    network_mode: "service:a"
  h:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    network_mode: host
  n:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    network_mode: none
  d:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    dns: [10.9.9.9]
networks:
  front:
    ipam:
      config: [{{subnet: 10.213.77.0/24}}]
  back:
"#
    );
    let n = Net::new("modes", &yaml);
    n.up();
    let a = n.c("a", 1);
    // priority puts front first: eth0, with the asked address and MAC.
    let eth0 = n.sh(&a, "ip -o -4 addr show eth0; ip link show eth0");
    assert!(eth0.contains("inet 10.213.77.50/24"), "{eth0}");
    assert!(eth0.contains("link/ether 02:42:0a:d5:4d:32"), "{eth0}");
    assert!(n.sh(&a, "ip -o -4 addr show eth1").contains("inet "));
    let hosts = n.sh(&a, "cat /etc/hosts");
    assert!(hosts.contains("10.213.77.1\tgw\n"), "{hosts}");
    assert!(hosts.contains("10.1.2.3\tfixed\n"), "{hosts}");
    assert!(
        hosts.contains(&format!("10.213.77.50\talpha alpha.example.test {a}\n")),
        "{hosts}"
    );
    assert_eq!(
        n.sh(&a, "cat /etc/resolv.conf"),
        "nameserver 10.213.77.1\nsearch corp.test\noptions ndots:3\n"
    );
    assert!(n.sh(&a, "nslookup alpha.").contains("10.213.77.50"));
    // service:a shares a's namespace.
    let shared = n.sh(&n.c("b", 1), "ip -o -4 addr");
    assert!(shared.contains("inet 10.213.77.50/24"), "{shared}");
    // host: the host's links, the project's bridge among them.
    let front = bridge_name(&network_name(&n.s.name, "front"));
    assert!(n.sh(&n.c("h", 1), "ip -o link").contains(&front));
    // none: loopback only.
    let links = n.sh(&n.c("n", 1), "ip -o link");
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:"), "{links}");
    // dns: the given servers (not queried: they are not ours).
    assert!(
        n.sh(&n.c("d", 1), "cat /etc/resolv.conf")
            .starts_with("nameserver 10.9.9.9\n")
    );
}

#[test]
fn external_networks_must_exist_and_are_never_removed() {
    let shared = engine::unique("ext");
    let yaml = format!(
        r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{LOOP}"]
    networks: [shared]
networks:
  shared:
    external: true
    name: {shared}
"#
    );
    let n = Net::new("ext", &yaml);
    let out = n.up_as(&n.s.name);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains(&format!("external network '{shared}' not found")),
        "{}",
        out.stderr
    );
    // Another project makes it (by `name:`); ours joins it and leaves it on down.
    let owner = Owner {
        n: &n,
        name: engine::unique("owner"),
        file: n.s.dir.path().join("owner").join("compose.yaml"),
    };
    std::fs::create_dir_all(n.s.dir.path().join("owner")).unwrap();
    let owner_yaml = format!(
        "services:\n  srv:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n    networks: [net]\nnetworks:\n  net:\n    name: {shared}\n"
    );
    std::fs::write(&owner.file, owner_yaml).unwrap();
    let file = owner.file.display().to_string();
    let made =
        n.s.compose_env(&owner.name, &["-f", &file, "up", "-d"], &n.stub.env());
    assert!(made.success(), "{}", made.stderr);
    n.up();
    let bridge = bridge_name(&shared);
    assert_eq!(veths_on(&bridge).len(), 2);
    let srv = format!("{}-srv-1", owner.name);
    let app_ip = n.sh(&n.c("app", 1), "ip -o -4 addr show eth0");
    let app_ip = app_ip
        .split_whitespace()
        .nth(3)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    n.sh_in(&owner.name, &srv, &format!("ping -c1 -W5 {app_ip}"));
    n.s.ok(&["down", "-t", "1"]);
    assert!(link_exists(&bridge), "an external network is never removed");
    assert_eq!(veths_on(&bridge).len(), 1);
    let gone =
        n.s.compose_env(&owner.name, &["-f", &file, "down", "-t", "1"], &[]);
    assert!(gone.success(), "{}", gone.stderr);
    assert!(!link_exists(&bridge));
}

/// The project that owns the external network, taken down with its own file when dropped.
struct Owner<'a> {
    n: &'a Net,
    name: String,
    file: PathBuf,
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        let file = self.file.display().to_string();
        let out = self.n.s.compose_env(
            &self.name,
            &["-f", &file, "down", "-t", "1", "--remove-orphans"],
            &[],
        );
        if !out.success() {
            eprintln!("cleanup down failed: {}", out.stderr);
        }
    }
}

#[test]
fn down_after_the_supervisor_was_killed_during_up_removes_everything() {
    let n = Net::new("midup", &web_and_clients("[\"80\"]"));
    let pid_file = n.s.root().join("supervisors").join(&n.s.name).join("pid");
    let killed = std::thread::scope(|sc| {
        let up = sc.spawn(|| n.up_as(&n.s.name));
        let mut killed = None;
        while killed.is_none() && !up.is_finished() {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                kill9(pid);
                killed = Some(pid);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Whether up saw its supervisor die or finished first, down must clean up.
        let _ = up.join().unwrap();
        killed
    });
    let pid = killed.expect("the supervisor started");
    n.s.wait_for("the supervisor to die", || !alive(pid));
    let bridge = bridge_name(&network_name(&n.s.name, "default"));
    n.s.ok(&["down", "-t", "1"]);
    assert!(!link_exists(&bridge));
    assert!(!nft_table_exists(&n.s.name));
    assert!(n.s.ids().is_empty());
    assert!(!n.s.root().join("supervisors").join(&n.s.name).exists());
    assert!(engine::entries(&n.s.root().join("netfiles")).is_empty());
}

#[test]
fn a_removed_container_gives_its_published_port_back() {
    let n = Net::new("rmport", &web_and_clients("[\"127.0.0.1::80\"]"));
    n.up();
    let (addr, _) = n.s.ok(&["port", "web", "80"]);
    let port = addr.trim().rsplit(':').next().unwrap().to_string();
    let (same, _) =
        n.s.ok(&["port", "--index", "1", "--protocol", "tcp", "web", "80"]);
    assert_eq!(same, addr);
    let none = n.s.compose(&["port", "--index", "2", "web", "80"]);
    assert!(
        none.stderr
            .contains("service \"web\" has no container number 2"),
        "{}",
        none.stderr
    );
    assert!(
        !n.s.compose(&["port", "--protocol", "udp", "web", "80"])
            .success()
    );
    let table = || {
        let out = Command::new("nft")
            .args(["list", "table", "inet", &table_name(&n.s.name)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        table().contains(&format!("127.0.0.1 . {port}")),
        "{}",
        table()
    );
    n.s.ok(&["stop", "-t", "1", "web"]);
    n.s.ok(&["rm", "-f", "web"]);
    let left = table();
    assert!(!left.contains(&format!(" . {port}")), "{left}");
    assert!(!left.contains(&format!("dport {port}")), "{left}");
}

/// A container's first instruction can already resolve names: its own address is known to
/// the DNS before it starts (without that, the lookups of a fast starter got NXDOMAIN until
/// the next reload of the records).
#[test]
fn names_resolve_from_a_containers_first_instruction() {
    let yaml = format!(
        "services:\n  store:\n    image: busybox\n    command: [\"sh\", \"-c\", \"{LOOP}\"]\n  probe:\n    image: busybox\n    scale: 4\n    depends_on: [store]\n    command: [\"sh\", \"-c\", \"nslookup store >/dev/null 2>&1 || exit 9; {LOOP}\"]\n"
    );
    let n = Net::new("early", &yaml);
    n.up();
    n.s.wait_for("the probes' lookups", || {
        let ps = n.s.ps_json();
        ps.len() == 5 && ps.iter().all(|c| c["State"] == "running")
            || ps.iter().any(|c| c["State"] == "exited")
    });
    let ps = n.s.ps_json();
    let exited: Vec<_> = ps.iter().filter(|c| c["State"] == "exited").collect();
    assert!(
        exited.is_empty(),
        "a probe could not resolve store at start: {exited:?}"
    );
}

/// A `run` container answers to its own name; to the service's name and aliases only with
/// `--use-aliases` (as with Docker Compose), so a one-off beside `up` takes no share of them.
#[test]
fn one_offs_answer_to_service_names_only_with_use_aliases() {
    let n = Net::new("aliases", &web_and_clients("[]"));
    n.up();
    let p = n.s.name.clone();
    let run = |extra: &[&str], name: &str| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["web", "sh", "-c", LOOP]);
        let out = n.s.compose_env(&p, &args, &n.stub.env());
        assert!(out.success(), "run {extra:?}: {}", out.stderr);
    };
    let plain = format!("{p}-plain");
    let aliased = format!("{p}-aliased");
    run(&[], &plain);
    run(&["--use-aliases"], &aliased);
    let c1 = n.c("client", 1);
    let plain_ip = addresses(&n.sh(&c1, &format!("nslookup {plain}")));
    let aliased_ip = addresses(&n.sh(&c1, &format!("nslookup {aliased}")));
    assert_eq!((plain_ip.len(), aliased_ip.len()), (1, 1));
    let web = addresses(&n.sh(&c1, "nslookup web"));
    assert_eq!(
        web.len(),
        2,
        "the service's container and the aliased one-off: {web:?}"
    );
    assert!(web.contains(&aliased_ip[0]), "{web:?} {aliased_ip:?}");
    assert!(!web.contains(&plain_ip[0]), "{web:?} {plain_ip:?}");
    let www = addresses(&n.sh(&c1, "nslookup www"));
    assert!(
        www.contains(&aliased_ip[0]) && !www.contains(&plain_ip[0]),
        "{www:?}"
    );
}

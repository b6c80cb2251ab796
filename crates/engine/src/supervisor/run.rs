//! The supervisor process: takes the project's lock, serves DNS on every network's gateway
//! from records rebuilt out of the store, keeps the containers (restart policies, health
//! checks: [`super::keeper`]) and answers `reload` / `stop` on its socket.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use compose_dns::{Config, ContainerRecord, Link, NetworkSettings, Server};
use rustix::fs::{FlockOperation, flock};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use super::keeper::Keeper;
use super::{Paths, RESOLV_ENV, UPSTREAM_PORT_ENV};
use crate::engine::Engine;
use crate::runner::Live;
use crate::store::{EndpointRow, NetworkRow};

/// How often the store is read again without a poke (a container that stopped by itself
/// leaves the records within this).
const REREAD: Duration = Duration::from_secs(2);

/// Threads running health probes at once.
const PROBE_THREADS: usize = 2;

/// The DNS port on each gateway.
const DNS_PORT: u16 = 53;

/// Runs the supervisor of `<root> <project>` (the arguments after [`super::ARG`]); never
/// returns.
pub fn main() -> ! {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let code = match args.as_slice() {
        [root, project] => match run(Path::new(root), project) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("compose supervisor {project}: {e}");
                1
            }
        },
        _ => {
            eprintln!("usage: compose {} DATA_ROOT PROJECT", super::ARG);
            2
        }
    };
    std::process::exit(code)
}

fn run(root: &Path, project: &str) -> Result<(), String> {
    let paths = Paths::new(root, project);
    std::fs::create_dir_all(&paths.dir).map_err(|e| format!("create {:?}: {e}", paths.dir))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock())
        .map_err(|e| format!("open lock: {e}"))?;
    if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
        // Another supervisor of this project runs: it serves the names.
        return Ok(());
    }
    std::fs::write(paths.pid(), format!("{}\n", std::process::id()))
        .map_err(|e| format!("write pid: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Health probes block (an exec in the container, up to its timeout): a few
        // threads take turns at them. Each thread costs resident memory for its stack and
        // allocator heap, so they are few and let go once idle.
        .max_blocking_threads(PROBE_THREADS)
        .thread_keep_alive(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let result = rt.block_on(serve(root, project, &paths));
    let _ = std::fs::remove_file(paths.sock());
    let _ = std::fs::remove_file(paths.pid());
    drop(lock);
    result
}

async fn serve(root: &Path, project: &str, paths: &Paths) -> Result<(), String> {
    let engine = Engine::open(root).map_err(|e| e.to_string())?;
    let resolv = std::env::var_os(RESOLV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"));
    let upstream_port = std::env::var(UPSTREAM_PORT_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(53);
    let mut server = Server::start(Config {
        resolv_conf: resolv,
        upstream_port,
        ..Config::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let engine = Arc::new(engine);
    let mut state = State::default();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut keeper = Keeper::new(engine.clone(), project, tx);
    // Stale from a killed supervisor: we hold the lock, so nobody else listens on it.
    let _ = std::fs::remove_file(paths.sock());
    let listener =
        UnixListener::bind(paths.sock()).map_err(|e| format!("bind {:?}: {e}", paths.sock()))?;
    if !reload(&mut state, &mut keeper, &engine, project, &mut server).await {
        return finish(server).await;
    }
    let mut tick = tokio::time::interval(REREAD);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !reload(&mut state, &mut keeper, &engine, project, &mut server).await {
                    break;
                }
            }
            Some(ev) = events.recv() => {
                keeper.handle(ev);
                // An exit or a restart changes which names answer.
                if !state.reload(&engine, project, &mut server).await {
                    break;
                }
            }
            conn = listener.accept() => {
                let Ok((stream, _)) = conn else { continue };
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(read);
                let read = tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await;
                if !matches!(read, Ok(Ok(_))) {
                    continue;
                }
                match line.trim() {
                    "reload" => {
                        let keep = reload(&mut state, &mut keeper, &engine, project, &mut server).await;
                        let _ = write.write_all(b"ok\n").await;
                        if !keep { break; }
                    }
                    "stop" => {
                        let _ = write.write_all(b"ok\n").await;
                        break;
                    }
                    other => {
                        let _ = write.write_all(format!("error unknown request {other:?}\n").as_bytes()).await;
                    }
                }
            }
        }
    }
    finish(server).await
}

/// Brings the DNS records and the container watches up to date with the store; false
/// when the project is gone (no containers, no networks): the supervisor ends.
async fn reload(
    state: &mut State,
    keeper: &mut Keeper,
    engine: &Engine,
    project: &str,
    server: &mut Server,
) -> bool {
    let keep = state.reload(engine, project, server).await;
    if keep {
        keeper.reload();
    }
    keep
}

async fn finish(server: Server) -> Result<(), String> {
    server.shutdown().await.map_err(|e| e.to_string())
}

/// The project's networks, with the ones its endpoints use that another project recorded
/// (an external network made by it), and its endpoints.
fn project_networks(
    engine: &Engine,
    project: &str,
) -> crate::error::Result<(Vec<NetworkRow>, Vec<EndpointRow>)> {
    let store = engine.store();
    let mut nets = store.networks(project)?;
    let endpoints = store.endpoints(project)?;
    let used: BTreeSet<&str> = endpoints.iter().map(|e| e.network.as_str()).collect();
    for name in used {
        if !nets.iter().any(|n| n.name == name)
            && let Some(mut row) = store.network(name)?
        {
            // Not ours to serve: its owner's supervisor listens on its gateway.
            row.external = true;
            nets.push(row);
        }
    }
    Ok((nets, endpoints))
}

/// What the server holds now, so a reload changes only the difference.
#[derive(Default)]
struct State {
    listening: BTreeMap<IpAddr, SocketAddr>,
    networks: BTreeSet<String>,
    containers: BTreeSet<String>,
}

impl State {
    /// Makes the server's listeners and records match the store. False when the project
    /// has no networks left (it was taken down): the supervisor ends.
    async fn reload(&mut self, engine: &Engine, project: &str, server: &mut Server) -> bool {
        let (nets, endpoints) = match project_networks(engine, project) {
            Ok(both) => both,
            Err(e) => {
                eprintln!("read networks: {e}");
                return true;
            }
        };
        let no_containers = engine
            .store()
            .containers(project)
            .map(|c| c.is_empty())
            .unwrap_or(false);
        if nets.is_empty() && endpoints.is_empty() && no_containers {
            return false;
        }
        let records = server.records();
        let mut gateways = BTreeSet::new();
        let mut names = BTreeSet::new();
        for n in &nets {
            let Some(info) = &n.info else { continue };
            names.insert(n.name.clone());
            records.set_network(
                &n.name,
                NetworkSettings {
                    internal: info.internal,
                },
            );
            if n.external {
                continue;
            }
            let ip = IpAddr::V4(info.addressing.gateway);
            gateways.insert(ip);
            if let std::collections::btree_map::Entry::Vacant(slot) = self.listening.entry(ip) {
                match server.listen(SocketAddr::new(ip, DNS_PORT)).await {
                    Ok(bound) => {
                        slot.insert(bound);
                    }
                    Err(e) => eprintln!("listen on {ip}: {e}"),
                }
            }
        }
        let gone: Vec<IpAddr> = self
            .listening
            .keys()
            .filter(|ip| !gateways.contains(ip))
            .copied()
            .collect();
        for ip in gone {
            if let Some(bound) = self.listening.remove(&ip) {
                let _ = server.unlisten(bound).await;
            }
        }
        for old in self.networks.difference(&names) {
            records.remove_network(old);
        }
        self.networks = names;
        // One-offs (`run`) included: they resolve the project's names and answer to their
        // own (to the service's only with `--use-aliases`, see the endpoints' names).
        let running: BTreeSet<String> = match engine.store().containers(project) {
            Ok(rows) => rows
                .into_iter()
                // Created ones too: a container is poked in just before it starts, so its
                // address is a known source from its first query (its own lookups at start
                // would otherwise get NXDOMAIN until the next reload).
                .filter(|r| matches!(engine.live(r), Live::Running | Live::Created))
                .map(|r| r.id)
                .collect(),
            Err(e) => {
                eprintln!("read containers: {e}");
                return true;
            }
        };
        let wanted: Vec<ContainerRecord> = endpoints
            .into_iter()
            .filter(|e| running.contains(&e.container) && self.networks.contains(&e.network))
            .map(|e| ContainerRecord {
                id: e.container,
                network: e.network,
                ipv4: e.address,
                ipv6: None,
                names: e.names,
                links: e
                    .links
                    .into_iter()
                    .map(|(alias, target)| Link { alias, target })
                    .collect(),
            })
            .collect();
        let ids: BTreeSet<String> = wanted.iter().map(|r| r.id.clone()).collect();
        for old in &self.containers {
            records.remove_container(old);
        }
        let count = wanted.len();
        if let Err(e) = records.update_containers(wanted) {
            eprintln!("update records: {e}");
        }
        if ids != self.containers {
            eprintln!(
                "records: {count} endpoint(s) of {} running container(s)",
                ids.len()
            );
        }
        self.containers = ids;
        true
    }
}

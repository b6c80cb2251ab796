//! Runs the DNS server alone, for benchmarks (bench/dns.sh) and manual poking with dig.
//!
//! ```text
//! dns-serve --listen 127.0.0.1:5300 --resolv-conf FILE [--upstream-port 53]
//!           [--hosts FILE] [--client IP]... [--threads N] [--search DOMAIN]
//! ```
//! `--hosts` takes `/etc/hosts` lines (`IP name...`): each line becomes a container on
//! network `bench`. Each `--client` address becomes a container there too, so queries
//! from it see the names as a container would. Stops on SIGINT or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use compose_dns::{Config, ContainerRecord, NetworkSettings, Server};

// The compose binary's allocator (crates/cli), so the figures are the supervisor's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    config: Config,
    hosts: Option<PathBuf>,
    clients: Vec<IpAddr>,
    threads: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        config: Config::default(),
        hosts: None,
        clients: Vec::new(),
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.config.listen.push(value()?.parse()?),
            "--resolv-conf" => args.config.resolv_conf = value()?.into(),
            "--upstream-port" => args.config.upstream_port = value()?.parse()?,
            "--hosts" => args.hosts = Some(value()?.into()),
            "--client" => args.clients.push(value()?.parse()?),
            "--threads" => args.threads = value()?.parse()?,
            "--search" => args.config.search_domains.push(value()?),
            "--cache-size" => args.config.cache_size = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let server = Server::start(args.config).await?;
    let records = server.records();
    records.set_network("bench", NetworkSettings::default());
    let mut entries: Vec<(IpAddr, Vec<String>)> = Vec::new();
    if let Some(path) = &args.hosts {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut words = line.split_whitespace();
            let ip = words.next().context("empty line")?.parse()?;
            entries.push((ip, words.map(str::to_owned).collect()));
        }
    }
    for ip in &args.clients {
        entries.push((*ip, vec![format!("client-{ip}")]));
    }
    for (n, (ip, names)) in entries.into_iter().enumerate() {
        let IpAddr::V4(ipv4) = ip else {
            bail!("{ip}: IPv4 only")
        };
        records.update_container(ContainerRecord {
            id: format!("c{n}"),
            network: "bench".into(),
            ipv4,
            ipv6: None,
            names,
            links: Vec::new(),
        })?;
    }
    let addrs: Vec<SocketAddr> = server.local_addrs();
    eprintln!("dns-serve: listening on {addrs:?}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.shutdown().await?;
    Ok(())
}

//! One container's network side: before the runtime creates it, its addresses (IPAM in the
//! store), its `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` (written under
//! `<root>/netfiles/<id>` and bind-mounted) and which netns it joins; after, its veths
//! (`eth0`, `eth1`... by `priority`) moved into its netns; on removal, all of it given back.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use compose_network::bridge::NetworkInfo;
use compose_network::endpoint::{self, EndpointSpec};
use compose_network::files::{self, HostsSpec, ResolvSpec};
use compose_network::ipam;
use compose_network::mode::NetworkMode;
use compose_network::netlink::NetnsRef;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::{NetError, full_name, mode, service_err, service_networks};
use crate::engine::{Engine, Project};
use crate::error::{Error, Result};
use crate::runner::{self, Live};
use crate::store::{ContainerRow, EndpointRow};

/// The host's resolver config; containers without a `dns:` of their own on no network use
/// its servers, and every container its search domains and options.
const HOST_RESOLV: &str = "/etc/resolv.conf";

/// What a container's network needs, decided before the runtime creates it.
#[derive(Debug, Default)]
pub(crate) struct NetSetup {
    /// A netns to join (`service:`/`container:`), as a path.
    pub join: Option<PathBuf>,
    /// `network_mode: host`: no netns of its own.
    pub host: bool,
    /// `network_mode: none` (and bridge): a new netns whose `lo` must be up.
    pub own_netns: bool,
    /// Bind mounts of `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
    pub mounts: Vec<Mount>,
    /// Endpoints to plug in once the netns exists.
    pub endpoints: Vec<(NetworkInfo, EndpointRow, Option<[u8; 6]>)>,
}

impl NetSetup {
    /// Applies the setup to the runtime spec: the file mounts, and no network namespace of
    /// its own in host mode.
    pub(crate) fn adjust(&self, spec: &mut Spec) {
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        let ours: Vec<&Path> = self
            .mounts
            .iter()
            .map(|m| m.destination().as_path())
            .collect();
        mounts.retain(|m| !ours.contains(&m.destination().as_path()));
        mounts.extend(self.mounts.iter().cloned());
        spec.set_mounts(Some(mounts));
        if self.host
            && let Some(linux) = spec.linux_mut()
            && let Some(ns) = linux.namespaces_mut()
        {
            ns.retain(|n| n.typ() != LinuxNamespaceType::Network);
        }
    }
}

/// A created container's init already holds its netns, so one `up` can make both.
fn has_netns(l: Live) -> bool {
    matches!(l, Live::Running | Live::Created)
}

fn mode_text(mode: &NetworkMode) -> String {
    match mode {
        NetworkMode::Service(s) => format!("network_mode service:{s}"),
        NetworkMode::Container(c) => format!("network_mode container:{c}"),
        other => format!("network_mode {other:?}"),
    }
}

/// Where a container's network files live.
pub(crate) fn files_dir(root: &Path, id: &str) -> PathBuf {
    root.join("netfiles").join(id)
}

fn bind(source: PathBuf, target: &str) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(target));
    m.set_typ(Some("bind".into()));
    m.set_source(Some(source));
    m.set_options(Some(vec!["rbind".into(), "rw".into()]));
    m
}

fn write(dir: &Path, file: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    std::fs::write(&path, text)
        .map_err(|e| Error::Other(format!("write {}: {e}", path.display())))?;
    Ok(path)
}

impl Engine {
    /// Decides and records a container's network side; writes its files. Called after its
    /// record exists and before the runtime creates it.
    pub(crate) fn network_prepare(&self, p: &Project<'_>, row: &ContainerRow) -> Result<NetSetup> {
        let service = row.service.as_str();
        let svc = p.service(service)?;
        let mode = mode(p, service)?;
        let dir = files_dir(&self.root, &row.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Other(format!("create {}: {e}", dir.display())))?;
        let mut setup = NetSetup::default();
        let hostname = if svc.hostname.is_empty() {
            row.id.chars().take(12).collect()
        } else {
            svc.hostname.clone()
        };
        let host_resolv = std::fs::read_to_string(HOST_RESOLV).unwrap_or_default();
        let extra = svc.extra_hosts.entries();
        let resolv = |gateway| {
            files::resolv_conf(&ResolvSpec {
                dns: &svc.dns,
                dns_search: &svc.dns_search,
                dns_opt: &svc.dns_opt,
                gateway,
                host_resolv: &host_resolv,
            })
            .map_err(|e| service_err(service, e))
        };
        match &mode {
            NetworkMode::Host => {
                setup.host = true;
                let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                let text = files::host_mode_hosts(&hosts, &extra, Some(Ipv4Addr::LOCALHOST))
                    .map_err(|e| service_err(service, e))?;
                setup
                    .mounts
                    .push(bind(write(&dir, "hosts", &text)?, "/etc/hosts"));
                setup.mounts.push(bind(
                    write(&dir, "resolv.conf", &resolv(None)?)?,
                    "/etc/resolv.conf",
                ));
                return Ok(setup);
            }
            NetworkMode::Service(_) | NetworkMode::Container(_) => {
                let other = self.netns_owner(p, service, &mode)?;
                setup.join = Some(PathBuf::from(format!("/proc/{}/ns/net", other.1)));
                // The files of the container whose netns it shares: same names, same view.
                let theirs = files_dir(&self.root, &other.0);
                for (file, target) in [
                    ("hosts", "/etc/hosts"),
                    ("hostname", "/etc/hostname"),
                    ("resolv.conf", "/etc/resolv.conf"),
                ] {
                    if theirs.join(file).is_file() {
                        setup.mounts.push(bind(theirs.join(file), target));
                    }
                }
                return Ok(setup);
            }
            NetworkMode::None | NetworkMode::Bridge => setup.own_netns = true,
        }
        if mode == NetworkMode::Bridge {
            self.plan_endpoints(p, row, &hostname, &mut setup)?;
        }
        let first = setup.endpoints.first();
        let address = first.map(|(_, ep, _)| ep.address);
        let gateway = first.map(|(n, _, _)| n.addressing.gateway);
        let mut own_names = vec![row.name.clone()];
        if !svc.domainname.is_empty() {
            own_names.insert(0, format!("{hostname}.{}", svc.domainname));
        }
        let hosts = files::hosts_file(&HostsSpec {
            hostname: &hostname,
            names: &own_names,
            address,
            extra_hosts: &extra,
            host_gateway: gateway,
        })
        .map_err(|e| service_err(service, e))?;
        setup
            .mounts
            .push(bind(write(&dir, "hosts", &hosts)?, "/etc/hosts"));
        setup.mounts.push(bind(
            write(&dir, "hostname", &files::hostname_file(&hostname))?,
            "/etc/hostname",
        ));
        setup.mounts.push(bind(
            write(&dir, "resolv.conf", &resolv(gateway)?)?,
            "/etc/resolv.conf",
        ));
        Ok(setup)
    }

    /// Addresses (kept when the same container is made again) and DNS names per network.
    fn plan_endpoints(
        &self,
        p: &Project<'_>,
        row: &ContainerRow,
        hostname: &str,
        setup: &mut NetSetup,
    ) -> Result<()> {
        let service = row.service.as_str();
        let svc = p.service(service)?;
        let links: Vec<(String, String)> = svc
            .links
            .iter()
            .map(|l| match l.split_once(':') {
                Some((t, a)) => (a.to_string(), t.to_string()),
                None => (l.clone(), l.clone()),
            })
            .collect();
        for (i, (key, opts)) in service_networks(p, service)?.into_iter().enumerate() {
            let name = full_name(p, key);
            let info = self
                .store
                .network(&name)?
                .and_then(|n| n.info)
                .ok_or_else(|| service_err(service, format!("network {name} was not created")))?;
            let requested = match opts.map(|o| o.ipv4_address.as_str()).unwrap_or("") {
                "" => None,
                a => Some(a.parse::<Ipv4Addr>().map_err(|_| {
                    service_err(
                        service,
                        format!("network {key}: invalid ipv4_address {a:?}"),
                    )
                })?),
            };
            let address = self
                .store
                .allocate_ip(&name, &row.id, |used| {
                    ipam::allocate_address(&info.addressing, used, requested)
                })?
                .map_err(|e| service_err(service, format!("network {key}: {e}")))?;
            let mac_text = match opts.map(|o| o.mac_address.as_str()).unwrap_or("") {
                "" if i == 0 => svc.mac_address.as_str(),
                m => m,
            };
            let mac = match mac_text {
                "" => None,
                m => Some(endpoint::parse_mac(m).map_err(|e| service_err(service, e))?),
            };
            // A one-off answers to its service's names only with `run --use-aliases`, as
            // with Docker Compose: `run` beside `up` must not take a share of `web`.
            let service_names = !row.oneoff || row.info.use_aliases;
            let mut names = vec![row.name.clone()];
            if service_names {
                names.push(service.to_string());
            }
            if !svc.hostname.is_empty() {
                names.push(hostname.to_string());
            }
            if let Some(o) = opts
                && service_names
            {
                names.extend(o.aliases.iter().cloned());
            }
            names.push(row.id.chars().take(12).collect());
            names.retain(|n| compose_dns::names::is_servable_name(n));
            names.dedup();
            let ep = EndpointRow {
                container: row.id.clone(),
                project: p.name.to_string(),
                network: name,
                ifname: endpoint::ifname(i),
                address,
                mac: String::new(),
                names,
                links: links.clone(),
            };
            setup.endpoints.push((info, ep, mac));
        }
        Ok(())
    }

    /// The (id, init pid) of the running container whose netns `mode` names.
    fn netns_owner(
        &self,
        p: &Project<'_>,
        service: &str,
        mode: &NetworkMode,
    ) -> Result<(String, i32)> {
        let row = match mode {
            NetworkMode::Service(other) => self
                .containers(p.name)?
                .into_iter()
                .find(|(r, l)| &r.service == other && has_netns(*l))
                .map(|(r, _)| r),
            NetworkMode::Container(name) => self
                .store
                .container_by_name(name)?
                .filter(|r| has_netns(self.live(r))),
            _ => None,
        };
        let row = row.ok_or_else(|| {
            service_err(
                service,
                format!("{}: no such running or created container", mode_text(mode)),
            )
        })?;
        let pid = self.init_pid(&row.id)?;
        Ok((row.id, pid))
    }

    fn init_pid(&self, id: &str) -> Result<i32> {
        let rt = compose_runtime::Runtime::new(self.runner.root(), runner::CGROUP_PARENT)?;
        Ok(rt.load(id)?.pid())
    }

    /// Plugs the created (not yet started) container into its networks.
    pub(crate) fn network_attach(&self, row: &ContainerRow, setup: &NetSetup) -> Result<()> {
        if !setup.own_netns {
            return Ok(());
        }
        let pid = self.init_pid(&row.id)?;
        let pid = u32::try_from(pid)
            .map_err(|_| Error::Other(format!("container {}: bad init pid {pid}", row.name)))?;
        let ns = NetnsRef::Pid(pid);
        let net_err = |network: &str| {
            let network = network.to_string();
            move |source| NetError::Network { network, source }
        };
        endpoint::loopback_up(&ns).map_err(net_err(&row.name))?;
        for (i, (info, ep, mac)) in setup.endpoints.iter().enumerate() {
            let made = endpoint::attach(
                &EndpointSpec {
                    container_id: &row.id,
                    network: info,
                    ifname: &ep.ifname,
                    address: ep.address,
                    mac: *mac,
                    default_route: i == 0,
                },
                &ns,
            )
            .map_err(net_err(&ep.network))?;
            let mut ep = ep.clone();
            ep.mac = made
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            self.store.put_endpoint(&ep)?;
        }
        Ok(())
    }

    /// Tells the project's supervisor that a container started or stopped, so its names
    /// answer (or stop answering) at once. A supervisor that does not answer re-reads the
    /// store on its own within seconds: the change itself must not fail for it.
    pub(crate) fn dns_changed(&self, row: &ContainerRow) {
        if let Err(e) = crate::supervisor::poke(&self.root, &row.project) {
            tracing::debug!(%e, "supervisor poke");
        }
    }

    /// Gives back a removed container's network side: veths, tracked flows, addresses,
    /// endpoint and port records, files. With `later`, for a `down` that takes the networks
    /// too: the veths, their flows and the firewall rules are left to the networks'
    /// teardown (the veths of a bridge then go with it in one request, the flows in one
    /// pass), and what was left is pushed to `later`; the records and files go now.
    pub(crate) fn network_release(
        &self,
        row: &ContainerRow,
        later: Option<&Mutex<Batched>>,
    ) -> Result<()> {
        let released: Vec<Released> = self
            .store
            .addresses_of(&row.id)?
            .into_iter()
            .map(|(network, address)| Released {
                container: row.id.clone(),
                network,
                address,
            })
            .collect();
        match later {
            Some(later) => later
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .released
                .extend(released),
            None => self.unplug(&released)?,
        }
        let published = later.is_none()
            && self
                .store
                .published(&row.project)?
                .iter()
                .any(|r| r.container == row.id);
        self.store.release_network_state(&row.id)?;
        if published {
            // Its DNAT rules go with it, so the host port is free for others at once.
            self.apply_firewall(&row.project)?;
        }
        let dir = files_dir(&self.root, &row.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Other(format!("remove {}: {e}", dir.display()))),
        }
    }

    /// Finishes releases that [`Engine::network_release`] left for a teardown that
    /// is not coming (a container of the project could not be removed): each veth, the
    /// flows, and the project's firewall rules without the released ports.
    pub(crate) fn finish_released(&self, project: &str, released: &[Released]) -> Result<()> {
        if released.is_empty() {
            return Ok(());
        }
        let mut errors = crate::error::Errors::default();
        errors.note(self.unplug(released));
        errors.note(self.apply_firewall(project));
        errors.into_result()
    }

    /// Deletes the veths of `released` (every one, reporting each failure) and forgets
    /// their addresses' tracked flows.
    fn unplug(&self, released: &[Released]) -> Result<()> {
        if released.is_empty() {
            return Ok(());
        }
        let mut errors = crate::error::Errors::default();
        for r in released {
            errors.note(
                endpoint::detach(&r.container, &r.network)
                    .map(drop)
                    .map_err(|source| {
                        Error::from(NetError::Network {
                            network: r.network.clone(),
                            source,
                        })
                    }),
            );
        }
        let addrs: Vec<Ipv4Addr> = released.iter().map(|r| r.address).collect();
        // Best effort: a flow left tracked only delays a reused address's first packet.
        let _ = compose_network::conntrack::forget_flows(&addrs);
        errors.into_result()
    }
}

/// What a `down` does once for all its removed containers rather than once for each.
#[derive(Debug, Default)]
pub(crate) struct Batched {
    /// Network places whose veths go with the networks' teardown.
    pub released: Vec<Released>,
    /// Containers whose image holds are dropped in one commit.
    pub holds: Vec<String>,
}

/// A container's place on a network whose veth is still to be removed.
#[derive(Debug, Clone)]
pub(crate) struct Released {
    pub container: String,
    pub network: String,
    pub address: Ipv4Addr,
}

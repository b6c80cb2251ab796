//! Published ports: reserved for every container `up` may make before any is made (a port in
//! use fails `up` with nothing half-made), handed to the containers that have none once
//! they exist, then loaded into the project's firewall table with its networks.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use compose_network::firewall::{self, FirewallSpec, FwNetwork, FwPort};
use compose_network::lock::HostLock;
use compose_network::ports::{self, HostPort, PortRequest, Proto};

use super::{NetError, mode, service_err};
use crate::engine::{Engine, Project};
use crate::error::{Error, Result};
use crate::store::{ContainerRow, PublishedRow};

/// One container's published ports: host side and container port.
type PortSet = Vec<(HostPort, u16)>;

/// Host ports reserved per service, one set per container to come.
#[derive(Debug, Default)]
pub(crate) struct PortBook {
    /// Held from the reservation until the firewall holds the ports, so two projects never
    /// pick one port.
    _lock: Option<HostLock>,
    sets: Mutex<HashMap<String, VecDeque<PortSet>>>,
}

fn net_err(e: impl Into<compose_network::Error>) -> Error {
    NetError::Ports(e.into().to_string()).into()
}

impl Engine {
    /// Reserves host ports for `replicas` containers of every selected service with
    /// `ports:`. With `hold`, keeps the host-wide lock in the book.
    pub(crate) fn reserve_ports(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        replicas: &BTreeMap<String, u32>,
        hold: bool,
    ) -> Result<PortBook> {
        let wanted = selected.iter().any(|s| {
            p.model
                .services
                .get(s)
                .is_some_and(|svc| !svc.ports.is_empty())
        });
        if !wanted {
            return Ok(PortBook::default());
        }
        let lock = if hold {
            Some(HostLock::acquire().map_err(net_err)?)
        } else {
            None
        };
        let mut taken = firewall::published_on_host(Some(p.name)).map_err(net_err)?;
        let mut sets: HashMap<String, VecDeque<PortSet>> = HashMap::new();
        for name in selected {
            let svc = p.service(name)?;
            if svc.ports.is_empty() {
                continue;
            }
            if !mode(p, name)?.has_endpoints() {
                return Err(service_err(
                    name,
                    "published ports need the service on a bridge network (network_mode is set)",
                ));
            }
            let reqs: Vec<PortRequest> = svc
                .ports
                .iter()
                .map(PortRequest::from_service_port)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| service_err(name, e))?;
            let n = replicas.get(name).copied().unwrap_or(1) as usize;
            let all: Vec<PortRequest> = (0..n).flat_map(|_| reqs.iter().copied()).collect();
            let picked = ports::reserve(&all, &taken).map_err(|e| service_err(name, e))?;
            taken.extend(picked.iter().map(|h| (*h, format!("(service {name})"))));
            let per: VecDeque<PortSet> = picked
                .chunks(reqs.len().max(1))
                .map(|c| {
                    c.iter()
                        .zip(&reqs)
                        .map(|(h, r)| (*h, r.container_port))
                        .collect()
                })
                .collect();
            sets.insert(name.clone(), per);
        }
        Ok(PortBook {
            _lock: lock,
            sets: Mutex::new(sets),
        })
    }

    /// Gives each container of the selected services that has no published ports yet a
    /// reserved set, then loads the project's firewall table.
    pub(crate) fn publish_ports(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        book: &PortBook,
    ) -> Result<()> {
        let published = self.store.published(p.name)?;
        let endpoints = self.store.endpoints(p.name)?;
        let mut sets = book.sets.lock().unwrap_or_else(|e| e.into_inner());
        for row in self.store.containers(p.name)? {
            if !selected.contains(&row.service) || published.iter().any(|r| r.container == row.id) {
                continue;
            }
            let Some(set) = sets.get_mut(&row.service).and_then(VecDeque::pop_front) else {
                continue;
            };
            if !endpoints.iter().any(|e| e.container == row.id) {
                continue;
            }
            self.record_published(p, &row, &set)?;
        }
        drop(sets);
        self.apply_firewall(p.name)
    }

    /// Publishes the set reserved in `book` for one container of its service (a one-off
    /// container's `run -p`), then loads the project's firewall table.
    pub(crate) fn publish_container(
        &self,
        p: &Project<'_>,
        row: &ContainerRow,
        book: &PortBook,
    ) -> Result<()> {
        let mut sets = book.sets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(set) = sets.get_mut(&row.service).and_then(VecDeque::pop_front) else {
            return Ok(());
        };
        drop(sets);
        self.record_published(p, row, &set)?;
        self.apply_firewall(p.name)
    }

    /// Records a container's published ports and its `ps` PORTS column.
    fn record_published(&self, p: &Project<'_>, row: &ContainerRow, set: &PortSet) -> Result<()> {
        let rows: Vec<PublishedRow> = set
            .iter()
            .map(|(h, target)| PublishedRow {
                container: row.id.clone(),
                project: p.name.to_string(),
                host_ip: h.ip,
                host_port: h.port,
                proto: h.proto.to_string(),
                container_port: *target,
            })
            .collect();
        self.store.put_published(&rows)?;
        let mut info = row.info.clone();
        info.ports = ports_column(&info.ports, &rows);
        self.store.set_info(&row.id, &info).map_err(Into::into)
    }

    /// Loads the project's table from what the store holds: its own networks and every
    /// published port of its containers.
    pub(crate) fn apply_firewall(&self, project: &str) -> Result<()> {
        let networks: Vec<FwNetwork> = self
            .store
            .networks(project)?
            .iter()
            .filter(|n| !n.external)
            .filter_map(|n| n.info.as_ref().map(FwNetwork::from))
            .collect();
        if networks.is_empty() {
            return Ok(());
        }
        let endpoints = self.store.endpoints(project)?;
        let ports = self
            .store
            .published(project)?
            .iter()
            .filter_map(|r| {
                let ip = endpoints
                    .iter()
                    .filter(|e| e.container == r.container)
                    .min_by(|a, b| a.ifname.cmp(&b.ifname))?
                    .address;
                Some(FwPort {
                    host: HostPort {
                        ip: r.host_ip,
                        port: r.host_port,
                        proto: if r.proto == "udp" {
                            Proto::Udp
                        } else {
                            Proto::Tcp
                        },
                    },
                    container_ip: ip,
                    container_port: r.container_port,
                })
            })
            .collect();
        firewall::apply(&FirewallSpec {
            project: project.to_string(),
            networks,
            ports,
        })
        .map_err(net_err)
    }
}

impl Engine {
    /// `port`: the host address published for `private`/`proto` of the `index`th
    /// (1-based) container of `service`, as `ip:port`; `None` when it is not published.
    pub fn published_port(
        &self,
        project: &str,
        service: &str,
        index: u32,
        private: u16,
        proto: &str,
    ) -> Result<Option<String>> {
        let rows = self.store.containers(project)?;
        let row = rows
            .iter()
            .find(|r| r.service == service && r.number == index && !r.oneoff)
            .ok_or_else(|| {
                Error::Other(format!(
                    "service \"{service}\" has no container number {index}"
                ))
            })?;
        Ok(self
            .store
            .published(project)?
            .into_iter()
            .find(|r| r.container == row.id && r.container_port == private && r.proto == proto)
            .map(|r| {
                let ip = r.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                format!("{ip}:{}", r.host_port)
            }))
    }
}

/// `ps`'s PORTS entries: `0.0.0.0:8080->80/tcp` for published ports (as Docker Compose v2
/// prints them), the bare `80/tcp` for exposed ones left.
fn ports_column(exposed: &[String], rows: &[PublishedRow]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let ip = r.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
            format!("{ip}:{}->{}/{}", r.host_port, r.container_port, r.proto)
        })
        .collect();
    for e in exposed {
        let covered = rows
            .iter()
            .any(|r| *e == format!("{}/{}", r.container_port, r.proto));
        if !covered && !e.contains("->") {
            out.push(e.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_column_reads_like_docker_compose() {
        let rows = vec![PublishedRow {
            container: "c".into(),
            project: "p".into(),
            host_ip: Some(std::net::Ipv4Addr::LOCALHOST),
            host_port: 8080,
            proto: "tcp".into(),
            container_port: 80,
        }];
        let col = ports_column(&["443/tcp".into(), "80/tcp".into()], &rows);
        assert_eq!(col, vec!["127.0.0.1:8080->80/tcp", "443/tcp"]);
    }
}

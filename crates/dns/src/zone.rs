//! The records the server answers from, and who may see which of them.
//!
//! Pure data: no sockets, no tokio. The server keeps one `Zone` behind a lock; every
//! change rebuilds the small lookup index at once, so the very next query sees it.
//!
//! Views: the querying address picks what it sees.
//! - A container address sees the names of every network that address is on, plus its own
//!   `links` aliases.
//! - One of the server's own listening addresses (a gateway, i.e. the host itself) sees the
//!   names of every network: the project's owner debugging with `dig @gateway` is trusted.
//! - Any other address sees no project name; it is still forwarded for outside names.
//!
//! A forged UDP source gains nothing: the answer goes to the address claimed, and TCP
//! needs a handshake from it.

use std::collections::BTreeMap;

// Fast hashing: every key comes from the project's own records (names we validated,
// our addresses); queried names only look up, they never insert.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::names::{canonical, is_servable_name, reverse_address};

/// One container's endpoint on one network: everything DNS knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Stable key of the container (its id). One record is kept per (id, network).
    pub id: String,
    /// The network this endpoint is on.
    pub network: String,
    /// The endpoint's IPv4 address (A records, and the source address of its queries).
    pub ipv4: Ipv4Addr,
    /// The endpoint's IPv6 address, if the network has IPv6 (AAAA records).
    pub ipv6: Option<Ipv6Addr>,
    /// Names on this network. The first is the container name, answered for PTR queries;
    /// then the service name, hostname, `networks.<net>.aliases`, short id... Replicas
    /// share the service name, so it answers with all of them.
    pub names: Vec<String>,
    /// The container's `links` aliases: names only this container resolves, each to the
    /// addresses its target name has on this container's networks.
    pub links: Vec<Link>,
}

/// A `links: [target:alias]` entry of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The name the linking container uses.
    pub alias: String,
    /// The name (service or container) it stands for.
    pub target: String,
}

/// Per-network DNS behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// `internal: true`: no way out, so outside names answer NXDOMAIN instead of being
    /// forwarded (a client on at least one non-internal network is still forwarded).
    pub internal: bool,
}

/// What kind of answer a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// A reverse lookup.
    Ptr,
    /// Any other type: a known name answers with no records.
    Other,
}

/// How a query is to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A name the client may see: its addresses of the asked family, shuffled; empty when
    /// the name has none of that family (NOERROR, no data).
    Addresses(Vec<IpAddr>),
    /// A reverse name of a container the client may see: its name (fully qualified, no
    /// root dot).
    Pointer(String),
    /// A name that is ours but hidden, local by its form, or outside names for a client
    /// that has no way out: NXDOMAIN, nothing is forwarded.
    NxDomain,
    /// Not ours: ask the upstream servers.
    Forward,
}

/// All the records of one server, and the index queries are answered from.
#[derive(Debug, Default)]
pub struct Zone {
    search_domains: Vec<String>,
    host_addresses: HashSet<IpAddr>,
    networks: HashMap<String, NetworkSettings>,
    /// container id -> network -> endpoint.
    endpoints: BTreeMap<String, BTreeMap<String, ContainerRecord>>,
    index: Index,
}

#[derive(Debug, Default)]
struct Index {
    /// network -> name -> endpoint addresses.
    names: HashMap<String, HashMap<String, Vec<Endpoint>>>,
    /// Every name on any network, to tell a hidden name from an outside one.
    all_names: HashSet<String>,
    /// Source address -> the ids of the containers with that address.
    sources: HashMap<IpAddr, Vec<String>>,
    /// Container address -> (network, container name) for PTR.
    reverse: HashMap<IpAddr, Vec<(String, String)>>,
}

#[derive(Debug, Clone, Copy)]
struct Endpoint {
    ipv4: Ipv4Addr,
    ipv6: Option<Ipv6Addr>,
}

/// Who is asking, as far as names go.
enum Viewer<'z> {
    /// The host (one of our listening addresses): every network.
    Host,
    /// A container: the networks of its endpoints with that address, and its links.
    Container(Vec<&'z ContainerRecord>),
    /// Anyone else: no project name.
    Stranger,
}

impl Zone {
    /// An empty zone whose names also answer with each of `search_domains` appended
    /// (`web` and `web.<domain>`).
    pub fn new(search_domains: &[String]) -> Result<Self> {
        let mut domains = Vec::with_capacity(search_domains.len());
        for domain in search_domains {
            if !is_servable_name(domain) {
                return Err(Error::InvalidSearchDomain(domain.clone()));
            }
            domains.push(canonical(domain));
        }
        Ok(Self {
            search_domains: domains,
            ..Self::default()
        })
    }

    /// Marks `ip` as the host's own (a listening gateway address): it sees every network.
    pub fn add_host_address(&mut self, ip: IpAddr) {
        self.host_addresses.insert(ip);
    }

    /// Forgets a host address (its network was removed).
    pub fn remove_host_address(&mut self, ip: IpAddr) {
        self.host_addresses.remove(&ip);
    }

    /// Creates a network or changes its settings.
    pub fn set_network(&mut self, network: &str, settings: NetworkSettings) {
        self.networks.insert(network.to_owned(), settings);
        self.reindex();
    }

    /// Removes a network and every endpoint on it.
    pub fn remove_network(&mut self, network: &str) {
        self.networks.remove(network);
        for by_network in self.endpoints.values_mut() {
            by_network.remove(network);
        }
        self.endpoints
            .retain(|_, by_network| !by_network.is_empty());
        self.reindex();
    }

    /// Adds or replaces the endpoint of `record.id` on `record.network`. Nothing changes
    /// when the network is unknown or a name is not a valid DNS name.
    pub fn update_container(&mut self, record: ContainerRecord) -> Result<()> {
        self.update_containers(std::iter::once(record))
    }

    /// Adds or replaces many endpoints at once (re-adopting a running project), all or
    /// nothing: one bad record changes nothing. One index rebuild for the lot.
    pub fn update_containers(
        &mut self,
        records: impl IntoIterator<Item = ContainerRecord>,
    ) -> Result<()> {
        let records = records
            .into_iter()
            .map(|r| self.checked(r))
            .collect::<Result<Vec<_>>>()?;
        for record in records {
            self.endpoints
                .entry(record.id.clone())
                .or_default()
                .insert(record.network.clone(), record);
        }
        self.reindex();
        Ok(())
    }

    /// `record` with its names in canonical form, if its network is known and every
    /// name is a valid DNS name.
    fn checked(&self, mut record: ContainerRecord) -> Result<ContainerRecord> {
        if !self.networks.contains_key(&record.network) {
            return Err(Error::UnknownNetwork {
                container: record.id,
                network: record.network,
            });
        }
        let bad = record
            .names
            .iter()
            .chain(record.links.iter().flat_map(|l| [&l.alias, &l.target]))
            .find(|n| !is_servable_name(n));
        if let Some(name) = bad {
            return Err(Error::InvalidName {
                container: record.id.clone(),
                name: name.clone(),
            });
        }
        record.names.iter_mut().for_each(|n| *n = canonical(n));
        for link in &mut record.links {
            link.alias = canonical(&link.alias);
            link.target = canonical(&link.target);
        }
        Ok(record)
    }

    /// Removes every endpoint of container `id`; returns whether it had any.
    pub fn remove_container(&mut self, id: &str) -> bool {
        let removed = self.endpoints.remove(id).is_some();
        self.reindex();
        removed
    }

    /// Removes the endpoint of container `id` on `network` (disconnect); returns whether
    /// there was one.
    pub fn remove_endpoint(&mut self, id: &str, network: &str) -> bool {
        let Some(by_network) = self.endpoints.get_mut(id) else {
            return false;
        };
        let removed = by_network.remove(network).is_some();
        if by_network.is_empty() {
            self.endpoints.remove(id);
        }
        self.reindex();
        removed
    }

    /// The settings of `network`, if it is known.
    pub fn network(&self, network: &str) -> Option<NetworkSettings> {
        self.networks.get(network).copied()
    }

    /// Decides how to answer `qname` (any case, with or without the root dot) of `kind`
    /// asked from `source`. Address lists come shuffled, so replicas share the load.
    pub fn resolve(&self, source: IpAddr, qname: &str, kind: QueryKind) -> Resolution {
        let name = canonical(qname);
        let viewer = self.viewer(source);
        let networks = self.visible_networks(&viewer);
        if kind == QueryKind::Ptr
            && let Some(found) = self.resolve_reverse(&name, &networks)
        {
            return found;
        }
        let local = self.strip_search_domain(&name);
        for candidate in std::iter::once(name.as_str()).chain(local) {
            let target = linked_target(&viewer, candidate).unwrap_or(candidate);
            if let Some(endpoints) = self.lookup(&networks, target) {
                return Resolution::Addresses(addresses(&endpoints, kind));
            }
        }
        self.not_found(&viewer, &name, local)
    }

    fn viewer(&self, source: IpAddr) -> Viewer<'_> {
        if self.host_addresses.contains(&source) {
            return Viewer::Host;
        }
        match self.index.sources.get(&source) {
            // Every endpoint of the container(s) with that address: a container on two
            // networks sees both, whichever gateway it asks.
            Some(ids) => Viewer::Container(
                ids.iter()
                    .filter_map(|id| self.endpoints.get(id))
                    .flat_map(BTreeMap::values)
                    .collect(),
            ),
            None => Viewer::Stranger,
        }
    }

    fn visible_networks<'v>(&'v self, viewer: &Viewer<'v>) -> Vec<&'v str> {
        match viewer {
            Viewer::Host => self.networks.keys().map(String::as_str).collect(),
            Viewer::Container(records) => records.iter().map(|r| r.network.as_str()).collect(),
            Viewer::Stranger => Vec::new(),
        }
    }

    /// `Some` when `name` is the reverse name of one of our containers.
    fn resolve_reverse(&self, name: &str, networks: &[&str]) -> Option<Resolution> {
        let ip = reverse_address(name)?;
        let owners = self.index.reverse.get(&ip)?;
        let visible = owners
            .iter()
            .find(|(net, _)| networks.contains(&net.as_str()));
        Some(match visible {
            Some((_, container)) => Resolution::Pointer(self.qualify(container)),
            None => Resolution::NxDomain,
        })
    }

    /// `web.<search domain>` -> `web`.
    fn strip_search_domain<'n>(&self, name: &'n str) -> Option<&'n str> {
        self.search_domains.iter().find_map(|domain| {
            name.strip_suffix(domain.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|rest| !rest.is_empty())
        })
    }

    fn lookup(&self, networks: &[&str], name: &str) -> Option<Vec<Endpoint>> {
        let mut found: Option<Vec<Endpoint>> = None;
        for network in networks {
            if let Some(eps) = self.index.names.get(*network).and_then(|n| n.get(name)) {
                found.get_or_insert_with(Vec::new).extend_from_slice(eps);
            }
        }
        found
    }

    fn not_found(&self, viewer: &Viewer<'_>, name: &str, local: Option<&str>) -> Resolution {
        // Our own names (hidden from this client), names under our search domain and
        // single-label names are local by nature: never leak them upstream.
        let ours = self.index.all_names.contains(name) || local.is_some() || !name.contains('.');
        if ours || self.no_way_out(viewer) {
            Resolution::NxDomain
        } else {
            Resolution::Forward
        }
    }

    /// A container whose every network is `internal` cannot reach the outside.
    fn no_way_out(&self, viewer: &Viewer<'_>) -> bool {
        match viewer {
            Viewer::Container(records) => records
                .iter()
                .all(|r| self.networks.get(&r.network).is_some_and(|s| s.internal)),
            Viewer::Host | Viewer::Stranger => false,
        }
    }

    /// The container name as answered in PTR records: with the first search domain.
    fn qualify(&self, name: &str) -> String {
        match self.search_domains.first() {
            Some(domain) => format!("{name}.{domain}"),
            None => name.to_owned(),
        }
    }

    fn reindex(&mut self) {
        let mut index = Index::default();
        for record in self.endpoints.values().flat_map(BTreeMap::values) {
            let endpoint = Endpoint {
                ipv4: record.ipv4,
                ipv6: record.ipv6,
            };
            let names = index.names.entry(record.network.clone()).or_default();
            let mut seen = HashSet::default();
            for name in &record.names {
                if seen.insert(name) {
                    names.entry(name.clone()).or_default().push(endpoint);
                    index.all_names.insert(name.clone());
                }
            }
            let ips = std::iter::once(IpAddr::V4(record.ipv4)).chain(record.ipv6.map(IpAddr::V6));
            for ip in ips {
                index.sources.entry(ip).or_default().push(record.id.clone());
                if let Some(first) = record.names.first() {
                    index
                        .reverse
                        .entry(ip)
                        .or_default()
                        .push((record.network.clone(), first.clone()));
                }
            }
        }
        self.index = index;
    }
}

/// The target of the viewer's `links` alias `name`, if it has one.
fn linked_target<'v>(viewer: &Viewer<'v>, name: &str) -> Option<&'v str> {
    let Viewer::Container(records) = viewer else {
        return None;
    };
    records
        .iter()
        .flat_map(|r| r.links.iter())
        .find(|link| link.alias == name)
        .map(|link| link.target.as_str())
}

fn addresses(endpoints: &[Endpoint], kind: QueryKind) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = match kind {
        QueryKind::A => endpoints.iter().map(|e| IpAddr::V4(e.ipv4)).collect(),
        QueryKind::Aaaa => endpoints
            .iter()
            .filter_map(|e| e.ipv6.map(IpAddr::V6))
            .collect(),
        QueryKind::Ptr | QueryKind::Other => Vec::new(),
    };
    out.sort_unstable();
    out.dedup();
    fastrand::shuffle(&mut out);
    out
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;

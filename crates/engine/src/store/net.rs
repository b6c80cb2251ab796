//! The network side of the state: networks (intent first, then what was made), IP
//! allocations, container endpoints and published ports.

use std::net::Ipv4Addr;

use compose_network::bridge::NetworkInfo;
use compose_network::cidr::Ipv4Cidr;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, now};

/// A network row: recorded before the bridge is made (`info` is `None` until it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRow {
    /// The full name (`<project>_<key>`, or the `name:` / external name).
    pub name: String,
    pub project: String,
    /// The key in the project's `networks:`.
    pub key: String,
    /// The bridge's kernel name.
    pub bridge: String,
    pub external: bool,
    pub info: Option<NetworkInfo>,
}

/// A container's endpoint on one network, as DNS and teardown need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub container: String,
    pub project: String,
    pub network: String,
    pub ifname: String,
    pub address: Ipv4Addr,
    pub mac: String,
    /// DNS names on this network: container name first, then service, hostname, aliases.
    pub names: Vec<String>,
    /// `links` as (alias, target).
    pub links: Vec<(String, String)>,
}

/// A published port of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRow {
    pub container: String,
    pub project: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    pub container_port: u16,
}

fn bad(id: &str, reason: String) -> StoreError {
    StoreError::BadRecord {
        id: id.to_string(),
        reason,
    }
}

impl Store {
    /// Records the intent to have a network (an existing row is kept as is).
    pub fn record_network(&self, n: &NetworkRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO networks (name, project, key, bridge, subnet, external, created_at)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
                params![n.name, n.project, n.key, n.bridge, n.external, now()],
            )
            .map_err(self.err("record network"))?;
        Ok(())
    }

    /// Records what the network is once made.
    pub fn set_network_info(&self, name: &str, info: &NetworkInfo) -> Result<()> {
        let json = serde_json::to_string(info).unwrap_or_default();
        self.conn()
            .execute(
                "UPDATE networks SET info = ?2, subnet = ?3 WHERE name = ?1",
                params![name, json, info.addressing.subnet.to_string()],
            )
            .map_err(self.err("update network"))?;
        Ok(())
    }

    fn network_rows(&self, sql: &str, arg: &str) -> Result<Vec<NetworkRow>> {
        let conn = self.conn();
        let mut st = conn.prepare(sql).map_err(self.err("read networks"))?;
        let rows = st
            .query_map([arg], |r| {
                Ok((
                    NetworkRow {
                        name: r.get(0)?,
                        project: r.get(1)?,
                        key: r.get(2)?,
                        bridge: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                        external: r.get(4)?,
                        info: None,
                    },
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(self.err("read networks"))?;
        let mut out = Vec::new();
        for r in rows {
            let (mut row, info) = r.map_err(self.err("read networks"))?;
            if let Some(json) = info {
                row.info = Some(
                    serde_json::from_str(&json)
                        .map_err(|e| bad(&row.name, format!("network info: {e}")))?,
                );
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The networks a project recorded (its own and the external ones it uses).
    pub fn networks(&self, project: &str) -> Result<Vec<NetworkRow>> {
        self.network_rows(
            "SELECT name, project, key, bridge, external, info FROM networks
             WHERE project = ?1 ORDER BY name",
            project,
        )
    }

    /// The network of that full name, in any project.
    pub fn network(&self, name: &str) -> Result<Option<NetworkRow>> {
        Ok(self
            .network_rows(
                "SELECT name, project, key, bridge, external, info FROM networks WHERE name = ?1",
                name,
            )?
            .pop())
    }

    /// The subnets of every recorded network but `except`.
    pub fn subnets_except(&self, except: &str) -> Result<Vec<Ipv4Cidr>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT subnet FROM networks WHERE name != ?1 AND subnet IS NOT NULL")
            .map_err(self.err("read networks"))?;
        let rows = st
            .query_map([except], |r| r.get::<_, String>(0))
            .map_err(self.err("read networks"))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(c) = r.map_err(self.err("read networks"))?.parse() {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Forgets a network (and, by cascade, its allocations).
    pub fn remove_network(&self, name: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM networks WHERE name = ?1", [name])
            .map_err(self.err("remove network"))?;
        Ok(())
    }

    /// The address of `container` on `network`: the one it already holds (a restart keeps
    /// it), else `pick(used addresses)`, recorded in one transaction.
    pub fn allocate_ip<E>(
        &self,
        network: &str,
        container: &str,
        pick: impl FnOnce(&[Ipv4Addr]) -> std::result::Result<Ipv4Addr, E>,
    ) -> Result<std::result::Result<Ipv4Addr, E>> {
        let mut conn = self.conn();
        let e = |op| {
            let path = self.path.clone();
            move |source| StoreError::Db { path, op, source }
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("allocate address"))?;
        let held: Option<String> = tx
            .query_row(
                "SELECT address FROM ip_allocations WHERE network = ?1 AND container = ?2",
                params![network, container],
                |r| r.get(0),
            )
            .optional()
            .map_err(e("allocate address"))?;
        if let Some(ip) = held.and_then(|a| a.parse().ok()) {
            return Ok(Ok(ip));
        }
        let used: Vec<Ipv4Addr> = {
            let mut st = tx
                .prepare("SELECT address FROM ip_allocations WHERE network = ?1")
                .map_err(e("allocate address"))?;
            let rows = st
                .query_map([network], |r| r.get::<_, String>(0))
                .map_err(e("allocate address"))?;
            rows.filter_map(|r| r.ok()?.parse().ok()).collect()
        };
        let ip = match pick(&used) {
            Ok(ip) => ip,
            Err(err) => return Ok(Err(err)),
        };
        tx.execute(
            "INSERT INTO ip_allocations (network, address, container) VALUES (?1, ?2, ?3)",
            params![network, ip.to_string(), container],
        )
        .map_err(e("allocate address"))?;
        tx.commit().map_err(e("allocate address"))?;
        Ok(Ok(ip))
    }

    /// Every address a container holds, with its network.
    pub fn addresses_of(&self, container: &str) -> Result<Vec<(String, Ipv4Addr)>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT network, address FROM ip_allocations WHERE container = ?1")
            .map_err(self.err("read addresses"))?;
        let rows = st
            .query_map([container], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.err("read addresses"))?;
        let mut out = Vec::new();
        for r in rows {
            let (n, a) = r.map_err(self.err("read addresses"))?;
            if let Ok(ip) = a.parse() {
                out.push((n, ip));
            }
        }
        Ok(out)
    }

    /// How many addresses are handed out on a network.
    pub fn allocation_count(&self, network: &str) -> Result<u64> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM ip_allocations WHERE network = ?1",
                [network],
                |r| r.get(0),
            )
            .map_err(self.err("read addresses"))
    }

    /// Gives back a container's addresses, endpoints and published ports.
    pub fn release_network_state(&self, container: &str) -> Result<()> {
        let conn = self.conn();
        for sql in [
            "DELETE FROM ip_allocations WHERE container = ?1",
            "DELETE FROM endpoints WHERE container = ?1",
            "DELETE FROM published_ports WHERE container = ?1",
        ] {
            conn.execute(sql, [container])
                .map_err(self.err("release addresses"))?;
        }
        Ok(())
    }

    pub fn put_endpoint(&self, ep: &EndpointRow) -> Result<()> {
        let names = serde_json::to_string(&ep.names).unwrap_or_default();
        let links = serde_json::to_string(&ep.links).unwrap_or_default();
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO endpoints
                 (container, project, network, ifname, address, mac, names, links)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    ep.container,
                    ep.project,
                    ep.network,
                    ep.ifname,
                    ep.address.to_string(),
                    ep.mac,
                    names,
                    links
                ],
            )
            .map_err(self.err("record endpoint"))?;
        Ok(())
    }

    /// The project's endpoints.
    pub fn endpoints(&self, project: &str) -> Result<Vec<EndpointRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT container, project, network, ifname, address, mac, names, links
                 FROM endpoints WHERE project = ?1 ORDER BY container, ifname",
            )
            .map_err(self.err("read endpoints"))?;
        let rows = st
            .query_map([project], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(self.err("read endpoints"))?;
        let mut out = Vec::new();
        for r in rows {
            let (container, project, network, ifname, address, mac, names, links) =
                r.map_err(self.err("read endpoints"))?;
            let broken = |what: &str| bad(&container, format!("endpoint {what}"));
            out.push(EndpointRow {
                address: address.parse().map_err(|_| broken("address"))?,
                names: serde_json::from_str(&names).map_err(|_| broken("names"))?,
                links: serde_json::from_str(&links).map_err(|_| broken("links"))?,
                container,
                project,
                network,
                ifname,
                mac,
            });
        }
        Ok(out)
    }

    pub fn put_published(&self, rows: &[PublishedRow]) -> Result<()> {
        let conn = self.conn();
        for p in rows {
            conn.execute(
                "INSERT INTO published_ports
                 (container, project, host_ip, host_port, proto, container_port)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    p.container,
                    p.project,
                    p.host_ip.map(|i| i.to_string()),
                    p.host_port,
                    p.proto,
                    p.container_port
                ],
            )
            .map_err(self.err("record published port"))?;
        }
        Ok(())
    }

    /// The project's published ports, by container.
    pub fn published(&self, project: &str) -> Result<Vec<PublishedRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT container, project, host_ip, host_port, proto, container_port
                 FROM published_ports WHERE project = ?1 ORDER BY container, container_port",
            )
            .map_err(self.err("read published ports"))?;
        let rows = st
            .query_map([project], |r| {
                Ok(PublishedRow {
                    container: r.get(0)?,
                    project: r.get(1)?,
                    host_ip: r.get::<_, Option<String>>(2)?.and_then(|s| s.parse().ok()),
                    host_port: r.get(3)?,
                    proto: r.get(4)?,
                    container_port: r.get(5)?,
                })
            })
            .map_err(self.err("read published ports"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("read published ports"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose_network::ipam::{Addressing, IpamError, allocate_address};

    fn info(name: &str, subnet: &str) -> NetworkInfo {
        let subnet: Ipv4Cidr = subnet.parse().unwrap();
        NetworkInfo {
            full_name: name.into(),
            bridge: "cbr-x".into(),
            addressing: Addressing {
                subnet,
                range: subnet,
                gateway: subnet.nth(1).unwrap(),
            },
            mtu: None,
            internal: false,
        }
    }

    fn row(name: &str) -> NetworkRow {
        NetworkRow {
            name: name.into(),
            project: "p".into(),
            key: "default".into(),
            bridge: "cbr-x".into(),
            external: false,
            info: None,
        }
    }

    #[test]
    fn networks_record_intent_then_info_and_addresses_are_kept_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.record_network(&row("p_default")).unwrap();
        assert_eq!(store.networks("p").unwrap()[0].info, None, "intent only");
        let made = info("p_default", "10.9.0.0/24");
        store.set_network_info("p_default", &made).unwrap();
        store.record_network(&row("q_default")).unwrap();
        store
            .set_network_info("q_default", &info("q_default", "10.8.0.0/24"))
            .unwrap();
        assert_eq!(
            store.subnets_except("p_default").unwrap(),
            vec!["10.8.0.0/24".parse::<Ipv4Cidr>().unwrap()]
        );
        let a = &made.addressing;
        let pick = |used: &[Ipv4Addr]| allocate_address(a, used, None);
        let first = store.allocate_ip("p_default", "c1", pick).unwrap().unwrap();
        let second = store.allocate_ip("p_default", "c2", pick).unwrap().unwrap();
        assert_eq!(first.to_string(), "10.9.0.2");
        assert_eq!(second.to_string(), "10.9.0.3");
        // The same container made again keeps its address.
        let again = store.allocate_ip("p_default", "c1", pick).unwrap().unwrap();
        assert_eq!(again, first);
        // A refused pick records nothing.
        let taken = store
            .allocate_ip("p_default", "c3", |u| {
                allocate_address(a, u, Some("10.9.0.3".parse().unwrap()))
            })
            .unwrap();
        assert_eq!(taken, Err(IpamError::AddressInUse(second)));
        assert_eq!(store.allocation_count("p_default").unwrap(), 2);
        store.release_network_state("c1").unwrap();
        assert!(store.addresses_of("c1").unwrap().is_empty());
        let reused = store.allocate_ip("p_default", "c4", pick).unwrap().unwrap();
        assert_eq!(reused, first, "a released address is handed out again");
        store.remove_network("p_default").unwrap();
        assert_eq!(store.allocation_count("p_default").unwrap(), 0, "cascade");
    }
}

//! Making a project's networks on `up` and removing them on `down`.

use std::collections::BTreeSet;

use compose_network::bridge::{self, NetworkInfo, NetworkSpec};
use compose_network::names::bridge_name;
use compose_network::teardown::{TeardownPlan, teardown};

use super::{NetError, full_name, mode, service_networks};
use crate::engine::{Engine, Kind, Progress, Project, emit};
use crate::error::{Errors, Result};
use crate::store::NetworkRow;

impl Engine {
    /// The network keys the selected services join (bridge mode only).
    pub(crate) fn used_networks(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>> {
        let mut keys = BTreeSet::new();
        for name in selected {
            if mode(p, name)?.has_endpoints() {
                for (key, _) in service_networks(p, name)? {
                    keys.insert(key.to_string());
                }
            }
        }
        Ok(keys)
    }

    /// Makes (or checks, for `external: true`) every network the selected services use;
    /// each is recorded before its bridge is made, so `down` after a crash removes it.
    pub(crate) fn ensure_networks(
        &self,
        p: &Project<'_>,
        selected: &BTreeSet<String>,
        progress: &dyn Progress,
    ) -> Result<Vec<NetworkInfo>> {
        let mut out = Vec::new();
        for key in self.used_networks(p, selected)? {
            let model = p.model.networks.get(&key).cloned().unwrap_or_default();
            let name = full_name(p, &key);
            let net_err = |source| NetError::Network {
                network: name.clone(),
                source,
            };
            if model.external.external {
                let info = bridge::check_external(&name).map_err(net_err)?;
                self.store.record_network(&NetworkRow {
                    name: name.clone(),
                    project: p.name.to_string(),
                    key: key.clone(),
                    bridge: info.bridge.clone(),
                    external: true,
                    info: None,
                })?;
                self.store.set_network_info(&name, &info)?;
                out.push(info);
                continue;
            }
            if let Some(row) = self.store.network(&name)?
                && let Some(info) = row.info
                && bridge::bridge_exists(&info.bridge).unwrap_or(false)
            {
                out.push(info);
                continue;
            }
            emit(progress, Kind::Network, &name, "Creating");
            let spec = NetworkSpec::from_model(&name, &model).map_err(net_err)?;
            self.store.record_network(&NetworkRow {
                name: name.clone(),
                project: p.name.to_string(),
                key: key.clone(),
                bridge: bridge_name(&name),
                external: false,
                info: None,
            })?;
            let taken = self.store.subnets_except(&name)?;
            let info = bridge::create_network(&spec, &taken).map_err(net_err)?;
            self.store.set_network_info(&name, &info)?;
            emit(progress, Kind::Network, &name, "Created");
            out.push(info);
        }
        Ok(out)
    }

    /// `down`'s network side: every endpoint still recorded, the firewall table, the
    /// project's own bridges (never external ones), then their records. Goes on after a
    /// failure; what failed stays recorded so a second `down` finishes the job.
    pub(crate) fn teardown_networks(
        &self,
        p: &Project<'_>,
        released: &[super::Released],
        errors: &mut Errors,
        progress: &dyn Progress,
    ) -> Result<()> {
        let nets = self.store.networks(p.name)?;
        let endpoints = self.store.endpoints(p.name)?;
        let has_firewall = !nets.is_empty() || !endpoints.is_empty() || !released.is_empty();
        if !has_firewall {
            return Ok(());
        }
        let own: Vec<&NetworkRow> = nets.iter().filter(|n| !n.external).collect();
        for n in &own {
            emit(progress, Kind::Network, &n.name, "Removing");
        }
        let plan = TeardownPlan {
            project: p.name.to_string(),
            endpoints: endpoints
                .iter()
                .map(|e| (e.container.clone(), e.network.clone()))
                .chain(
                    released
                        .iter()
                        .map(|r| (r.container.clone(), r.network.clone())),
                )
                .collect(),
            addresses: endpoints
                .iter()
                .map(|e| e.address)
                .chain(released.iter().map(|r| r.address))
                .collect(),
            bridges: own.iter().map(|n| n.bridge.clone()).collect(),
        };
        match teardown(&plan) {
            Ok(()) => {
                for e in &endpoints {
                    errors.note(self.store.release_network_state(&e.container));
                }
                for n in &nets {
                    if n.external && self.store.allocation_count(&n.name)? > 0 {
                        continue;
                    }
                    if errors.note(self.store.remove_network(&n.name)).is_some() && !n.external {
                        emit(progress, Kind::Network, &n.name, "Removed");
                    }
                }
            }
            Err(e) => errors.0.push(crate::error::Error::Other(format!(
                "project {}: {e}",
                p.name
            ))),
        }
        Ok(())
    }
}

//! The live, shared handle on a server's records.

use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use crate::error::Result;
use crate::zone::{ContainerRecord, NetworkSettings, Zone};

/// A cheap, cloneable handle on the records a [`crate::Server`] answers from. Every change
/// is visible to the very next query.
#[derive(Debug, Clone)]
pub struct Records(Arc<RwLock<Zone>>);

impl Records {
    pub(crate) fn new(zone: Arc<RwLock<Zone>>) -> Self {
        Self(zone)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Zone> {
        // Zone updates either finish or change nothing (the index is rebuilt last), so
        // a panic in another writer leaves a usable zone.
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a network or changes its settings; do it before recording containers on it.
    pub fn set_network(&self, network: &str, settings: NetworkSettings) {
        self.write().set_network(network, settings);
    }

    /// Removes a network and every container endpoint on it.
    pub fn remove_network(&self, network: &str) {
        self.write().remove_network(network);
    }

    /// Adds or replaces the endpoint of `record.id` on `record.network` (container started,
    /// renamed, reconnected). Fails, changing nothing, on an unknown network or bad name.
    pub fn update_container(&self, record: ContainerRecord) -> Result<()> {
        self.write().update_container(record)
    }

    /// Adds or replaces many endpoints at once (re-adopting a running project after a
    /// restart), all or nothing.
    pub fn update_containers(
        &self,
        records: impl IntoIterator<Item = ContainerRecord>,
    ) -> Result<()> {
        self.write().update_containers(records)
    }

    /// Removes container `id` from every network (stopped or removed); returns whether it
    /// was there.
    pub fn remove_container(&self, id: &str) -> bool {
        self.write().remove_container(id)
    }

    /// Removes container `id` from `network` only (disconnect); returns whether it was there.
    pub fn remove_endpoint(&self, id: &str, network: &str) -> bool {
        self.write().remove_endpoint(id, network)
    }

    pub(crate) fn add_host_address(&self, ip: IpAddr) {
        self.write().add_host_address(ip);
    }

    pub(crate) fn remove_host_address(&self, ip: IpAddr) {
        self.write().remove_host_address(ip);
    }
}

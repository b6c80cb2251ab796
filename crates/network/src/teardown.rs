//! `down` for a project's network side: every endpoint, the firewall, the bridges. Keeps
//! going after each failure and reports them all; missing objects are not failures, so a
//! second run after a partial one finishes the job.

use crate::endpoint;
use crate::error::{Error, TeardownErrors};
use crate::firewall;
use crate::netlink::Netlink;

/// What the engine recorded for the project.
#[derive(Debug, Clone, Default)]
pub struct TeardownPlan {
    pub project: String,
    /// (container id, network full name) of every endpoint.
    pub endpoints: Vec<(String, String)>,
    /// The containers' addresses: their tracked flows are forgotten.
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// Kernel names of the bridges the project created (never external ones).
    pub bridges: Vec<String>,
}

/// Removes the endpoints (and the flows conntrack tracks for their addresses), the project's nftables table and iptables accepts, then the
/// bridges. `Ok(())` only when everything is gone.
pub fn teardown(plan: &TeardownPlan) -> Result<(), TeardownErrors> {
    let mut errors: Vec<Error> = Vec::new();
    for (container, network) in &plan.endpoints {
        if let Err(e) = endpoint::detach(container, network) {
            errors.push(e);
        }
    }
    if let Err(e) = crate::conntrack::forget_flows(&plan.addresses) {
        errors.push(e.into());
    }
    if let Err(e) = firewall::remove(&plan.project) {
        errors.push(e.into());
    }
    if let Err(errs) = firewall::forward_revoke(&plan.project) {
        errors.extend(errs.into_iter().map(Error::from));
    }
    match Netlink::open() {
        Ok(mut nl) => {
            for bridge in &plan.bridges {
                if let Err(e) = nl.delete_link(bridge) {
                    errors.push(e.into());
                }
            }
        }
        Err(e) => errors.push(e.into()),
    }
    TeardownErrors(errors).into_result()
}

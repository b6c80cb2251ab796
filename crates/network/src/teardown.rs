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

/// Removes the endpoints (and the flows conntrack tracks for their addresses), the project's
/// nftables table and iptables accepts, and the bridges. `Ok(())` only when everything is
/// gone. The three parts touch disjoint objects, and each mostly waits (for `nft` and
/// `iptables` to run, for the kernel's grace periods on a link's removal), so they go side
/// by side.
pub fn teardown(plan: &TeardownPlan) -> Result<(), TeardownErrors> {
    let (links, table, accepts) = std::thread::scope(|s| {
        let table = s.spawn(|| firewall::remove(&plan.project));
        let accepts = s.spawn(|| firewall::forward_revoke(&plan.project));
        let links = remove_links(plan);
        (links, table.join(), accepts.join())
    });
    let mut errors = links;
    match table {
        Ok(Ok(())) => {}
        Ok(Err(e)) => errors.push(e.into()),
        Err(_) => errors.push(panicked("removing the firewall table")),
    }
    match accepts {
        Ok(Ok(())) => {}
        Ok(Err(errs)) => errors.extend(errs.into_iter().map(Error::from)),
        Err(_) => errors.push(panicked("revoking the forward accepts")),
    }
    TeardownErrors(errors).into_result()
}

/// The endpoints, their flows, then the bridges: every failure.
fn remove_links(plan: &TeardownPlan) -> Vec<Error> {
    let mut errors: Vec<Error> = Vec::new();
    for (container, network) in &plan.endpoints {
        if let Err(e) = endpoint::detach(container, network) {
            errors.push(e);
        }
    }
    if let Err(e) = crate::conntrack::forget_flows(&plan.addresses) {
        errors.push(e.into());
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
    errors
}

fn panicked(what: &'static str) -> Error {
    Error::Panicked(what)
}

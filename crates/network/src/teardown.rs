//! `down` for a project's network side: every endpoint, the firewall, the bridges. Keeps
//! going after each failure and reports them all; missing objects are not failures, so a
//! second run after a partial one finishes the job.

use std::collections::HashSet;

use crate::bridge::link_group;
use crate::endpoint;
use crate::error::{Error, TeardownErrors};
use crate::firewall;
use crate::names::veth_name;
use crate::netlink::{LinkSummary, Netlink};

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
/// gone. The four parts touch disjoint objects, and each mostly waits (for `nft` and
/// `iptables` to run, for the kernel's grace periods on a link's removal, for conntrack's
/// walk of its table), so they go side by side. The flows are of containers that are gone:
/// nothing makes them again while the links go.
pub fn teardown(plan: &TeardownPlan) -> Result<(), TeardownErrors> {
    let (links, table, accepts, flows) = std::thread::scope(|s| {
        let table = s.spawn(|| firewall::remove(&plan.project));
        let accepts = s.spawn(|| firewall::forward_revoke(&plan.project));
        let flows = s.spawn(|| crate::conntrack::forget_flows(&plan.addresses));
        let links = remove_links(plan);
        (links, table.join(), accepts.join(), flows.join())
    });
    let mut errors = links;
    match flows {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => errors.push(e.into()),
        Err(_) => errors.push(panicked("forgetting the tracked flows")),
    }
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

/// The endpoints, then the bridges: every failure. A bridge whose link group
/// holds nothing but it and the plan's own veths goes with them in one request (the
/// kernel's grace periods paid once, not once per veth); anything else one by one.
fn remove_links(plan: &TeardownPlan) -> Vec<Error> {
    let mut errors: Vec<Error> = Vec::new();
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => return vec![e.into()],
    };
    let ours: HashSet<String> = plan
        .endpoints
        .iter()
        .map(|(container, network)| veth_name(container, network))
        .collect();
    // Without a list, every link goes one by one as before.
    let links = nl.links().ok();
    // A veth whose container's namespace is gone went with it: the kernel deletes both
    // ends when the last process of the namespace exits.
    let listed = |name: &str| {
        links
            .as_ref()
            .is_none_or(|l| l.iter().any(|l| l.name == name))
    };
    let links = links.as_deref().unwrap_or_default();
    let mut gone: HashSet<String> = HashSet::new();
    for bridge in &plan.bridges {
        let Some(members) = whole_group(links, bridge, &ours) else {
            continue;
        };
        // Gone meanwhile, or refused: the one-by-one pass below sees to it.
        if nl.delete_group(link_group(bridge)).is_ok() {
            gone.extend(members);
        }
    }
    for (container, network) in &plan.endpoints {
        let name = veth_name(container, network);
        if gone.contains(&name) || !listed(&name) {
            continue;
        }
        if let Err(e) = endpoint::detach(container, network) {
            errors.push(e);
        }
    }
    for bridge in plan.bridges.iter().filter(|b| !gone.contains(*b)) {
        if let Err(e) = nl.delete_link(bridge) {
            errors.push(e.into());
        }
    }
    errors
}

/// The names of the links that deleting `bridge`'s link group would delete, when that is
/// exactly the bridge and ports of it that are in `ours`: the bridge carries its own group
/// ([`link_group`]), every other member is one of `ours` and a port of the bridge, and every
/// port of the bridge is such a member. `None` otherwise (an older bridge without the
/// group, another project's veth on it, a link that shares the group by chance).
fn whole_group(links: &[LinkSummary], bridge: &str, ours: &HashSet<String>) -> Option<Vec<String>> {
    let group = link_group(bridge);
    let br = links.iter().find(|l| l.name == bridge)?;
    if br.group != group {
        return None;
    }
    let mut members = vec![br.name.clone()];
    for l in links.iter().filter(|l| l.index != br.index) {
        let member = l.group == group;
        let port = l.master == Some(br.index);
        if !member && !port {
            continue;
        }
        if !(member && port && ours.contains(&l.name)) {
            return None;
        }
        members.push(l.name.clone());
    }
    Some(members)
}

fn panicked(what: &'static str) -> Error {
    Error::Panicked(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, master: Option<u32>, group: u32) -> LinkSummary {
        LinkSummary {
            index,
            name: name.to_string(),
            master,
            group,
        }
    }

    #[test]
    fn a_group_is_deleted_whole_only_when_it_holds_the_bridge_and_our_ports() {
        let g = link_group("br-x");
        let ours: HashSet<String> = ["cve-a", "cve-b"].iter().map(|s| s.to_string()).collect();
        let base = vec![
            link(1, "lo", None, 0),
            link(2, "eth0", None, 0),
            link(10, "br-x", None, g),
            link(11, "cve-a", Some(10), g),
            link(12, "cve-b", Some(10), g),
        ];
        let mut names = whole_group(&base, "br-x", &ours).unwrap();
        names.sort();
        assert_eq!(names, ["br-x", "cve-a", "cve-b"]);

        // A bridge made before groups: one by one.
        let mut old = base.clone();
        old[2].group = 0;
        assert_eq!(whole_group(&old, "br-x", &ours), None);
        // A port that is not ours (another project's container on the network).
        let mut foreign = base.clone();
        foreign.push(link(13, "cve-z", Some(10), g));
        assert_eq!(whole_group(&foreign, "br-x", &ours), None);
        // A port of ours without the group (attached by an older build).
        let mut ungrouped = base.clone();
        ungrouped[4].group = 0;
        assert_eq!(whole_group(&ungrouped, "br-x", &ours), None);
        // A link elsewhere that shares the group by chance.
        let mut stranger = base.clone();
        stranger.push(link(20, "dummy0", None, g));
        assert_eq!(whole_group(&stranger, "br-x", &ours), None);
        // No such bridge.
        assert_eq!(whole_group(&base, "br-y", &ours), None);
    }
}

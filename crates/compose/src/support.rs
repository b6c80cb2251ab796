//! Attributes the loader accepts, keeps and prints, but that the runtime does not act on yet.
//! Using one gets a warning naming it, never silence.

use crate::yaml::Node;

/// Service attributes that are kept but not honored yet, with why.
pub const NOT_YET_HONORED: &[(&str, &str)] = &[
    (
        "annotations",
        "OCI annotations are not set on containers yet",
    ),
    ("blkio_config", "block I/O limits are not applied yet"),
    (
        "cgroup",
        "the cgroup namespace mode is not configurable yet",
    ),
    (
        "cgroup_parent",
        "containers always go under compose's own cgroup",
    ),
    ("cpu_count", "Windows-only"),
    ("cpu_percent", "Windows-only"),
    ("cpu_period", "use cpus instead"),
    ("cpu_quota", "use cpus instead"),
    ("cpu_rt_period", "real-time scheduling is not configured"),
    ("cpu_rt_runtime", "real-time scheduling is not configured"),
    ("credential_spec", "Windows-only"),
    (
        "device_cgroup_rules",
        "device cgroup rules are not applied yet",
    ),
    (
        "external_links",
        "links to containers outside the project are not supported",
    ),
    ("gpus", "there is no GPU support"),
    ("isolation", "Windows-only"),
    ("label_file", "labels from files are not read yet"),
    ("mem_reservation", "memory reservations are not applied yet"),
    ("mem_swappiness", "swappiness is not applied yet"),
    ("models", "AI models are not supported"),
    ("pre_start", "pre-start hooks are not run yet"),
    ("provider", "provider services are not supported"),
    (
        "pull_refresh_after",
        "images are not refreshed on a schedule",
    ),
    ("runtime", "the runtime is always compose's own"),
    ("storage_opt", "storage options are not applied"),
    ("use_api_socket", "there is no Docker API socket"),
];

/// One warning per use of an attribute from [`NOT_YET_HONORED`], with its position.
pub fn warnings(root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    let Some(services) = root.get("services").and_then(Node::as_map) else {
        return out;
    };
    for (name, svc) in services {
        let Some(attrs) = svc.as_map() else { continue };
        for (key, _) in attrs {
            if let Some((_, why)) = NOT_YET_HONORED.iter().find(|(a, _)| *a == key.name) {
                out.push(format!(
                    "{}: services.{}.{} is not supported yet and is ignored: {why}",
                    key.pos, name.name, key.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unsupported_attributes_are_named_with_positions() {
        let root = crate::yaml::parse(
            &Arc::from("c.yaml"),
            "services:\n  web:\n    image: x\n    gpus: all\n    runtime: runc\n",
        )
        .unwrap();
        let w = warnings(&root);
        assert_eq!(w.len(), 2);
        assert!(
            w[0].starts_with("c.yaml:4:5: services.web.gpus is not supported yet"),
            "{}",
            w[0]
        );
        assert!(w[1].contains("services.web.runtime"));
    }

    #[test]
    fn every_listed_attribute_is_in_the_specification() {
        let spec = include_str!("../../../../shared/spec/compose-spec.json");
        for (attr, _) in NOT_YET_HONORED {
            assert!(spec.contains(&format!("\"{attr}\"")), "{attr}");
        }
    }
}

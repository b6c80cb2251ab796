//! What `compose build` builds: the services with a `build:` section, each as
//! [`BuildOptions`] named as Docker Compose names them (`image:` if given, else
//! `<project>-<service>`, plus `build.tags`). Services whose build definitions are the
//! same are built once and the image takes all their names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use compose::model::Project;
use compose::model::build::Build;

use crate::build::BuildOptions;

/// One build of a project: the services it serves and how to build it.
#[derive(Debug, Clone)]
pub struct ServiceBuild {
    pub services: Vec<String>,
    /// The image name of each service, then the build's tags.
    pub options: BuildOptions,
}

/// Docker Compose's name for a service's image.
pub fn image_name(project: &str, service: &str, image: &str) -> String {
    if image.is_empty() {
        format!("{project}-{service}")
    } else {
        image.to_string()
    }
}

/// The builds for `services` (all the project's services with `build:` when empty).
/// `build_args` (from `--build-arg`) override the file's; an arg the loader left without a
/// value (not in its environment either) is left out.
pub fn plan(
    project: &Project,
    services: &[String],
    build_args: &BTreeMap<String, String>,
    no_cache: bool,
) -> Result<Vec<ServiceBuild>, String> {
    let mut groups: BTreeMap<String, ServiceBuild> = BTreeMap::new();
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(build) = &svc.build else {
            if services.contains(name) {
                return Err(format!("service {name:?} has no build section"));
            }
            continue;
        };
        let options = options_for(name, build, build_args, no_cache)?;
        // Same definition, same build: keyed by everything but the names.
        let key = serde_json::to_string(build).map_err(|e| e.to_string())?;
        let group = groups.entry(key).or_insert_with(|| ServiceBuild {
            services: Vec::new(),
            options,
        });
        group.services.push(name.clone());
        let image = image_name(&project.name, name, &svc.image);
        for tag in std::iter::once(&image).chain(&build.tags) {
            if !group.options.tags.contains(tag) {
                group.options.tags.push(tag.clone());
            }
        }
    }
    for s in services {
        if !project.services.contains_key(s) {
            return Err(format!("no such service: {s}"));
        }
    }
    Ok(groups.into_values().collect())
}

fn options_for(
    service: &str,
    build: &Build,
    build_args: &BTreeMap<String, String>,
    no_cache: bool,
) -> Result<BuildOptions, String> {
    let context = &build.context;
    if context.contains("://") || context.starts_with("git@") || context.starts_with("service:") {
        return Err(format!(
            "service {service:?}: build context {context:?} is remote; only local directories are built here"
        ));
    }
    if !build.additional_contexts.is_empty() {
        return Err(format!(
            "service {service:?}: build.additional_contexts is not supported yet"
        ));
    }
    let mut args: BTreeMap<String, String> = build
        .args
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    args.extend(build_args.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(BuildOptions {
        context: PathBuf::from(if context.is_empty() { "." } else { context }),
        dockerfile: (!build.dockerfile.is_empty()).then(|| PathBuf::from(&build.dockerfile)),
        dockerfile_inline: (!build.dockerfile_inline.is_empty())
            .then(|| build.dockerfile_inline.clone()),
        target: (!build.target.is_empty()).then(|| build.target.clone()),
        build_args: args,
        tags: Vec::new(),
        labels: build.labels.clone(),
        no_cache: no_cache || build.no_cache,
        network: (!build.network.is_empty()).then(|| build.network.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        compose::load::load_from_str(yaml).unwrap().model.unwrap()
    }

    #[test]
    fn names_args_and_shared_definitions() {
        let p = project(
            "services:\n  web:\n    build:\n      context: /src\n      args: {A: '1', FROM_ENV: null, MISSING: null}\n      tags: [extra:1]\n  worker:\n    build:\n      context: /src\n      args: {A: '1', FROM_ENV: null, MISSING: null}\n      tags: [extra:1]\n    image: custom/worker:2\n  other:\n    build: /elsewhere\n  db:\n    image: busybox\n",
        );
        let cli = BTreeMap::from([("A".to_string(), "cli".to_string())]);
        let builds = plan(&p, &[], &cli, false).unwrap();
        assert_eq!(builds.len(), 2, "web and worker share one build");
        let shared = builds.iter().find(|b| b.services.len() == 2).unwrap();
        assert_eq!(shared.services, ["web", "worker"]);
        assert_eq!(
            shared.options.tags,
            ["fuzz-web", "extra:1", "custom/worker:2"]
        );
        assert_eq!(shared.options.build_args["A"], "cli");
        assert!(!shared.options.build_args.contains_key("MISSING"));
        let other = builds.iter().find(|b| b.services == ["other"]).unwrap();
        assert_eq!(other.options.context, PathBuf::from("/elsewhere"));
        assert_eq!(other.options.tags, ["fuzz-other"]);
    }

    #[test]
    fn selection_and_errors() {
        let p = project(
            "services:\n  web:\n    build: /src\n  db:\n    image: busybox\n  remote:\n    build: https://example.invalid/repo.git\n",
        );
        let none = BTreeMap::new();
        let b = plan(&p, &["web".into()], &none, true).unwrap();
        assert_eq!(b.len(), 1);
        assert!(b[0].options.no_cache);
        assert!(
            plan(&p, &["db".into()], &none, false)
                .unwrap_err()
                .contains("no build")
        );
        assert!(
            plan(&p, &["nope".into()], &none, false)
                .unwrap_err()
                .contains("no such service")
        );
        assert!(plan(&p, &[], &none, false).unwrap_err().contains("remote"));
    }
}

//! What `compose build` builds: the services with a `build:` section, each as
//! [`BuildOptions`] named as Docker Compose names them (`image:` if given, else
//! `<project>-<service>`, plus `build.tags`). Services whose build definitions are the
//! same are built once and the image takes all their names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use compose::model::Project;
use compose::model::build::Build;

use crate::build::{BuildOptions, NamedContext};

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
    for s in services {
        if !project.services.contains_key(s) {
            return Err(format!("no such service: {s}"));
        }
    }
    let wanted = with_service_contexts(project, services);
    let mut groups: BTreeMap<String, ServiceBuild> = BTreeMap::new();
    for (name, svc) in &project.services {
        if !services.is_empty() && !wanted.contains(name) {
            continue;
        }
        let Some(build) = &svc.build else {
            if services.contains(name) {
                return Err(format!("service {name:?} has no build section"));
            }
            continue;
        };
        let options = options_for(project, name, build, build_args, no_cache)?;
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
    in_context_order(project, groups.into_values().collect())
}

/// `services` and, transitively, the services their `service:` contexts name.
fn with_service_contexts(project: &Project, services: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = services.to_vec();
    while let Some(s) = todo.pop() {
        if !out.insert(s.clone()) {
            continue;
        }
        if let Some(build) = project.services.get(&s).and_then(|svc| svc.build.as_ref()) {
            todo.extend(service_contexts(build));
        }
    }
    out
}

/// The builds ordered so that one whose `service:` context names another comes after it.
fn in_context_order(
    project: &Project,
    mut rest: Vec<ServiceBuild>,
) -> Result<Vec<ServiceBuild>, String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let ready = rest.iter().position(|b| {
            b.services.iter().all(|s| {
                let deps = project.services[s].build.as_ref().map(service_contexts);
                deps.unwrap_or_default()
                    .iter()
                    .all(|d| done.contains(d) || b.services.contains(d))
            })
        });
        let Some(i) = ready else {
            let names: Vec<String> = rest.iter().flat_map(|b| b.services.clone()).collect();
            return Err(format!(
                "services {names:?} take images from each other through service: contexts (a cycle)"
            ));
        };
        let b = rest.remove(i);
        done.extend(b.services.iter().cloned());
        out.push(b);
    }
    Ok(out)
}

fn options_for(
    project: &Project,
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
    let additional_contexts = build
        .additional_contexts
        .iter()
        .map(|(name, value)| Ok((name.clone(), named_context(project, service, name, value)?)))
        .collect::<Result<BTreeMap<_, _>, String>>()?;
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
        additional_contexts,
        pull: build.pull,
    })
}

/// One `additional_contexts` entry: a directory (made absolute by the loader),
/// `docker-image://REF`, or `service:NAME` (the image built for that service).
fn named_context(
    project: &Project,
    service: &str,
    name: &str,
    value: &str,
) -> Result<NamedContext, String> {
    if let Some(image) = value.strip_prefix("docker-image://") {
        return Ok(NamedContext::Image(image.to_string()));
    }
    if let Some(other) = value.strip_prefix("service:") {
        let svc = project.services.get(other).ok_or_else(|| {
            format!("service {service:?}: additional_contexts {name}: no such service {other:?}")
        })?;
        if svc.build.is_none() {
            return Err(format!(
                "service {service:?}: additional_contexts {name}: service {other:?} has no build section"
            ));
        }
        return Ok(NamedContext::Image(image_name(
            &project.name,
            other,
            &svc.image,
        )));
    }
    if value.contains("://") || value.starts_with("git@") {
        return Err(format!(
            "service {service:?}: additional_contexts {name}: {value:?} is remote; only local directories, docker-image:// and service: are built here"
        ));
    }
    Ok(NamedContext::Dir(PathBuf::from(value)))
}

/// The services `service`'s build takes images from (`service:NAME` contexts).
fn service_contexts(build: &Build) -> Vec<String> {
    build
        .additional_contexts
        .values()
        .filter_map(|v| v.strip_prefix("service:"))
        .map(str::to_string)
        .collect()
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
    fn additional_contexts_kinds_and_build_order() {
        let p = project(
            "services:\n  app:\n    build:\n      context: /src\n      additional_contexts:\n        base: service:base\n        files: /data\n        img: docker-image://busybox:1\n  base:\n    build: /base\n  web:\n    build: /web\n",
        );
        let none = BTreeMap::new();
        let builds = plan(&p, &["app".into()], &none, false).unwrap();
        let order: Vec<&str> = builds.iter().map(|b| b.services[0].as_str()).collect();
        assert_eq!(order, ["base", "app"], "the service context is built first");
        let ctx = &builds[1].options.additional_contexts;
        assert_eq!(ctx["base"], NamedContext::Image("fuzz-base".into()));
        assert_eq!(ctx["files"], NamedContext::Dir("/data".into()));
        assert_eq!(ctx["img"], NamedContext::Image("busybox:1".into()));
        let all = plan(&p, &[], &none, false).unwrap();
        let pos = |s: &str| all.iter().position(|b| b.services[0] == s).unwrap();
        assert!(pos("base") < pos("app"));

        for (value, wanted) in [
            ("https://example.invalid/x.git", "remote"),
            ("service:nope", "no such service"),
            ("service:plain", "no build section"),
        ] {
            let p = project(&format!(
                "services:\n  app:\n    build:\n      context: /src\n      additional_contexts: {{x: '{value}'}}\n  plain:\n    image: busybox\n"
            ));
            let err = plan(&p, &[], &none, false).unwrap_err();
            assert!(err.contains("\"app\"") && err.contains(wanted), "{err}");
        }
        let cycle = project(
            "services:\n  a:\n    build: {context: /a, additional_contexts: {b: 'service:b'}}\n  b:\n    build: {context: /b, additional_contexts: {a: 'service:a'}}\n",
        );
        assert!(
            plan(&cycle, &[], &none, false)
                .unwrap_err()
                .contains("cycle")
        );
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

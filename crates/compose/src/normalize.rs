//! Fills in what Docker Compose fills in after loading, so that the model says everything
//! explicitly and prints as `docker compose config` does: absolute paths, build defaults,
//! resolved environment (with `env_file` and `label_file` read in), implicit dependencies,
//! the default network, resource names, secret targets, `scale`/`deploy.replicas`, and the
//! removal of networks, volumes, configs and secrets that no service uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::Error;
use crate::model::volumes::clean_path;
use crate::model::{Dependency, Project, Service, VolumeType};

use crate::dotenv;
use crate::yaml::Pos;

/// What normalization needs to know besides the project itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The project name (already set on the project by the loader).
    pub project_name: String,
    /// The directory relative paths are resolved against.
    pub project_dir: PathBuf,
    /// The effective environment: the shell's, plus `.env` (shell wins).
    pub env: BTreeMap<String, String>,
    /// The user's home, for `~` in paths. Defaults to `env["HOME"]`.
    pub home: Option<PathBuf>,
    /// The `env_file`s and `label_file`s normalization looked at (the reload loop watches
    /// them); a lock because services normalize on two threads.
    read: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>,
}

impl Context {
    pub fn new(
        project_name: impl Into<String>,
        project_dir: impl Into<PathBuf>,
        env: BTreeMap<String, String>,
    ) -> Self {
        let home = env.get("HOME").map(PathBuf::from);
        Context {
            project_name: project_name.into(),
            project_dir: project_dir.into(),
            env,
            home,
            read: Default::default(),
        }
    }

    /// The files read (or looked for) so far.
    pub fn files_read(&self) -> Vec<PathBuf> {
        self.read.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn note_read(&self, path: &str) {
        if let Ok(mut r) = self.read.lock() {
            r.push(PathBuf::from(path));
        }
    }

    fn lookup(&self, key: &str) -> Option<String> {
        self.env.get(key).cloned()
    }

    /// `~` expansion, then relative paths joined to the project directory (cleaned, as Go's
    /// `filepath.Join` does). Absolute paths are kept as written.
    pub fn abs_path(&self, p: &str) -> String {
        let expanded = self.expand_user(p);
        if expanded.is_empty() || expanded.starts_with('/') {
            return expanded;
        }
        let dir = self.project_dir.to_string_lossy();
        clean_path(&format!("{dir}/{expanded}"))
    }

    fn expand_user(&self, p: &str) -> String {
        match (p.strip_prefix('~'), &self.home) {
            (Some(rest), Some(home)) => clean_path(&format!("{}/{rest}", home.to_string_lossy())),
            _ => p.to_string(),
        }
    }

    /// A build context: URLs, `service:` and `scheme://` contexts are kept as they are.
    fn context_path(&self, p: &str) -> String {
        const REMOTE: [&str; 6] = [
            "https://",
            "http://",
            "git://",
            "ssh://",
            "github.com/",
            "git@",
        ];
        if p.contains("://") || p.starts_with("service:") || REMOTE.iter().any(|r| p.starts_with(r))
        {
            return p.to_string();
        }
        self.abs_path(p)
    }
}

/// Normalizes `project` in place. Errors name the service and attribute at fault.
pub fn normalize(project: &mut Project, ctx: &Context) -> Result<(), Error> {
    normalize_project_start(project, ctx);
    let mut errors = Vec::new();
    let mut uses_default_network = false;
    for (name, service) in project.services.iter_mut() {
        let (error, default_network) = normalize_one_service(name, service, ctx);
        errors.extend(error);
        uses_default_network |= default_network;
    }
    Error::collect(errors)?;
    normalize_project_end(project, ctx, uses_default_network)
}

/// What [`normalize`] does before the services.
pub(crate) fn normalize_project_start(project: &mut Project, ctx: &Context) {
    if project.name.is_empty() {
        project.name = ctx.project_name.clone();
    }
    if project.working_dir.as_os_str().is_empty() {
        project.working_dir = ctx.project_dir.clone();
    }
    if project.environment.is_empty() {
        project.environment = ctx.env.clone();
    }
}

/// What [`normalize`] does to one service (it touches nothing else): its error, and whether
/// it uses the default network.
pub(crate) fn normalize_one_service(
    name: &str,
    service: &mut Service,
    ctx: &Context,
) -> (Option<Error>, bool) {
    let error = normalize_service(name, service, ctx).err();
    (error, attach_default_network(service))
}

/// What [`normalize`] does after the services, once none had an error.
pub(crate) fn normalize_project_end(
    project: &mut Project,
    ctx: &Context,
    uses_default_network: bool,
) -> Result<(), Error> {
    if uses_default_network {
        project.networks.entry("default".into()).or_default();
    }
    name_resources(project, ctx)?;
    remove_unused_resources(project);
    Ok(())
}

fn normalize_service(name: &str, s: &mut Service, ctx: &Context) -> Result<(), Error> {
    if s.pull_policy == "if_not_present" {
        s.pull_policy = "missing".into();
    }
    normalize_build(s, ctx);
    resolve_environment(s, ctx)?;
    resolve_labels(s, ctx)?;
    add_implicit_dependencies(s);
    for v in &mut s.volumes {
        if v.kind == VolumeType::Bind && !v.source.is_empty() {
            v.source = ctx.abs_path(&v.source);
        }
    }
    for secret in &mut s.secrets {
        if secret.target.is_empty() {
            secret.target = format!("/run/secrets/{}", secret.source);
        }
    }
    if let Some(develop) = &mut s.develop {
        for rule in &mut develop.watch {
            rule.path = ctx.abs_path(&rule.path);
        }
    }
    if let Some(ext) = &mut s.extends
        && !ext.file.is_empty()
    {
        ext.file = ctx.abs_path(&ext.file);
    }
    check_consistency(name, s)
}

fn normalize_build(s: &mut Service, ctx: &Context) {
    let Some(build) = &mut s.build else { return };
    if build.context.is_empty() {
        build.context = ".".into();
    }
    build.context = ctx.context_path(&build.context);
    if build.dockerfile.is_empty() && build.dockerfile_inline.is_empty() {
        build.dockerfile = "Dockerfile".into();
    }
    for v in build.additional_contexts.values_mut() {
        *v = ctx.context_path(v);
    }
    for path in build.ssh.0.values_mut().flatten() {
        *path = ctx.abs_path(path);
    }
    // Build args without a value take it from the environment, or are dropped.
    let args = std::mem::take(&mut build.args);
    build.args = args
        .into_iter()
        .filter_map(|(k, v)| match v {
            Some(v) => Some((k, Some(v))),
            None => ctx.lookup(&k).map(|v| (k, Some(v))),
        })
        .collect();
}

/// `environment` entries without a value take it from the project environment; `env_file`s
/// are read underneath (the service's own entries win) and then dropped.
fn resolve_environment(s: &mut Service, ctx: &Context) -> Result<(), Error> {
    for (k, v) in s.environment.iter_mut() {
        if v.is_none() {
            *v = ctx.lookup(k);
        }
    }
    if s.env_file.is_empty() {
        return Ok(());
    }
    let own = s.environment.clone();
    let mut merged: BTreeMap<String, Option<String>> = BTreeMap::new();
    for env_file in std::mem::take(&mut s.env_file) {
        let path = ctx.abs_path(&env_file.path);
        ctx.note_read(&path);
        let Some(text) = read_optional(&path, env_file.required, "env file")? else {
            continue;
        };
        let lookup =
            |k: &str| -> Option<String> { ctx.lookup(k).or_else(|| own.get(k).cloned().flatten()) };
        let pairs = if env_file.format.as_deref() == Some("raw") {
            dotenv::parse_raw_with_lookup(&text, &lookup)
        } else {
            dotenv::parse(&text, &lookup)
        }
        .map_err(|e| {
            Error::Other(format!(
                "failed to read {path}: line {}: {}",
                e.line, e.message
            ))
        })?;
        for (k, v) in pairs {
            merged.insert(k, Some(v));
        }
    }
    merged.extend(own);
    s.environment = merged;
    Ok(())
}

/// `label_file`s are read under `labels` (the service's own labels win) and dropped.
fn resolve_labels(s: &mut Service, ctx: &Context) -> Result<(), Error> {
    if s.label_file.is_empty() {
        return Ok(());
    }
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for file in std::mem::take(&mut s.label_file) {
        let path = ctx.abs_path(&file);
        ctx.note_read(&path);
        let Some(text) = read_optional(&path, true, "label file")? else {
            continue;
        };
        let lookup = |k: &str| merged.get(k).cloned();
        let pairs = dotenv::parse(&text, &lookup).map_err(|e| {
            Error::Other(format!(
                "failed to read {path}: line {}: {}",
                e.line, e.message
            ))
        })?;
        merged.extend(pairs);
    }
    merged.extend(std::mem::take(&mut s.labels));
    s.labels = merged;
    Ok(())
}

fn read_optional(path: &str, required: bool, what: &str) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if required {
                Err(Error::Other(format!(
                    "{what} {path} not found: stat {path}: no such file or directory"
                )))
            } else {
                Ok(None)
            }
        }
        Err(source) => Err(Error::Io {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// `links`, `volumes_from` and `service:` namespaces imply `depends_on`.
fn add_implicit_dependencies(s: &mut Service) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    for link in &s.links {
        let target = match link.split(':').collect::<Vec<_>>().as_slice() {
            [name, _alias] => (*name).to_string(),
            _ => link.clone(),
        };
        implied.push((target, true));
    }
    for ns in [&s.network_mode, &s.ipc, &s.pid, &s.uts, &s.cgroup] {
        if let Some(other) = ns.strip_prefix("service:") {
            implied.push((other.to_string(), true));
        }
    }
    for from in &s.volumes_from {
        if !from.starts_with("container:") {
            let name = from.split(':').next().unwrap_or(from);
            implied.push((name.to_string(), false));
        }
    }
    for (name, restart) in implied {
        s.depends_on.entry(name).or_insert(Dependency {
            condition: "service_started".into(),
            restart,
            required: true,
        });
    }
}

/// Services without `network_mode` (or `provider`) join `default` when they name no
/// network. Returns whether the service uses the default network.
fn attach_default_network(s: &mut Service) -> bool {
    if !s.network_mode.is_empty() || s.provider.is_some() {
        return false;
    }
    if s.networks.is_empty() {
        s.networks.insert("default".into(), None);
    }
    s.networks.contains_key("default")
}

/// Errors here have a model path but no position: the loader finds it in the tree.
fn distinct(name: &str, a: &str, b: &str) -> Error {
    Error::at(
        &Pos::none(),
        format!("services.{name}.{a}"),
        format!("can't set distinct values on '{a}' and '{b}': invalid compose project"),
    )
}

/// `scale` vs `deploy.replicas`, and the service-level limits vs `deploy.resources`.
fn check_consistency(name: &str, s: &mut Service) -> Result<(), Error> {
    if let (Some(scale), Some(deploy)) = (s.scale, s.deploy.as_mut()) {
        if deploy.replicas.is_some_and(|r| r != scale) {
            return Err(distinct(name, "scale", "deploy.replicas"));
        }
        deploy.replicas = Some(scale);
    }
    if s.scale.is_some_and(|n| n < 0) {
        return Err(Error::at(
            &Pos::none(),
            format!("services.{name}.scale"),
            "must be greater than or equal to 0",
        ));
    }
    let Some(deploy) = &s.deploy else {
        return Ok(());
    };
    if deploy.replicas.is_some_and(|n| n < 0) {
        return Err(Error::at(
            &Pos::none(),
            format!("services.{name}.deploy.replicas"),
            "must be greater than or equal to 0",
        ));
    }
    let res = &deploy.resources;
    if let Some(limits) = &res.limits {
        if !s.cpus.is_zero() && limits.cpus != s.cpus {
            return Err(distinct(name, "cpus", "deploy.resources.limits.cpus"));
        }
        if let Some(mem) = s.mem_limit.filter(|m| !m.is_zero())
            && limits.memory != mem
        {
            return Err(distinct(
                name,
                "mem_limit",
                "deploy.resources.limits.memory",
            ));
        }
        if s.pids_limit != 0 && limits.pids != s.pids_limit {
            return Err(distinct(name, "pids_limit", "deploy.resources.limits.pids"));
        }
    }
    if let (Some(res), Some(mem)) = (
        &res.reservations,
        s.mem_reservation.filter(|m| !m.is_zero()),
    ) && res.memory != mem
    {
        return Err(distinct(
            name,
            "mem_reservation",
            "deploy.resources.reservations.memory",
        ));
    }
    Ok(())
}

/// Default names (`<project>_<key>`, or the key for external resources) and paths of the
/// top-level networks, volumes, configs and secrets.
fn name_resources(project: &mut Project, ctx: &Context) -> Result<(), Error> {
    let prefix = project.name.clone();
    let default_name = |key: &str, external: bool| {
        if external {
            key.to_string()
        } else {
            format!("{prefix}_{key}")
        }
    };
    let legacy = |kind: &str, key: &str, name: &mut String, legacy: &Option<String>| match legacy {
        Some(l) if name.is_empty() => {
            *name = l.clone();
            Ok(())
        }
        Some(l) if l != name => Err(Error::at(
            &Pos::none(),
            format!("{kind}.{key}.name"),
            "name and external.name conflict; only use name",
        )),
        _ => Ok(()),
    };
    for (key, n) in project.networks.iter_mut() {
        legacy("networks", key, &mut n.name, &n.external.legacy_name)?;
        if n.name.is_empty() {
            n.name = default_name(key, n.external.external);
        }
    }
    for (key, v) in project.volumes.iter_mut() {
        legacy("volumes", key, &mut v.name, &v.external.legacy_name)?;
        if v.name.is_empty() {
            v.name = default_name(key, v.external.external);
        }
        if v.driver == "local"
            && v.driver_opts.get("o").is_some_and(|o| o == "bind")
            && let Some(device) = v.driver_opts.get_mut("device")
        {
            *device = ctx.abs_path(device);
        }
    }
    for (kind, objects) in [
        ("secrets", &mut project.secrets),
        ("configs", &mut project.configs),
    ] {
        for (key, o) in objects.iter_mut() {
            legacy(kind, key, &mut o.name, &o.external.legacy_name)?;
            if o.name.is_empty() {
                o.name = default_name(key, o.external.external);
            }
            if !o.file.is_empty() {
                o.file = ctx.abs_path(&o.file);
            }
        }
    }
    Ok(())
}

/// Drops top-level networks, volumes, secrets and configs that no service refers to, as
/// Docker Compose does once the project is loaded.
pub fn remove_unused_resources(project: &mut Project) {
    let mut networks = BTreeSet::new();
    let mut volumes = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for s in project.services.values() {
        networks.extend(s.networks.keys().cloned());
        volumes.extend(
            s.volumes
                .iter()
                .filter(|v| v.kind == VolumeType::Volume && !v.source.is_empty())
                .map(|v| v.source.clone()),
        );
        secrets.extend(s.secrets.iter().map(|r| r.source.clone()));
        if let Some(b) = &s.build {
            secrets.extend(b.secrets.iter().map(|r| r.source.clone()));
        }
        configs.extend(s.configs.iter().map(|r| r.source.clone()));
    }
    project.networks.retain(|k, _| networks.contains(k));
    project.volumes.retain(|k, _| volumes.contains(k));
    project.secrets.retain(|k, _| secrets.contains(k));
    project.configs.retain(|k, _| configs.contains(k));
}

#[cfg(test)]
mod tests {
    //! End-to-end: YAML → model → normalize → JSON, compared with what Docker Compose
    //! v2.40.3 printed (`config --format json`) for the same file in the same directory.
    use super::*;
    use serde_json::Value;

    fn ctx(name: &str, dir: &str) -> Context {
        let env = [
            ("HOME", "/root"),
            ("FOO_SET", "value"),
            ("Y", "shell"),
            ("CFG_ENV", "cfgv"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Context::new(name, dir, env)
    }

    fn run(yaml: &str, name: &str, dir: &str) -> Value {
        let mut project: Project = serde_yaml_ng::from_str(yaml).unwrap();
        normalize(&mut project, &ctx(name, dir)).unwrap();
        serde_json::to_value(&project).unwrap()
    }

    /// v2 prints a literal `$` as `$$`; the model holds the real `$`.
    fn unescape(v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(s.replace("$$", "$")),
            Value::Array(a) => Value::Array(a.into_iter().map(unescape).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, unescape(v))).collect())
            }
            other => other,
        }
    }

    fn sorted(v: Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            Value::Object(o) => {
                let m: std::collections::BTreeMap<String, Value> =
                    o.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(m.into_iter().collect())
            }
            other => other,
        }
    }

    fn check(yaml: &str, name: &str, dir: &str, expected: &str) {
        let got = run(yaml, name, dir);
        // MODEL_DUMP_DIR=dir writes our pretty JSON there, to diff with v2's text by hand.
        if let Ok(out) = std::env::var("MODEL_DUMP_DIR") {
            let text = serde_json::to_string_pretty(&got).unwrap();
            std::fs::write(format!("{out}/{name}.json"), text).unwrap();
        }
        let want = unescape(serde_json::from_str(expected).unwrap());
        if got != want {
            let g = serde_json::to_string_pretty(&sorted(got)).unwrap();
            let w = serde_json::to_string_pretty(&sorted(want)).unwrap();
            for (i, (a, b)) in g.lines().zip(w.lines()).enumerate() {
                if a != b {
                    panic!("first difference at line {i}:\n got: {a}\nwant: {b}\n\nGOT:\n{g}");
                }
            }
            panic!("outputs differ in length:\nGOT:\n{g}\nWANT:\n{w}");
        }
        // Same keys in the same order as Docker Compose prints them.
        assert_eq!(
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(&want).unwrap(),
            "key order differs from v2"
        );
    }

    #[test]
    fn matches_v2_basic() {
        check(
            r#"name: basic
services:
  web:
    image: nginx
    build: ./app
    command: echo "hi $HOME"
    ports:
      - "8080:80"
      - "127.0.0.1:9000-9001:9000-9001/udp"
      - 80
      - target: 443
        published: "8443"
        protocol: tcp
        mode: host
    volumes:
      - ./data:/data:ro
      - db:/var/lib/db
      - /tmp
      - type: tmpfs
        target: /run
        tmpfs:
          size: 10m
          mode: 0o755
    healthcheck:
      test: curl -f x
      interval: 1m
      timeout: 1m30s
      start_period: 500ms
      retries: 3
    mem_limit: 512m
    memswap_limit: 1g
    environment: [A=1, B, HOME]
    depends_on: [db]
    links: [db:database]
    labels: [a=b, c]
    extra_hosts: ["h:host-gateway", "x=1.2.3.4"]
    stop_grace_period: 1m
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 512m
    x-foo: bar
  db:
    image: postgres
    networks:
      back:
        aliases: [d]
        ipv4_address: 10.0.0.2
        priority: 5
      default:
networks:
  back: {}
volumes:
  db: {}
x-top: {a: 1}
"#,
            "basic",
            "/srv/nt/basic",
            r#"{
 "name": "basic",
 "networks": {
  "back": {
   "name": "basic_back",
   "ipam": {}
  },
  "default": {
   "name": "basic_default",
   "ipam": {}
  }
 },
 "services": {
  "db": {
   "command": null,
   "entrypoint": null,
   "image": "postgres",
   "networks": {
    "back": {
     "aliases": [
      "d"
     ],
     "ipv4_address": "10.0.0.2",
     "priority": 5
    },
    "default": null
   }
  },
  "web": {
   "build": {
    "context": "/srv/nt/basic/app",
    "dockerfile": "Dockerfile"
   },
   "command": [
    "echo",
    "hi $$HOME"
   ],
   "depends_on": {
    "db": {
     "condition": "service_started",
     "required": true
    }
   },
   "deploy": {
    "resources": {
     "limits": {
      "cpus": 0.5,
      "memory": "536870912"
     }
    },
    "placement": {}
   },
   "entrypoint": null,
   "environment": {
    "A": "1",
    "B": null,
    "HOME": "/root"
   },
   "extra_hosts": [
    "h=host-gateway",
    "x=1.2.3.4"
   ],
   "healthcheck": {
    "test": [
     "CMD-SHELL",
     "curl -f x"
    ],
    "timeout": "1m30s",
    "interval": "1m0s",
    "retries": 3,
    "start_period": "500ms"
   },
   "image": "nginx",
   "labels": {
    "a": "b",
    "c": ""
   },
   "links": [
    "db:database"
   ],
   "mem_limit": "536870912",
   "memswap_limit": "1073741824",
   "networks": {
    "default": null
   },
   "ports": [
    {
     "mode": "ingress",
     "target": 80,
     "published": "8080",
     "protocol": "tcp"
    },
    {
     "mode": "ingress",
     "host_ip": "127.0.0.1",
     "target": 9000,
     "published": "9000",
     "protocol": "udp"
    },
    {
     "mode": "ingress",
     "host_ip": "127.0.0.1",
     "target": 9001,
     "published": "9001",
     "protocol": "udp"
    },
    {
     "mode": "ingress",
     "target": 80,
     "protocol": "tcp"
    },
    {
     "mode": "host",
     "target": 443,
     "published": "8443",
     "protocol": "tcp"
    }
   ],
   "stop_grace_period": "1m0s",
   "ulimits": {
    "nofile": {
     "soft": 10,
     "hard": 20
    },
    "nproc": 5
   },
   "volumes": [
    {
     "type": "bind",
     "source": "/srv/nt/basic/data",
     "target": "/data",
     "read_only": true,
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "volume",
     "source": "db",
     "target": "/var/lib/db",
     "volume": {}
    },
    {
     "type": "volume",
     "target": "/tmp",
     "volume": {}
    },
    {
     "type": "tmpfs",
     "target": "/run",
     "tmpfs": {
      "size": "10485760",
      "mode": 493
     }
    }
   ]
  }
 },
 "volumes": {
  "db": {
   "name": "basic_db"
  }
 },
 "x-top": {
  "a": 1
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_many() {
        check(
            r#"name: many
services:
  web:
    image: nginx
    build:
      context: ./app
      dockerfile_inline: FROM x
      args: [A=1, B, FOO_SET]
      target: t
      tags: [a:1]
      labels: {l: 1}
      additional_contexts: {c: ./x, d: "docker-image://alpine"}
      cache_from: [a]
      network: host
      no_cache: true
      pull: true
      ssh: [default]
      shm_size: 1g
      platforms: [linux/amd64]
      secrets: [s1]
      extra_hosts: {h: 1.1.1.1}
      ulimits: {nofile: 5}
    pull_policy: always
    platform: linux/amd64
    entrypoint: [sh, -c]
    environment: {X: env_wins, N: 1, E: , FOO_SET: }
    working_dir: /w
    user: "1000"
    tty: true
    stdin_open: true
    init: true
    tmpfs: /x
    volumes_from: [db, "container:c1", "db2:ro"]
    secrets: [s1, {source: s1, target: /t, uid: "1", gid: "2", mode: "0444"}]
    configs: [c1, {source: c2, target: /c2}]
    expose: [80, "90-91"]
    hostname: h
    domainname: d
    dns: 8.8.8.8
    dns_search: [a.com]
    dns_opt: [ndots:1]
    restart: always
    stop_signal: SIGTERM
    container_name: cn
    logging: {driver: json-file, options: {max-size: 1m}}
    deploy:
      mode: replicated
      replicas: 1
      labels: [a=b]
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      update_config: {parallelism: 2, delay: 10s, order: start-first}
      placement: {constraints: [node.role==manager], preferences: [{spread: node.labels.zone}]}
      resources:
        limits: {cpus: 1.5, memory: 1g, pids: 100}
        reservations:
          cpus: 0.25
          memory: 1g
          devices: [{capabilities: [gpu], count: all}, {capabilities: [gpu], device_ids: ["0"]}]
    shm_size: 64m
    devices: ["/dev/a:/dev/b:rwm", "/dev/c"]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: true
    read_only: true
    sysctls: [net.a=1]
    security_opt: [no-new-privileges]
    cpus: 1.5
    cpu_shares: 512
    cpuset: "0-1"
    pids_limit: 100
    oom_kill_disable: true
    oom_score_adj: -500
    pid: host
    ipc: host
    uts: host
    userns_mode: host
    group_add: [wheel, 100]
    attach: false
    mem_limit: 1g
    mem_reservation: 1g
    post_start: [{command: echo hi, user: root}]
    pre_stop: [{command: [echo, bye], environment: [A=1]}]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /src
          ignore: [node_modules]
        - path: package.json
          action: rebuild
        - {path: ./c, action: sync+exec, target: /c, exec: {command: kill 1}, initial_sync: true, include: ["*.js"]}
        - {path: ./d, action: sync+restart, target: /d}
    healthcheck:
      test: [CMD, curl, x]
      start_interval: 1s
      disable: false
  db:
    image: pg
    network_mode: host
    healthcheck: {disable: true}
    scale: 2
  db2:
    image: pg
    scale: 1
    deploy: {resources: {limits: {memory: 10m}}}
    restart: on-failure:3
secrets:
  s1: {file: ./s.txt}
  s2: {environment: FOO}
configs:
  c1: {content: "hello"}
  c2: {file: c.txt}
  c3: {external: true, name: realc3}
"#,
            "many",
            "/srv/nt/many",
            r#"{
 "configs": {
  "c1": {
   "name": "many_c1",
   "content": "hello"
  },
  "c2": {
   "name": "many_c2",
   "file": "/srv/nt/many/c.txt"
  }
 },
 "name": "many",
 "networks": {
  "default": {
   "name": "many_default",
   "ipam": {}
  }
 },
 "secrets": {
  "s1": {
   "name": "many_s1",
   "file": "/srv/nt/many/s.txt"
  }
 },
 "services": {
  "db": {
   "command": null,
   "entrypoint": null,
   "healthcheck": {
    "disable": true
   },
   "image": "pg",
   "network_mode": "host",
   "scale": 2
  },
  "db2": {
   "command": null,
   "deploy": {
    "replicas": 1,
    "resources": {
     "limits": {
      "memory": "10485760"
     }
    },
    "placement": {}
   },
   "entrypoint": null,
   "image": "pg",
   "networks": {
    "default": null
   },
   "restart": "on-failure:3",
   "scale": 1
  },
  "web": {
   "attach": false,
   "build": {
    "context": "/srv/nt/many/app",
    "dockerfile_inline": "FROM x",
    "args": {
     "A": "1",
     "FOO_SET": "value"
    },
    "ssh": [
     "default"
    ],
    "labels": {
     "l": "1"
    },
    "cache_from": [
     "a"
    ],
    "no_cache": true,
    "additional_contexts": {
     "c": "/srv/nt/many/x",
     "d": "docker-image://alpine"
    },
    "pull": true,
    "extra_hosts": [
     "h=1.1.1.1"
    ],
    "network": "host",
    "target": "t",
    "secrets": [
     {
      "source": "s1"
     }
    ],
    "shm_size": "1073741824",
    "tags": [
     "a:1"
    ],
    "ulimits": {
     "nofile": 5
    },
    "platforms": [
     "linux/amd64"
    ]
   },
   "develop": {
    "watch": [
     {
      "path": "/srv/nt/many/src",
      "action": "sync",
      "target": "/src",
      "exec": {
       "command": null
      },
      "ignore": [
       "node_modules"
      ]
     },
     {
      "path": "/srv/nt/many/package.json",
      "action": "rebuild",
      "exec": {
       "command": null
      }
     },
     {
      "path": "/srv/nt/many/c",
      "action": "sync+exec",
      "target": "/c",
      "exec": {
       "command": [
        "kill",
        "1"
       ]
      },
      "include": [
       "*.js"
      ],
      "initial_sync": true
     },
     {
      "path": "/srv/nt/many/d",
      "action": "sync+restart",
      "target": "/d",
      "exec": {
       "command": null
      }
     }
    ]
   },
   "cap_add": [
    "NET_ADMIN"
   ],
   "cap_drop": [
    "ALL"
   ],
   "cpus": 1.5,
   "cpuset": "0-1",
   "cpu_shares": 512,
   "command": null,
   "configs": [
    {
     "source": "c1"
    },
    {
     "source": "c2",
     "target": "/c2"
    }
   ],
   "container_name": "cn",
   "depends_on": {
    "db": {
     "condition": "service_started",
     "required": true
    },
    "db2": {
     "condition": "service_started",
     "required": true
    }
   },
   "deploy": {
    "mode": "replicated",
    "replicas": 1,
    "labels": {
     "a": "b"
    },
    "update_config": {
     "parallelism": 2,
     "delay": "10s",
     "order": "start-first"
    },
    "resources": {
     "limits": {
      "cpus": 1.5,
      "memory": "1073741824",
      "pids": 100
     },
     "reservations": {
      "cpus": 0.25,
      "memory": "1073741824",
      "devices": [
       {
        "capabilities": [
         "gpu"
        ],
        "count": -1
       },
       {
        "capabilities": [
         "gpu"
        ],
        "device_ids": [
         "0"
        ]
       }
      ]
     }
    },
    "restart_policy": {
     "condition": "on-failure",
     "delay": "5s",
     "max_attempts": 3,
     "window": "2m0s"
    },
    "placement": {
     "constraints": [
      "node.role==manager"
     ],
     "preferences": [
      {
       "spread": "node.labels.zone"
      }
     ]
    }
   },
   "devices": [
    {
     "source": "/dev/a",
     "target": "/dev/b",
     "permissions": "rwm"
    },
    {
     "source": "/dev/c",
     "target": "/dev/c",
     "permissions": "rwm"
    }
   ],
   "dns": [
    "8.8.8.8"
   ],
   "dns_opt": [
    "ndots:1"
   ],
   "dns_search": [
    "a.com"
   ],
   "domainname": "d",
   "entrypoint": [
    "sh",
    "-c"
   ],
   "environment": {
    "E": null,
    "FOO_SET": "value",
    "N": "1",
    "X": "env_wins"
   },
   "expose": [
    "80",
    "90-91"
   ],
   "group_add": [
    "wheel",
    "100"
   ],
   "hostname": "h",
   "healthcheck": {
    "test": [
     "CMD",
     "curl",
     "x"
    ],
    "start_interval": "1s"
   },
   "image": "nginx",
   "init": true,
   "ipc": "host",
   "logging": {
    "driver": "json-file",
    "options": {
     "max-size": "1m"
    }
   },
   "mem_limit": "1073741824",
   "mem_reservation": "1073741824",
   "networks": {
    "default": null
   },
   "oom_kill_disable": true,
   "oom_score_adj": -500,
   "pid": "host",
   "pids_limit": 100,
   "platform": "linux/amd64",
   "privileged": true,
   "pull_policy": "always",
   "read_only": true,
   "restart": "always",
   "secrets": [
    {
     "source": "s1",
     "target": "/run/secrets/s1"
    },
    {
     "source": "s1",
     "target": "/t",
     "uid": "1",
     "gid": "2",
     "mode": "0444"
    }
   ],
   "security_opt": [
    "no-new-privileges"
   ],
   "shm_size": "67108864",
   "stdin_open": true,
   "stop_signal": "SIGTERM",
   "sysctls": {
    "net.a": "1"
   },
   "tmpfs": [
    "/x"
   ],
   "tty": true,
   "user": "1000",
   "userns_mode": "host",
   "uts": "host",
   "volumes_from": [
    "db",
    "container:c1",
    "db2:ro"
   ],
   "working_dir": "/w",
   "post_start": [
    {
     "command": [
      "echo",
      "hi"
     ],
     "user": "root"
    }
   ],
   "pre_stop": [
    {
     "command": [
      "echo",
      "bye"
     ],
     "environment": {
      "A": "1"
     }
    }
   ]
  }
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_misc() {
        check(
            r#"name: misc
services:
  a:
    image: x
    links: [b]
    volumes:
      - {type: bind, source: ./d, target: /d/}
      - {type: volume, source: v, target: /v}
      - {type: volume, target: /anon, volume: {nocopy: true, subpath: s}}
      - {type: bind, source: ~/x, target: /x, bind: {propagation: rshared, create_host_path: false}}
      - {type: tmpfs, target: /t, tmpfs: {size: 1000, mode: 1777}}
      - "./e:/e:z,rshared,nocopy"
      - {type: image, source: img, target: /i, image: {subpath: p}}
      - "~/y:/y"
      - "/abs/../p:/p:rw"
      - "named:/n:nocopy"
    mem_limit: 1000
    cpus: 2
    stop_grace_period: 1h2m3.5s
    pull_policy: if_not_present
    command: ""
    entrypoint: []
    healthcheck: {test: [NONE], interval: 1d, timeout: 90s}
    annotations: {an: 1}
    cpu_percent: 50
    blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 1mb}], weight_device: [{path: /dev/sdb, weight: 100}]}
    credential_spec: {file: x.json}
    mem_swappiness: 60
    memswap_limit: -1
    gpus: all
    storage_opt: {size: 1G}
    scale: 3
    deploy: {replicas: 3}
    networks: [front]
    extra_hosts: {h2: ["1.1.1.1", "::1"], h1: 2.2.2.2}
    ulimits: {nofile: {soft: 10, hard: 20}}
    mac_address: 00:11:22:33:44:55
    runtime: runc
    isolation: default
    cgroup: host
    cgroup_parent: p
    device_cgroup_rules: ["c 1:3 mr"]
    external_links: [c]
    mem_reservation: 1g
    use_api_socket: true
    ports: ["8000-8010:80", "[::1]:80:80", "1.2.3.4::81", "9000-9001", {target: 80, published: 8080, host_ip: 0.0.0.0, app_protocol: http, name: web}]
  b:
    image: y
    build: {context: "https://github.com/a/b.git", ssh: {default: null}}
    network_mode: none
    ipc: "shareable"
    volumes: ["u:/u"]
networks:
  front: {external: true}
  unused: {}
  ext2: {external: {name: real}}
volumes:
  v: {external: true}
  u: {driver: local, driver_opts: {o: bind, device: ./dev, type: none}, labels: [a=b]}
  unusedv: {}
  named: {}
x-a: 1
x-b: {c: [1, "two"]}
"#,
            "misc",
            "/srv/nt/misc",
            r#"{
 "name": "misc",
 "networks": {
  "front": {
   "name": "front",
   "ipam": {},
   "external": true
  }
 },
 "services": {
  "a": {
   "annotations": {
    "an": "1"
   },
   "blkio_config": {
    "weight": 300,
    "weight_device": [
     {
      "Path": "/dev/sdb",
      "Weight": 100
     }
    ],
    "device_read_bps": [
     {
      "Path": "/dev/sda",
      "Rate": "1048576"
     }
    ]
   },
   "cgroup_parent": "p",
   "cgroup": "host",
   "cpu_percent": 50,
   "cpus": 2,
   "command": [],
   "credential_spec": {
    "file": "x.json"
   },
   "depends_on": {
    "b": {
     "condition": "service_started",
     "restart": true,
     "required": true
    }
   },
   "deploy": {
    "replicas": 3,
    "resources": {},
    "placement": {}
   },
   "device_cgroup_rules": [
    "c 1:3 mr"
   ],
   "entrypoint": [],
   "external_links": [
    "c"
   ],
   "extra_hosts": [
    "h1=2.2.2.2",
    "h2=1.1.1.1",
    "h2=::1"
   ],
   "gpus": [
    {
     "count": -1
    }
   ],
   "healthcheck": {
    "test": [
     "NONE"
    ],
    "timeout": "1m30s",
    "interval": "24h0m0s"
   },
   "image": "x",
   "isolation": "default",
   "links": [
    "b"
   ],
   "mem_limit": "1000",
   "mem_reservation": "1073741824",
   "memswap_limit": "-1",
   "mem_swappiness": "60",
   "mac_address": "00:11:22:33:44:55",
   "networks": {
    "front": null
   },
   "ports": [
    {
     "mode": "ingress",
     "target": 80,
     "published": "8000-8010",
     "protocol": "tcp"
    },
    {
     "mode": "ingress",
     "host_ip": "::1",
     "target": 80,
     "published": "80",
     "protocol": "tcp"
    },
    {
     "mode": "ingress",
     "host_ip": "1.2.3.4",
     "target": 81,
     "protocol": "tcp"
    },
    {
     "mode": "ingress",
     "target": 9000,
     "protocol": "tcp"
    },
    {
     "mode": "ingress",
     "target": 9001,
     "protocol": "tcp"
    },
    {
     "name": "web",
     "mode": "ingress",
     "host_ip": "0.0.0.0",
     "target": 80,
     "published": "8080",
     "protocol": "tcp",
     "app_protocol": "http"
    }
   ],
   "pull_policy": "missing",
   "runtime": "runc",
   "scale": 3,
   "stop_grace_period": "1h2m3.5s",
   "storage_opt": {
    "size": "1G"
   },
   "ulimits": {
    "nofile": {
     "soft": 10,
     "hard": 20
    }
   },
   "use_api_socket": true,
   "volumes": [
    {
     "type": "bind",
     "source": "/srv/nt/misc/d",
     "target": "/d"
    },
    {
     "type": "volume",
     "source": "v",
     "target": "/v"
    },
    {
     "type": "volume",
     "target": "/anon",
     "volume": {
      "nocopy": true,
      "subpath": "s"
     }
    },
    {
     "type": "bind",
     "source": "/root/x",
     "target": "/x",
     "bind": {
      "propagation": "rshared"
     }
    },
    {
     "type": "tmpfs",
     "target": "/t",
     "tmpfs": {
      "size": "1000",
      "mode": 1777
     }
    },
    {
     "type": "bind",
     "source": "/srv/nt/misc/e",
     "target": "/e",
     "bind": {
      "selinux": "z",
      "propagation": "rshared",
      "create_host_path": true
     },
     "volume": {
      "nocopy": true
     }
    },
    {
     "type": "image",
     "source": "img",
     "target": "/i",
     "image": {
      "subpath": "p"
     }
    },
    {
     "type": "bind",
     "source": "/root/y",
     "target": "/y",
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "bind",
     "source": "/abs/../p",
     "target": "/p",
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "volume",
     "source": "named",
     "target": "/n",
     "volume": {
      "nocopy": true
     }
    }
   ]
  },
  "b": {
   "build": {
    "context": "https://github.com/a/b.git",
    "dockerfile": "Dockerfile",
    "ssh": [
     "default"
    ]
   },
   "command": null,
   "entrypoint": null,
   "image": "y",
   "ipc": "shareable",
   "network_mode": "none",
   "volumes": [
    {
     "type": "volume",
     "target": "u:/u",
     "volume": {}
    }
   ]
  }
 },
 "volumes": {
  "named": {
   "name": "misc_named"
  },
  "v": {
   "name": "v",
   "external": true
  }
 },
 "x-a": 1,
 "x-b": {
  "c": [
   1,
   "two"
  ]
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_ns() {
        check(
            r#"name: ns
services:
  a:
    image: x
    network_mode: "service:b"
    pid: "service:c"
  b:
    image: x
    networks:
      n1:
        ipv4_address: 10.1.0.5
        ipv6_address: "fd00::5"
        mac_address: 02:42:ac:11:00:02
        link_local_ips: [169.254.1.1]
        driver_opts: {a: 1}
        gw_priority: 10
        interface_name: eth9
      n2: {}
      n3:
    secrets: [ext, {source: s2}]
    configs: [cfg]
  c:
    image: x
    depends_on:
      b: {condition: service_healthy, restart: true}
      d: {condition: service_completed_successfully, required: false}
    uts: "service:b"
  d:
    image: x
    networks: {}
networks:
  n1:
    driver: bridge
    driver_opts: {com.docker.network.bridge.name: br9}
    ipam: {driver: default, config: [{subnet: 10.1.0.0/16, gateway: 10.1.0.1, ip_range: 10.1.0.0/24, aux_addresses: {host1: 10.1.0.2}}], options: {o: "1"}}
    internal: true
    attachable: true
    enable_ipv6: true
    labels: {x: y}
  n2: {name: custom, external: true}
  n3: {external: {name: legacyname}}
secrets:
  ext: {external: true}
  s2: {file: /abs/secret, name: given}
configs:
  cfg: {environment: CFG_ENV}
"#,
            "ns",
            "/srv/nt/ns",
            r#"{
 "configs": {
  "cfg": {
   "name": "ns_cfg",
   "environment": "CFG_ENV"
  }
 },
 "name": "ns",
 "networks": {
  "default": {
   "name": "ns_default",
   "ipam": {}
  },
  "n1": {
   "name": "ns_n1",
   "driver": "bridge",
   "driver_opts": {
    "com.docker.network.bridge.name": "br9"
   },
   "ipam": {
    "driver": "default",
    "config": [
     {
      "subnet": "10.1.0.0/16",
      "gateway": "10.1.0.1",
      "ip_range": "10.1.0.0/24",
      "aux_addresses": {
       "host1": "10.1.0.2"
      }
     }
    ]
   },
   "internal": true,
   "attachable": true,
   "labels": {
    "x": "y"
   },
   "enable_ipv6": true
  },
  "n2": {
   "name": "custom",
   "ipam": {},
   "external": true
  },
  "n3": {
   "name": "legacyname",
   "ipam": {},
   "external": true
  }
 },
 "secrets": {
  "ext": {
   "name": "ext",
   "external": true
  },
  "s2": {
   "name": "given",
   "file": "/abs/secret"
  }
 },
 "services": {
  "a": {
   "command": null,
   "depends_on": {
    "b": {
     "condition": "service_started",
     "restart": true,
     "required": true
    },
    "c": {
     "condition": "service_started",
     "restart": true,
     "required": true
    }
   },
   "entrypoint": null,
   "image": "x",
   "network_mode": "service:b",
   "pid": "service:c"
  },
  "b": {
   "command": null,
   "configs": [
    {
     "source": "cfg"
    }
   ],
   "entrypoint": null,
   "image": "x",
   "networks": {
    "n1": {
     "driver_opts": {
      "a": "1"
     },
     "gw_priority": 10,
     "interface_name": "eth9",
     "ipv4_address": "10.1.0.5",
     "ipv6_address": "fd00::5",
     "link_local_ips": [
      "169.254.1.1"
     ],
     "mac_address": "02:42:ac:11:00:02"
    },
    "n2": {},
    "n3": null
   },
   "secrets": [
    {
     "source": "ext",
     "target": "/run/secrets/ext"
    },
    {
     "source": "s2",
     "target": "/run/secrets/s2"
    }
   ]
  },
  "c": {
   "command": null,
   "depends_on": {
    "b": {
     "condition": "service_healthy",
     "restart": true,
     "required": true
    },
    "d": {
     "condition": "service_completed_successfully",
     "required": false
    }
   },
   "entrypoint": null,
   "image": "x",
   "networks": {
    "default": null
   },
   "uts": "service:b"
  },
  "d": {
   "command": null,
   "entrypoint": null,
   "image": "x",
   "networks": {
    "default": null
   }
  }
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_env_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.env"),
            "FOO=bar\nX=from_file\n# c\nexport Q=\"quoted v\"\nZ=1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.env"), "Z=2\nB=fromb\n").unwrap();
        let d = dir.path().to_str().unwrap();
        check(
            r#"name: envfile
services:
  a:
    image: x
    env_file: [a.env, {path: b.env, required: false}, {path: missing.env, required: false}]
    environment: [X=own, B, Y]
"#,
            "envfile",
            d,
            r#"{
 "name": "envfile",
 "networks": {
  "default": {
   "name": "envfile_default",
   "ipam": {}
  }
 },
 "services": {
  "a": {
   "command": null,
   "entrypoint": null,
   "environment": {
    "B": null,
    "FOO": "bar",
    "Q": "quoted v",
    "X": "own",
    "Y": "shell",
    "Z": "2"
   },
   "image": "x",
   "networks": {
    "default": null
   }
  }
 }
}"#,
        );
    }

    /// Like `check`, in a temporary directory holding `files`; `refdir` (where v2 ran) in
    /// the expected output stands for that directory.
    fn check_in_tempdir(
        files: &[(&str, &str)],
        yaml: &str,
        name: &str,
        refdir: &str,
        expected: &str,
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (f, text) in files {
            std::fs::write(dir.path().join(f), text).unwrap();
        }
        let d = dir.path().to_str().unwrap();
        check(yaml, name, d, &expected.replace(refdir, d));
    }

    #[test]
    fn matches_v2_more() {
        check_in_tempdir(
            &[
                ("l.env", "L1=a\nL2=b\n"),
                ("raw.env", "R=$NOT ${X} \"q\"\n"),
            ],
            r#"name: more
services:
  a:
    image: x
    label_file: [l.env]
    labels: {L2: own}
    env_file: [{path: raw.env, format: raw}]
    build: {dockerfile: Custom, secrets: [{source: bs, target: /t, mode: 0o400}], args: {A: , B: 2, FOO_SET: }}
    network_mode: "container:foo"
    tmpfs: [/a, /b]
    gpus: [{driver: nvidia, count: 2}, {capabilities: [gpu]}]
    volumes: [{type: volume, source: ev, target: /ev}, {type: volume, source: legacy, target: /l}]
    models: [m1]
    secrets: [se]
  p:
    provider: {type: awesomecloud, options: {type: mysql, size: [1, 2]}}
secrets:
  se: {environment: FOO_SET}
  bs: {file: ./bs.txt}
volumes:
  ev: {external: true, name: real_ev}
  legacy: {external: {name: oldname}}
models:
  m1: {model: ai/smollm2, context_size: 1024}
"#,
            "more",
            "/srv/nt/more",
            r#"{
 "name": "more",
 "secrets": {
  "bs": {
   "name": "more_bs",
   "file": "/srv/nt/more/bs.txt"
  },
  "se": {
   "name": "more_se",
   "environment": "FOO_SET"
  }
 },
 "services": {
  "a": {
   "build": {
    "context": "/srv/nt/more",
    "dockerfile": "Custom",
    "args": {
     "B": "2",
     "FOO_SET": "value"
    },
    "secrets": [
     {
      "source": "bs",
      "target": "/t",
      "mode": "0400"
     }
    ]
   },
   "command": null,
   "entrypoint": null,
   "environment": {
    "R": "$$NOT $${X} \"q\""
   },
   "gpus": [
    {
     "driver": "nvidia",
     "count": 2
    },
    {
     "capabilities": [
      "gpu"
     ],
     "count": -1
    }
   ],
   "image": "x",
   "labels": {
    "L1": "a",
    "L2": "own"
   },
   "models": {
    "m1": null
   },
   "network_mode": "container:foo",
   "secrets": [
    {
     "source": "se",
     "target": "/run/secrets/se"
    }
   ],
   "tmpfs": [
    "/a",
    "/b"
   ],
   "volumes": [
    {
     "type": "volume",
     "source": "ev",
     "target": "/ev"
    },
    {
     "type": "volume",
     "source": "legacy",
     "target": "/l"
    }
   ]
  },
  "p": {
   "command": null,
   "entrypoint": null,
   "provider": {
    "type": "awesomecloud",
    "options": {
     "size": [
      "1",
      "2"
     ],
     "type": [
      "mysql"
     ]
    }
   }
  }
 },
 "volumes": {
  "ev": {
   "name": "real_ev",
   "external": true
  },
  "legacy": {
   "name": "oldname",
   "external": true
  }
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_e() {
        check(
            r#"services:
  a:
    image: x
    secrets: [{source: s, target: foo}]
    volumes: [".:/app", "../up:/up", "/abs:/abs:ro,Z"]
    environment: {F: 1.0, G: 1.50, H: 1e3, I: 0x10, J: true, K: "", L: 0.1}
    labels: {F: 1.0, N: null}
    extra_hosts: ["h=[::1]", "m:1.1.1.1,2.2.2.2"]
    dns_search: x.com
    stop_grace_period: 0s
    healthcheck: {retries: 0, interval: 0s}
    privileged: false
    tty: false
    oom_score_adj: 0
    scale: 0
    ports: ["0:80"]
secrets:
  s: {file: s.txt}
"#,
            "e",
            "/srv/nt/e",
            r#"{
 "name": "e",
 "networks": {
  "default": {
   "name": "e_default",
   "ipam": {}
  }
 },
 "secrets": {
  "s": {
   "name": "e_s",
   "file": "/srv/nt/e/s.txt"
  }
 },
 "services": {
  "a": {
   "command": null,
   "dns_search": [
    "x.com"
   ],
   "entrypoint": null,
   "environment": {
    "F": "1",
    "G": "1.5",
    "H": "1000",
    "I": "16",
    "J": "true",
    "K": "",
    "L": "0.1"
   },
   "extra_hosts": [
    "h=::1",
    "m=1.1.1.1",
    "m=2.2.2.2"
   ],
   "healthcheck": {
    "interval": "0s",
    "retries": 0
   },
   "image": "x",
   "labels": {
    "F": "1",
    "N": ""
   },
   "networks": {
    "default": null
   },
   "ports": [
    {
     "mode": "ingress",
     "target": 80,
     "published": "0",
     "protocol": "tcp"
    }
   ],
   "scale": 0,
   "secrets": [
    {
     "source": "s",
     "target": "foo"
    }
   ],
   "stop_grace_period": "0s",
   "volumes": [
    {
     "type": "bind",
     "source": "/srv/nt/e",
     "target": "/app",
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "bind",
     "source": "/srv/nt/up",
     "target": "/up",
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "bind",
     "source": "/abs",
     "target": "/abs",
     "read_only": true,
     "bind": {
      "selinux": "Z",
      "create_host_path": true
     }
    }
   ]
  }
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_scale() {
        check(
            r#"services:
  a:
    image: x
    scale: 2
    deploy: {resources: {limits: {memory: 1g}}}
    mem_limit: 1g


  b:
    image: x
    deploy: {replicas: 0, resources: {reservations: {memory: 5m}}}
    mem_reservation: 5m
    pull_policy: never
    restart: unless-stopped
"#,
            "scale",
            "/srv/nt/scale",
            r#"{
 "name": "scale",
 "networks": {
  "default": {
   "name": "scale_default",
   "ipam": {}
  }
 },
 "services": {
  "a": {
   "command": null,
   "deploy": {
    "replicas": 2,
    "resources": {
     "limits": {
      "memory": "1073741824"
     }
    },
    "placement": {}
   },
   "entrypoint": null,
   "image": "x",
   "mem_limit": "1073741824",
   "networks": {
    "default": null
   },
   "scale": 2
  },
  "b": {
   "command": null,
   "deploy": {
    "replicas": 0,
    "resources": {
     "reservations": {
      "memory": "5242880"
     }
    },
    "placement": {}
   },
   "entrypoint": null,
   "image": "x",
   "mem_reservation": "5242880",
   "networks": {
    "default": null
   },
   "pull_policy": "never",
   "restart": "unless-stopped"
  }
 }
}"#,
        );
    }

    #[test]
    fn matches_v2_f() {
        check(
            r#"name: f
services:
  a:
    image: x
    build: {context: ../other, dockerfile: ../Dockerfile.x, additional_contexts: [base=./b, img=docker-image://alpine:3, svc=service:a2]}
    volumes:
      - "~:/home/u"
      - {type: bind, source: /h, target: /h, bind: {create_host_path: true, selinux: z}}
      - {type: tmpfs, target: /t, tmpfs: {size: 1g}}
      - {type: volume, source: vv, target: /vv, read_only: true, volume: {labels: {a: b}}}
    develop:
      watch: [{path: /abs/w, action: restart}]
    configs: [{source: c, target: /etc/c, mode: 0o600, uid: "0"}]
    secrets: [{source: s}]
    working_dir: /app
    healthcheck:
      test: ["CMD-SHELL", "curl -f http://localhost || exit 1"]
      interval: 30s
      timeout: 10s
      retries: 5
      start_period: 1m
  a2:
    image: y
    build: .
    entrypoint: /bin/sh -c "echo 'a b'"
    command: ["--flag", "--n=1"]
    environment:
      - EMPTY=
      - WITH_EQ=a=b
    expose: ["3000"]
    restart: "no"
configs:
  c: {file: ~/c.conf}
secrets:
  s: {external: true, name: real_s}
volumes:
  vv: {name: custom_vv, driver: local, labels: {l: v}}
"#,
            "f",
            "/srv/nt/f",
            r#"{
 "configs": {
  "c": {
   "name": "f_c",
   "file": "/root/c.conf"
  }
 },
 "name": "f",
 "networks": {
  "default": {
   "name": "f_default",
   "ipam": {}
  }
 },
 "secrets": {
  "s": {
   "name": "real_s",
   "external": true
  }
 },
 "services": {
  "a": {
   "build": {
    "context": "/srv/nt/other",
    "dockerfile": "../Dockerfile.x",
    "additional_contexts": {
     "base": "/srv/nt/f/b",
     "img": "docker-image://alpine:3",
     "svc": "service:a2"
    }
   },
   "develop": {
    "watch": [
     {
      "path": "/abs/w",
      "action": "restart",
      "exec": {
       "command": null
      }
     }
    ]
   },
   "command": null,
   "configs": [
    {
     "source": "c",
     "target": "/etc/c",
     "uid": "0",
     "mode": "0600"
    }
   ],
   "entrypoint": null,
   "healthcheck": {
    "test": [
     "CMD-SHELL",
     "curl -f http://localhost || exit 1"
    ],
    "timeout": "10s",
    "interval": "30s",
    "retries": 5,
    "start_period": "1m0s"
   },
   "image": "x",
   "networks": {
    "default": null
   },
   "secrets": [
    {
     "source": "s",
     "target": "/run/secrets/s"
    }
   ],
   "volumes": [
    {
     "type": "bind",
     "source": "/root",
     "target": "/home/u",
     "bind": {
      "create_host_path": true
     }
    },
    {
     "type": "bind",
     "source": "/h",
     "target": "/h",
     "bind": {
      "selinux": "z",
      "create_host_path": true
     }
    },
    {
     "type": "tmpfs",
     "target": "/t",
     "tmpfs": {
      "size": "1073741824"
     }
    },
    {
     "type": "volume",
     "source": "vv",
     "target": "/vv",
     "read_only": true,
     "volume": {
      "labels": {
       "a": "b"
      }
     }
    }
   ],
   "working_dir": "/app"
  },
  "a2": {
   "build": {
    "context": "/srv/nt/f",
    "dockerfile": "Dockerfile"
   },
   "command": [
    "--flag",
    "--n=1"
   ],
   "entrypoint": [
    "/bin/sh",
    "-c",
    "echo 'a b'"
   ],
   "environment": {
    "EMPTY": "",
    "WITH_EQ": "a=b"
   },
   "expose": [
    "3000"
   ],
   "image": "y",
   "networks": {
    "default": null
   },
   "restart": "no"
  }
 },
 "volumes": {
  "vv": {
   "name": "custom_vv",
   "driver": "local",
   "labels": {
    "l": "v"
   }
  }
 }
}"#,
        );
    }

    #[test]
    fn missing_required_env_file_is_an_error() {
        let mut p: Project =
            serde_yaml_ng::from_str("services: {a: {image: x, env_file: nope.env}}").unwrap();
        let e = normalize(&mut p, &ctx("p", "/nonexistent")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "env file /nonexistent/nope.env not found: stat /nonexistent/nope.env: no such file or directory"
        );
    }

    #[test]
    fn distinct_limits_are_errors() {
        let err = |y: &str| {
            let mut p: Project = serde_yaml_ng::from_str(y).unwrap();
            normalize(&mut p, &ctx("p", "/srv/p"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(
                "services: {web: {image: x, mem_limit: 512m, deploy: {resources: {limits: {cpus: '0.5'}}}}}"
            ),
            "services.web.mem_limit: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory': invalid compose project"
        );
        assert_eq!(
            err("services: {web: {image: x, scale: 2, deploy: {replicas: 3}}}"),
            "services.web.scale: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project"
        );
        assert_eq!(
            err("services: {web: {image: x, cpus: 1, deploy: {resources: {limits: {cpus: 2}}}}}"),
            "services.web.cpus: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus': invalid compose project"
        );
        assert_eq!(
            err("services: {web: {image: x}}\nnetworks: {n: {name: a, external: {name: b}}}"),
            "networks.n.name: name and external.name conflict; only use name"
        );
    }
}

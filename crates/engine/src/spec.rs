//! A compose service and its image's config turned into a runtime spec and the mounts that
//! still need host paths, as Docker Compose would configure the container. Pure: no files,
//! no kernel; the caller passes what it read (the image's `/etc/passwd`, the host's caps).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use compose::model::service::Service;
use compose::model::volumes::{ServiceVolume, VolumeType};
use oci_spec::runtime::{
    Capability, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    Mount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Spec, UserBuilder,
};

use crate::image_config::ImageConfig;
use crate::naming::labels;
use crate::signal;

/// Why a service cannot become a container spec. Each names the service.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("service {service}: no command: neither the service nor its image gives one")]
    NoCommand { service: String },
    #[error("service {service}: {what} is not supported yet")]
    Unsupported { service: String, what: String },
    #[error("service {service}: invalid {field} {value:?}: {reason}")]
    Invalid {
        service: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("service {service}: {source}")]
    Runtime {
        service: String,
        #[source]
        source: compose_runtime::Error,
    },
}

type Result<T> = std::result::Result<T, SpecError>;

/// What the spec is made from.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub project: &'a str,
    pub service_name: &'a str,
    pub service: &'a Service,
    pub image: &'a ImageConfig,
    /// The reference the service names (`busybox`), for the image label.
    pub image_ref: &'a str,
    pub number: u32,
    pub container_id: &'a str,
    pub config_hash: &'a str,
    pub working_dir: &'a str,
    pub config_files: &'a str,
    pub oneoff: bool,
    /// The image's `/etc/passwd` and `/etc/group`, to resolve user and group names.
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
    /// The capabilities the host can grant (its bounding set), for `privileged`.
    pub host_caps: u64,
}

/// A mount that needs a host path the engine provides (a volume dir or a bind source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountRequest {
    /// A named volume (its key in the project's `volumes:`), or an anonymous one (`None`).
    Volume {
        key: Option<String>,
        target: String,
        read_only: bool,
        nocopy: bool,
        subpath: String,
    },
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
        /// Make a missing source dir (the short syntax does, as Docker does).
        create_host_path: bool,
        propagation: String,
    },
}

impl MountRequest {
    pub fn target(&self) -> &str {
        match self {
            MountRequest::Volume { target, .. } | MountRequest::Bind { target, .. } => target,
        }
    }
}

/// A container's spec and what the engine does around it.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The runtime spec, without the bind and volume mounts of [`ContainerSpec::mounts`].
    pub spec: Spec,
    pub mounts: Vec<MountRequest>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: i32,
    pub stop_grace: Duration,
    pub tty: bool,
    pub stdin_open: bool,
    /// Exposed ports (`80/tcp`), sorted, for `ps`.
    pub ports: Vec<String>,
    /// The command line as `ps` shows it.
    pub command: Vec<String>,
    /// `init: true`: a reaper runs as the container's PID 1 (the runtime's, not a binary
    /// from the image).
    pub init: bool,
}

/// Docker's default stop grace period.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Builds the container's spec.
pub fn build(input: &Input<'_>) -> Result<ContainerSpec> {
    let svc = input.service;
    let mut spec = compose_runtime::spec::docker_default(&[]).map_err(|e| rt(input, e))?;
    let args = command(input)?;
    let env = environment(input);
    let (uid, gid, extra) = user(input)?;
    let caps = capabilities(input)?;
    {
        let Some(process) = spec.process_mut().as_mut() else {
            return Err(invalid(input, "process", "", "default spec has none"));
        };
        process.set_args(Some(args.clone()));
        process.set_env(Some(env));
        process.set_cwd(PathBuf::from(cwd(input)));
        let user = UserBuilder::default()
            .uid(uid)
            .gid(gid)
            .additional_gids(extra)
            .build()
            .map_err(|e| invalid(input, "user", &svc.user, &e.to_string()))?;
        process.set_user(user);
        process.set_rlimits(Some(rlimits(input)?));
        if let Some(mut c) = process.capabilities().clone() {
            c.set_bounding(Some(caps.clone()));
            c.set_effective(Some(caps.clone()));
            c.set_permitted(Some(caps));
            process.set_capabilities(Some(c));
        }
        if svc.privileged {
            // Docker's privileged mode lifts no_new_privs only via security_opt; keep it.
            process.set_no_new_privileges(Some(true));
        }
        if svc.oom_score_adj != 0 {
            process.set_oom_score_adj(Some(svc.oom_score_adj as i32));
        }
    }
    spec.set_hostname(Some(hostname(input)));
    if svc.read_only
        && let Some(root) = spec.root_mut().as_mut()
    {
        root.set_readonly(Some(true));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    set_shm_size(input, &mut mounts)?;
    mounts.extend(tmpfs_mounts(input)?);
    let requests = mount_requests(input, &mut mounts)?;
    spec.set_mounts(Some(mounts));
    linux(input, &mut spec)?;
    Ok(ContainerSpec {
        spec,
        mounts: requests,
        labels: container_labels(input),
        stop_signal: stop_signal(input)?,
        stop_grace: svc
            .stop_grace_period
            .map(|d| d.as_std())
            .unwrap_or(DEFAULT_STOP_GRACE),
        tty: svc.tty,
        stdin_open: svc.stdin_open,
        ports: exposed(input),
        command: args,
        init: svc.init == Some(true),
    })
}

fn rt(input: &Input<'_>, source: compose_runtime::Error) -> SpecError {
    SpecError::Runtime {
        service: input.service_name.to_string(),
        source,
    }
}

fn invalid(input: &Input<'_>, field: &'static str, value: &str, reason: &str) -> SpecError {
    SpecError::Invalid {
        service: input.service_name.to_string(),
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn unsupported(input: &Input<'_>, what: &str) -> SpecError {
    SpecError::Unsupported {
        service: input.service_name.to_string(),
        what: what.to_string(),
    }
}

/// Entrypoint then command: the service's entrypoint replaces the image's and drops the
/// image's command; the service's command alone keeps the image's entrypoint.
fn command(input: &Input<'_>) -> Result<Vec<String>> {
    let svc = input.service;
    let img = input.image;
    let (entry, cmd) = match &svc.entrypoint {
        Some(e) => (e.clone(), svc.command.clone().unwrap_or_default()),
        None => (
            img.entrypoint.clone().unwrap_or_default(),
            svc.command
                .clone()
                .or_else(|| img.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    let args: Vec<String> = entry.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand {
            service: input.service_name.to_string(),
        });
    }
    Ok(args)
}

/// The image's env, then the service's `environment` (which the loader already merged with
/// `env_file` and resolved against the host: a `None` left there is unset and dropped).
/// PATH and HOSTNAME default as in Docker; TERM with a tty.
fn environment(input: &Input<'_>) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut vals: HashMap<String, String> = HashMap::new();
    let mut set = |k: &str, v: &str| {
        if !vals.contains_key(k) {
            order.push(k.to_string());
        }
        vals.insert(k.to_string(), v.to_string());
    };
    for e in &input.image.env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(k, v);
    }
    for (k, v) in &input.service.environment {
        if let Some(v) = v {
            set(k, v);
        }
    }
    let mut out: Vec<String> = Vec::new();
    if !vals.contains_key("PATH") {
        out.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !vals.contains_key("HOSTNAME") {
        out.push(format!("HOSTNAME={}", hostname(input)));
    }
    if input.service.tty && !vals.contains_key("TERM") {
        out.push("TERM=xterm".into());
    }
    for k in order {
        let v = vals.get(&k).map(String::as_str).unwrap_or_default();
        out.push(format!("{k}={v}"));
    }
    out
}

fn cwd(input: &Input<'_>) -> String {
    [&input.service.working_dir, &input.image.working_dir]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into())
}

/// The hostname: `hostname:`, else the first 12 characters of the id, as Docker does.
fn hostname(input: &Input<'_>) -> String {
    if input.service.hostname.is_empty() {
        input.container_id.chars().take(12).collect()
    } else {
        input.service.hostname.clone()
    }
}

/// A passwd or group line's fields.
fn entries(file: Option<&str>) -> impl Iterator<Item = Vec<&str>> {
    file.unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
}

/// `user:` (else the image's) as uid, gid and the supplementary groups the passwd and
/// group files give.
fn user(input: &Input<'_>) -> Result<(u32, u32, Vec<u32>)> {
    let raw = if input.service.user.is_empty() {
        &input.image.user
    } else {
        &input.service.user
    };
    if raw.is_empty() {
        return Ok((0, 0, supplementary(input, "root", 0)));
    }
    let (u, g) = match raw.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (raw.as_str(), None),
    };
    let bad = |reason: &str| invalid(input, "user", raw, reason);
    let pw = entries(input.passwd).find(|f| f[0] == u || f[2] == u);
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => pw
            .as_ref()
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| bad("no such user in the image's /etc/passwd"))?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => entries(input.group)
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| bad("no such group in the image's /etc/group"))?,
        },
        None => pw.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    let name = pw.map(|f| f[0]).unwrap_or(u);
    let extra = if g.is_some() {
        Vec::new()
    } else {
        supplementary(input, name, gid)
    };
    Ok((uid, gid, extra))
}

/// The groups that list `name` as a member, other than its primary group.
fn supplementary(input: &Input<'_>, name: &str, gid: u32) -> Vec<u32> {
    entries(input.group)
        .filter(|f| f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .filter(|g| *g != gid)
        .collect()
}

fn cap_name(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn parse_cap(input: &Input<'_>, s: &str) -> Result<Capability> {
    cap_name(s)
        .trim_start_matches("CAP_")
        .parse::<Capability>()
        .map_err(|_| invalid(input, "capability", s, "unknown capability"))
}

fn all_caps(mask: u64) -> HashSet<Capability> {
    compose_runtime::caps::names_of(mask)
        .iter()
        .filter_map(|n| n.trim_start_matches("CAP_").parse().ok())
        .collect()
}

/// Docker's defaults, or every capability the host has with `privileged`; then `cap_add`,
/// then `cap_drop` (`ALL` in either).
fn capabilities(input: &Input<'_>) -> Result<HashSet<Capability>> {
    let svc = input.service;
    let mut caps = if svc.privileged {
        all_caps(input.host_caps)
    } else {
        compose_runtime::spec::default_capabilities()
    };
    for c in &svc.cap_add {
        if cap_name(c) == "CAP_ALL" {
            caps = all_caps(input.host_caps);
        } else {
            caps.insert(parse_cap(input, c)?);
        }
    }
    for c in &svc.cap_drop {
        if cap_name(c) == "CAP_ALL" {
            caps.clear();
        } else {
            caps.remove(&parse_cap(input, c)?);
        }
    }
    Ok(caps)
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    Some(match name {
        "as" => PosixRlimitType::RlimitAs,
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        _ => return None,
    })
}

fn rlimits(input: &Input<'_>) -> Result<Vec<PosixRlimit>> {
    let mut out = Vec::new();
    for (name, limit) in &input.service.ulimits {
        let (soft, hard) = limit.limits();
        let text = format!("{name}={soft}:{hard}");
        let typ = rlimit_type(name).ok_or_else(|| invalid(input, "ulimit", &text, "unknown"))?;
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        let r = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(as_u64(soft))
            .hard(as_u64(hard))
            .build()
            .map_err(|e| invalid(input, "ulimit", &text, &e.to_string()))?;
        out.push(r);
    }
    Ok(out)
}

fn mount(dest: &str, typ: &str, source: &str, options: Vec<String>) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options));
    m
}

/// `shm_size` replaces the size of Docker's 64 MiB `/dev/shm`.
fn set_shm_size(input: &Input<'_>, mounts: &mut [Mount]) -> Result<()> {
    let Some(size) = input.service.shm_size.filter(|s| !s.is_zero()) else {
        return Ok(());
    };
    if size.bytes() < 0 {
        return Err(invalid(
            input,
            "shm_size",
            &size.bytes().to_string(),
            "negative",
        ));
    }
    for m in mounts.iter_mut() {
        if m.destination().as_os_str() == "/dev/shm" {
            let mut opts: Vec<String> = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| !o.starts_with("size="))
                .collect();
            opts.push(format!("size={}", size.bytes()));
            m.set_options(Some(opts));
        }
    }
    Ok(())
}

fn check_target(input: &Input<'_>, field: &'static str, target: &str) -> Result<()> {
    if !target.starts_with('/') {
        return Err(invalid(input, field, target, "the target must be absolute"));
    }
    if target.split('/').any(|c| c == "..") {
        return Err(invalid(
            input,
            field,
            target,
            "the target must not hold '..'",
        ));
    }
    Ok(())
}

/// `tmpfs:` entries (`/path[:options]`), noexec,nosuid,nodev by default as in Docker.
fn tmpfs_mounts(input: &Input<'_>) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for t in &input.service.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        check_target(input, "tmpfs", path)?;
        let mut options: Vec<String> = ["noexec", "nosuid", "nodev"].map(String::from).to_vec();
        options.extend(opts.split(',').filter(|s| !s.is_empty()).map(String::from));
        out.push(mount(path, "tmpfs", "tmpfs", options));
    }
    Ok(out)
}

/// The service's `volumes:`: tmpfs ones go straight into the spec, binds and volumes become
/// requests; then anonymous volumes for the image's `VOLUME`s no mount covers.
fn mount_requests(input: &Input<'_>, mounts: &mut Vec<Mount>) -> Result<Vec<MountRequest>> {
    let mut out = Vec::new();
    for v in &input.service.volumes {
        check_target(input, "volume target", &v.target)?;
        match v.kind {
            VolumeType::Tmpfs => mounts.push(volume_tmpfs(v)),
            VolumeType::Bind => out.push(bind_request(input, v)?),
            VolumeType::Volume => out.push(MountRequest::Volume {
                key: (!v.source.is_empty()).then(|| v.source.clone()),
                target: v.target.clone(),
                read_only: v.read_only,
                nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
                subpath: v
                    .volume
                    .as_ref()
                    .map(|o| o.subpath.clone())
                    .unwrap_or_default(),
            }),
            other => {
                return Err(unsupported(
                    input,
                    &format!("volume type {other:?} ({})", v.target),
                ));
            }
        }
    }
    let covered: HashSet<String> = input
        .service
        .volumes
        .iter()
        .map(|v| v.target.trim_end_matches('/').to_string())
        .collect();
    for path in &input.image.volumes {
        let p = path.trim_end_matches('/');
        if !covered.contains(p) && p.starts_with('/') {
            out.push(MountRequest::Volume {
                key: None,
                target: p.to_string(),
                read_only: false,
                nocopy: false,
                subpath: String::new(),
            });
        }
    }
    Ok(out)
}

fn volume_tmpfs(v: &ServiceVolume) -> Mount {
    let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
    if let Some(t) = &v.tmpfs {
        if !t.size.is_zero() {
            options.push(format!("size={}", t.size.bytes()));
        }
        if t.mode != 0 {
            options.push(format!("mode={:o}", t.mode));
        }
    }
    if v.read_only {
        options.push("ro".into());
    }
    mount(&v.target, "tmpfs", "tmpfs", options)
}

fn bind_request(input: &Input<'_>, v: &ServiceVolume) -> Result<MountRequest> {
    let source = PathBuf::from(&v.source);
    if !source.is_absolute() {
        return Err(invalid(
            input,
            "bind source",
            &v.source,
            "not absolute after normalization",
        ));
    }
    let bind = v.bind.clone().unwrap_or_default();
    Ok(MountRequest::Bind {
        source,
        target: v.target.clone(),
        read_only: v.read_only,
        create_host_path: bind.create_host_path,
        propagation: bind.propagation,
    })
}

/// Resources, sysctls: the `linux` section.
fn linux(input: &Input<'_>, spec: &mut Spec) -> Result<()> {
    let svc = input.service;
    let limits = svc.deploy.as_ref().and_then(|d| d.resources.limits.clone());
    let reservations = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.clone());
    let err = |field: &'static str| {
        move |e: oci_spec::OciSpecError| SpecError::Invalid {
            service: input.service_name.to_string(),
            field,
            value: String::new(),
            reason: e.to_string(),
        }
    };

    let mem_limit = svc
        .mem_limit
        .map(|b| b.bytes())
        .filter(|b| *b > 0)
        .or_else(|| limits.as_ref().map(|l| l.memory.bytes()).filter(|b| *b > 0));
    let mem_res = svc
        .mem_reservation
        .map(|b| b.bytes())
        .filter(|b| *b > 0)
        .or_else(|| {
            reservations
                .as_ref()
                .map(|l| l.memory.bytes())
                .filter(|b| *b > 0)
        });
    let swap = svc.memswap_limit.map(|b| b.bytes()).filter(|b| *b != 0);
    if swap.is_some() && mem_limit.is_none() {
        return Err(invalid(
            input,
            "memswap_limit",
            &swap.unwrap_or_default().to_string(),
            "needs mem_limit",
        ));
    }
    let mut mem = LinuxMemoryBuilder::default();
    if let Some(l) = mem_limit {
        mem = mem.limit(l);
    }
    if let Some(s) = swap {
        mem = mem.swap(s);
    }
    if let Some(r) = mem_res {
        mem = mem.reservation(r);
    }
    let mem = mem.build().map_err(err("memory"))?;

    let cpus = Some(svc.cpus.value())
        .filter(|c| *c > 0.0)
        .or_else(|| limits.as_ref().map(|l| l.cpus.value()).filter(|c| *c > 0.0));
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(c) = cpus {
        cpu = cpu
            .quota((f64::from(c) * 100_000.0).round() as i64)
            .period(100_000u64);
    } else if svc.cpu_quota != 0 {
        cpu = cpu.quota(svc.cpu_quota);
    }
    if svc.cpu_period > 0 {
        cpu = cpu.period(svc.cpu_period as u64);
    }
    if svc.cpu_shares > 0 {
        cpu = cpu.shares(svc.cpu_shares as u64);
    }
    if !svc.cpuset.is_empty() {
        cpu = cpu.cpus(svc.cpuset.clone());
    }
    let cpu = cpu.build().map_err(err("cpu"))?;

    let pids = Some(svc.pids_limit)
        .filter(|p| *p != 0)
        .or_else(|| limits.as_ref().map(|l| l.pids).filter(|p| *p != 0));
    let mut res = LinuxResourcesBuilder::default().memory(mem).cpu(cpu);
    if let Some(p) = pids {
        res = res.pids(
            LinuxPidsBuilder::default()
                .limit(p)
                .build()
                .map_err(err("pids_limit"))?,
        );
    }
    let res = res.build().map_err(err("resources"))?;
    let Some(linux) = spec.linux_mut().as_mut() else {
        return Err(invalid(input, "linux", "", "default spec has none"));
    };
    linux.set_resources(Some(res));
    if !svc.sysctls.is_empty() {
        let map: HashMap<String, String> = svc
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        linux.set_sysctl(Some(map));
    }
    if svc.privileged {
        // Docker unmasks /proc and /sys for privileged containers.
        linux.set_masked_paths(Some(Vec::new()));
        linux.set_readonly_paths(Some(Vec::new()));
    }
    Ok(())
}

fn stop_signal(input: &Input<'_>) -> Result<i32> {
    let raw = [&input.service.stop_signal, &input.image.stop_signal]
        .into_iter()
        .find(|s| !s.is_empty());
    match raw {
        None => Ok(libc::SIGTERM),
        Some(s) => {
            signal::parse(s).ok_or_else(|| invalid(input, "stop_signal", s, "unknown signal"))
        }
    }
}

fn exposed(input: &Input<'_>) -> Vec<String> {
    let mut out: Vec<String> = input.image.exposed_ports.clone();
    for e in &input.service.expose {
        out.push(if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        });
    }
    out.sort();
    out.dedup();
    out
}

/// The image's labels, the service's, then Docker Compose's own.
fn container_labels(input: &Input<'_>) -> BTreeMap<String, String> {
    let mut out = input.image.labels.clone();
    out.extend(input.service.labels.clone());
    let deps: Vec<String> = input
        .service
        .depends_on
        .iter()
        .map(|(name, d)| format!("{name}:{}:{}", d.condition, d.restart))
        .collect();
    let ours = [
        (labels::PROJECT, input.project.to_string()),
        (labels::SERVICE, input.service_name.to_string()),
        (labels::CONTAINER_NUMBER, input.number.to_string()),
        (
            labels::ONEOFF,
            if input.oneoff { "True" } else { "False" }.to_string(),
        ),
        (labels::CONFIG_HASH, input.config_hash.to_string()),
        (labels::WORKING_DIR, input.working_dir.to_string()),
        (labels::CONFIG_FILES, input.config_files.to_string()),
        (labels::DEPENDS_ON, deps.join(",")),
        (labels::IMAGE, input.image_ref.to_string()),
    ];
    for (k, v) in ours {
        out.insert(k.to_string(), v);
    }
    out
}

#[cfg(test)]
mod tests;

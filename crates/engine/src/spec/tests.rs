use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn service(json: serde_json::Value) -> Service {
    serde_json::from_value(json).unwrap_or_else(|e| panic!("bad test service: {e}"))
}

fn image() -> ImageConfig {
    ImageConfig {
        env: vec!["PATH=/img/bin".into(), "A=image".into(), "B=image".into()],
        cmd: Some(vec!["img-cmd".into(), "arg".into()]),
        entrypoint: Some(vec!["/entry".into()]),
        working_dir: "/img".into(),
        user: String::new(),
        stop_signal: "SIGQUIT".into(),
        exposed_ports: vec!["80/tcp".into()],
        volumes: vec!["/data".into()],
        labels: [("from.image".to_string(), "1".to_string())].into(),
        healthcheck: None,
    }
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\naudio:x:29:app\n";

fn input<'a>(svc: &'a Service, img: &'a ImageConfig) -> Input<'a> {
    Input {
        project: "shop",
        service_name: "web",
        service: svc,
        image: img,
        image_ref: "busybox",
        number: 2,
        container_id: "0123456789abcdef0123",
        config_hash: "abc",
        working_dir: "/srv/shop",
        config_files: "/srv/shop/compose.yaml",
        oneoff: false,
        passwd: Some(PASSWD),
        group: Some(GROUP),
        host_caps: compose_runtime::caps::mask_of(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"])
            .unwrap_or(0),
    }
}

fn built(svc: serde_json::Value) -> std::result::Result<ContainerSpec, SpecError> {
    let s = service(svc);
    let img = image();
    build(&input(&s, &img))
}

fn args(c: &ContainerSpec) -> Vec<String> {
    c.spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default()
}

fn env(c: &ContainerSpec) -> Vec<String> {
    c.spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default()
}

fn caps(c: &ContainerSpec) -> HashSet<Capability> {
    c.spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .and_then(|c| c.effective().clone())
        .unwrap_or_default()
}

fn mount_at<'a>(c: &'a ContainerSpec, dest: &str) -> Option<&'a Mount> {
    c.spec
        .mounts()
        .as_ref()?
        .iter()
        .find(|m| m.destination().as_os_str() == dest)
}

#[test]
fn image_entrypoint_and_cmd_by_default() -> TestResult {
    let c = built(serde_json::json!({}))?;
    assert_eq!(args(&c), ["/entry", "img-cmd", "arg"]);
    assert_eq!(c.command, args(&c));
    Ok(())
}

#[test]
fn command_alone_keeps_the_image_entrypoint() -> TestResult {
    let c = built(serde_json::json!({"command": ["echo", "hi"]}))?;
    assert_eq!(args(&c), ["/entry", "echo", "hi"]);
    Ok(())
}

#[test]
fn entrypoint_resets_the_image_command() -> TestResult {
    let c = built(serde_json::json!({"entrypoint": ["sh", "-c"]}))?;
    assert_eq!(args(&c), ["sh", "-c"]);
    let c = built(serde_json::json!({"entrypoint": ["sh", "-c"], "command": ["echo x"]}))?;
    assert_eq!(args(&c), ["sh", "-c", "echo x"]);
    Ok(())
}

#[test]
fn empty_entrypoint_clears_it_and_nothing_left_is_an_error() {
    let s = service(serde_json::json!({"entrypoint": []}));
    let img = ImageConfig::default();
    let err = build(&input(&s, &img)).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("service web: no command: neither the service nor its image gives one")
    );
}

#[test]
fn environment_overrides_image_env_and_unset_is_dropped() -> TestResult {
    let c = built(serde_json::json!({"environment": {"A": "svc", "C": "new", "D": null}}))?;
    let e = env(&c);
    assert!(e.contains(&"A=svc".to_string()), "{e:?}");
    assert!(e.contains(&"B=image".to_string()), "{e:?}");
    assert!(e.contains(&"C=new".to_string()), "{e:?}");
    assert!(!e.iter().any(|v| v.starts_with("D=")), "{e:?}");
    assert!(e.contains(&"PATH=/img/bin".to_string()), "{e:?}");
    assert_eq!(e.iter().filter(|v| v.starts_with("A=")).count(), 1);
    assert!(e.contains(&"HOSTNAME=0123456789ab".to_string()), "{e:?}");
    Ok(())
}

#[test]
fn default_path_and_tty_term() -> TestResult {
    let s = service(serde_json::json!({"tty": true, "command": ["x"]}));
    let img = ImageConfig::default();
    let c = build(&input(&s, &img))?;
    let e = env(&c);
    assert!(
        e.iter().any(|v| v.starts_with("PATH=/usr/local/sbin")),
        "{e:?}"
    );
    assert!(e.contains(&"TERM=xterm".to_string()));
    assert!(c.tty);
    Ok(())
}

#[test]
fn working_dir_hostname_and_user() -> TestResult {
    let c = built(serde_json::json!({}))?;
    let p = c.spec.process().clone().unwrap_or_default();
    assert_eq!(p.cwd().display().to_string(), "/img");
    assert_eq!(c.spec.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));

    let c = built(serde_json::json!({"working_dir": "/w", "hostname": "h", "user": "app"}))?;
    let p = c.spec.process().clone().unwrap_or_default();
    assert_eq!(p.cwd().display().to_string(), "/w");
    assert_eq!(c.spec.hostname().as_deref(), Some("h"));
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
    let mut groups = p.user().additional_gids().clone().unwrap_or_default();
    groups.sort();
    assert_eq!(groups, [10, 29]);
    Ok(())
}

#[test]
fn user_forms() -> TestResult {
    let uid_gid = |v: &str| -> std::result::Result<(u32, u32), SpecError> {
        let c = built(serde_json::json!({"user": v}))?;
        let p = c.spec.process().clone().unwrap_or_default();
        Ok((p.user().uid(), p.user().gid()))
    };
    assert_eq!(uid_gid("1000")?, (1000, 1001));
    assert_eq!(uid_gid("4242")?, (4242, 0));
    assert_eq!(uid_gid("4242:7")?, (4242, 7));
    assert_eq!(uid_gid("app:wheel")?, (1000, 10));
    let e = uid_gid("nobody")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("service web: invalid user \"nobody\""), "{e}");
    assert!(uid_gid("app:nogroup").is_err());
    Ok(())
}

#[test]
fn caps_add_drop_and_privileged() -> TestResult {
    let c =
        built(serde_json::json!({"cap_add": ["SYS_ADMIN"], "cap_drop": ["CAP_CHOWN", "net_raw"]}))?;
    let set = caps(&c);
    assert!(set.contains(&Capability::SysAdmin));
    assert!(!set.contains(&Capability::Chown));
    assert!(!set.contains(&Capability::NetRaw));
    assert!(set.contains(&Capability::Kill));
    assert_eq!(set.len(), 14 - 2 + 1);

    let c = built(serde_json::json!({"cap_drop": ["ALL"], "cap_add": ["KILL"]}))?;
    assert_eq!(caps(&c).len(), 0, "drop ALL applies after add");

    let c = built(serde_json::json!({"privileged": true}))?;
    let want: HashSet<Capability> =
        [Capability::Chown, Capability::SysAdmin, Capability::Kill].into();
    assert_eq!(caps(&c), want, "privileged: what the host can grant");
    let linux = c.spec.linux().clone().unwrap_or_default();
    assert_eq!(linux.masked_paths().clone().unwrap_or_default().len(), 0);

    let e = built(serde_json::json!({"cap_add": ["NOPE"]}))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("service web: invalid capability \"NOPE\": unknown capability")
    );
    Ok(())
}

#[test]
fn read_only_tmpfs_and_shm_size() -> TestResult {
    let c = built(serde_json::json!({
        "read_only": true,
        "tmpfs": ["/run", "/cache:size=1m,mode=700"],
        "shm_size": "128m",
        "volumes": [{"type": "tmpfs", "target": "/t", "tmpfs": {"size": 4096, "mode": 448}}]
    }))?;
    assert_eq!(
        c.spec.root().as_ref().and_then(|r| r.readonly()),
        Some(true)
    );
    let run = mount_at(&c, "/run")
        .and_then(|m| m.options().clone())
        .unwrap_or_default();
    assert_eq!(run, ["noexec", "nosuid", "nodev"]);
    let cache = mount_at(&c, "/cache")
        .and_then(|m| m.options().clone())
        .unwrap_or_default();
    assert!(cache.contains(&"size=1m".to_string()) && cache.contains(&"mode=700".to_string()));
    let shm = mount_at(&c, "/dev/shm")
        .and_then(|m| m.options().clone())
        .unwrap_or_default();
    assert!(shm.contains(&format!("size={}", 128 << 20)), "{shm:?}");
    assert_eq!(shm.iter().filter(|o| o.starts_with("size=")).count(), 1);
    let t = mount_at(&c, "/t")
        .and_then(|m| m.options().clone())
        .unwrap_or_default();
    assert!(
        t.contains(&"size=4096".to_string()) && t.contains(&"mode=700".to_string()),
        "{t:?}"
    );
    assert!(built(serde_json::json!({"tmpfs": ["relative"]})).is_err());
    Ok(())
}

#[test]
fn volumes_and_binds_become_requests_and_image_volumes_anonymous() -> TestResult {
    let c = built(serde_json::json!({"volumes": [
        {"type": "volume", "source": "db", "target": "/var/db", "read_only": true, "volume": {"nocopy": true}},
        {"type": "bind", "source": "/srv/shop/conf", "target": "/conf", "bind": {"create_host_path": true}},
        {"type": "volume", "target": "/anon"}
    ]}))?;
    assert_eq!(
        c.mounts,
        [
            MountRequest::Volume {
                key: Some("db".into()),
                target: "/var/db".into(),
                read_only: true,
                nocopy: true,
                subpath: String::new()
            },
            MountRequest::Bind {
                source: "/srv/shop/conf".into(),
                target: "/conf".into(),
                read_only: false,
                create_host_path: true,
                propagation: String::new()
            },
            MountRequest::Volume {
                key: None,
                target: "/anon".into(),
                read_only: false,
                nocopy: false,
                subpath: String::new()
            },
            MountRequest::Volume {
                key: None,
                target: "/data".into(),
                read_only: false,
                nocopy: false,
                subpath: String::new()
            },
        ]
    );
    let c = built(
        serde_json::json!({"volumes": [{"type": "volume", "source": "d", "target": "/data/"}]}),
    )?;
    assert_eq!(
        c.mounts.len(),
        1,
        "a service mount covers the image's VOLUME"
    );
    let e =
        built(serde_json::json!({"volumes": [{"type": "bind", "source": "/x", "target": "rel"}]}));
    assert!(e.is_err());
    Ok(())
}

#[test]
fn resources() -> TestResult {
    let c = built(serde_json::json!({
        "mem_limit": "64m", "memswap_limit": "128m", "mem_reservation": "32m",
        "cpus": 1.5, "cpu_shares": 512, "cpuset": "0", "pids_limit": 50
    }))?;
    let r = c
        .spec
        .linux()
        .clone()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let m = r.memory().unwrap_or_default();
    assert_eq!(m.limit(), Some(64 << 20));
    assert_eq!(m.swap(), Some(128 << 20));
    assert_eq!(m.reservation(), Some(32 << 20));
    let cpu = r.cpu().clone().unwrap_or_default();
    assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
    assert_eq!(cpu.shares(), Some(512));
    assert_eq!(cpu.cpus().as_deref(), Some("0"));
    assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(50));

    let c = built(
        serde_json::json!({"deploy": {"resources": {"limits": {"memory": "10m", "cpus": "0.5", "pids": 7}}}}),
    )?;
    let r = c
        .spec
        .linux()
        .clone()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    assert_eq!(r.memory().unwrap_or_default().limit(), Some(10 << 20));
    assert_eq!(r.cpu().clone().unwrap_or_default().quota(), Some(50_000));
    assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(7));

    assert!(built(serde_json::json!({"memswap_limit": "1g"})).is_err());
    Ok(())
}

#[test]
fn ulimits_and_sysctls() -> TestResult {
    let c = built(serde_json::json!({
        "ulimits": {"nofile": {"soft": 100, "hard": 200}, "nproc": 64},
        "sysctls": {"net.core.somaxconn": "1024"}
    }))?;
    let rl = c
        .spec
        .process()
        .clone()
        .and_then(|p| p.rlimits().clone())
        .unwrap_or_default();
    let nofile = rl.iter().find(|r| r.typ() == PosixRlimitType::RlimitNofile);
    assert_eq!(nofile.map(|r| (r.soft(), r.hard())), Some((100, 200)));
    let nproc = rl.iter().find(|r| r.typ() == PosixRlimitType::RlimitNproc);
    assert_eq!(nproc.map(|r| (r.soft(), r.hard())), Some((64, 64)));
    let sysctl = c
        .spec
        .linux()
        .clone()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    assert_eq!(
        sysctl.get("net.core.somaxconn").map(String::as_str),
        Some("1024")
    );
    let e = built(serde_json::json!({"ulimits": {"bogus": 1}}))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("service web: invalid ulimit \"bogus=1:1\": unknown")
    );
    Ok(())
}

#[test]
fn stop_signal_and_grace() -> TestResult {
    let c = built(serde_json::json!({}))?;
    assert_eq!(c.stop_signal, libc::SIGQUIT, "the image's StopSignal");
    assert_eq!(c.stop_grace, Duration::from_secs(10));
    let c = built(serde_json::json!({"stop_signal": "SIGUSR1", "stop_grace_period": "3s"}))?;
    assert_eq!(c.stop_signal, libc::SIGUSR1);
    assert_eq!(c.stop_grace, Duration::from_secs(3));
    assert!(built(serde_json::json!({"stop_signal": "SIGWHAT"})).is_err());
    Ok(())
}

#[test]
fn labels_image_service_then_compose() -> TestResult {
    let c = built(serde_json::json!({
        "labels": {"from.image": "svc", "x": "y", "com.docker.compose.project": "spoof"},
        "depends_on": {"db": {"condition": "service_healthy"}}
    }))?;
    let get = |k: &str| c.labels.get(k).map(String::as_str);
    assert_eq!(get("from.image"), Some("svc"));
    assert_eq!(get("x"), Some("y"));
    assert_eq!(get(labels::PROJECT), Some("shop"));
    assert_eq!(get(labels::SERVICE), Some("web"));
    assert_eq!(get(labels::CONTAINER_NUMBER), Some("2"));
    assert_eq!(get(labels::ONEOFF), Some("False"));
    assert_eq!(get(labels::CONFIG_HASH), Some("abc"));
    assert_eq!(get(labels::DEPENDS_ON), Some("db:service_healthy:false"));
    assert_eq!(get(labels::IMAGE), Some("busybox"));
    assert_eq!(c.ports, ["80/tcp"]);
    Ok(())
}

#[test]
fn init_is_carried_for_the_runtime() -> TestResult {
    assert!(built(serde_json::json!({"init": true}))?.init);
    assert!(!built(serde_json::json!({"init": false}))?.init);
    assert!(!built(serde_json::json!({}))?.init);
    Ok(())
}

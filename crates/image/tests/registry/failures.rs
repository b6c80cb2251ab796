//! What goes wrong: a corrupted blob, a registry killed mid-pull, a manifest of a type not
//! handled, Basic auth refused and accepted (explicit and from a docker config file).

use compose_image::Reference;
use compose_image::registry::{self, Credentials, Event, NoProgress, Progress, RegistryError};

use super::*;

fn push_image(reg: &Registry, state: &Path, img: &TestImage, name: &str) {
    let store = open_store(state, "push-src");
    img.load(&store, name);
    let c = client(reg, state);
    registry::push(
        &store,
        &c,
        name,
        &Reference::parse(name).unwrap(),
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn a_corrupted_blob_fails_with_digest_mismatch_and_stores_nothing() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let img = busybox_image("corrupt\n");
    let name = format!("{}/bad/app:1", reg.host());
    push_image(&reg, tmp.path(), &img, &name);
    // Same size, other bytes: only the digest can tell.
    let data = reg.blob_data(&img.layers[0].digest());
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let store = open_store(tmp.path(), "dst");
    let c = client(&reg, tmp.path());
    let e = registry::pull(&store, &c, &Reference::parse(&name).unwrap(), &NoProgress).unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&img.layers[0].digest()), "{msg}");
    assert_empty(&store);
}

/// Kills the registry when the first bytes of the big blob arrive.
struct KillOnBytes<'a> {
    reg: &'a Registry,
    digest: String,
    killed: Mutex<bool>,
}

impl Progress for KillOnBytes<'_> {
    fn event(&self, e: &Event<'_>) {
        if let Event::Bytes { digest, .. } = e
            && *digest == self.digest
        {
            let mut k = self.killed.lock().unwrap();
            if !*k {
                *k = true;
                self.reg.kill();
            }
        }
    }
}

#[test]
fn a_registry_killed_mid_pull_fails_clearly_and_a_retry_works() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = TestLayer::new(
        tar_of(&[Entry::File("big.bin", &noise(32 << 20, 3), 0o644)]),
        Comp::Plain,
        false,
    );
    let img = TestImage::new(vec![busybox_layer(Comp::Gzip), big], "amd64");
    let name = format!("{}/kill/app:1", reg.host());
    push_image(&reg, tmp.path(), &img, &name);

    let store = open_store(tmp.path(), "dst");
    let mut opts = options(tmp.path());
    opts.parallel = 1;
    let c = Client::new(&reg.host(), opts).unwrap();
    let killer = KillOnBytes {
        reg: &reg,
        digest: img.layers[1].digest(),
        killed: Mutex::new(false),
    };
    let e = registry::pull(&store, &c, &Reference::parse(&name).unwrap(), &killer).unwrap_err();
    assert!(*killer.killed.lock().unwrap());
    assert!(
        matches!(
            e,
            RegistryError::Connection { .. } | RegistryError::Interrupted { .. }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&reg.host()), "{e}");
    assert_empty(&store);

    reg.restart();
    let c = client(&reg, tmp.path());
    let p = registry::pull(&store, &c, &Reference::parse(&name).unwrap(), &NoProgress).unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
    let data = std::fs::read(snapshot_file(&store, &name, 1, "big.bin")).unwrap();
    assert!(data == noise(32 << 20, 3));
    assert_no_temps(&store);
}

#[test]
fn unsupported_layer_media_types_are_named() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let img = busybox_image("x\n");
    let name = format!("{}/odd/app:1", reg.host());
    push_image(&reg, tmp.path(), &img, &name);
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+bzip2");
    let bytes = serde_json::to_vec(&m).unwrap();
    let c = client(&reg, tmp.path());
    c.put_manifest("odd/app", "bz", registry::OCI_MANIFEST, &bytes)
        .unwrap();
    let store = open_store(tmp.path(), "dst");
    let r = Reference::parse(&format!("{}/odd/app:bz", reg.host())).unwrap();
    let e = registry::pull(&store, &c, &r, &NoProgress).unwrap_err();
    assert!(
        matches!(e, RegistryError::UnsupportedMediaType { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("tar+bzip2"), "{e}");
    assert_empty(&store);
}

#[test]
fn basic_auth_refused_then_accepted() {
    let reg = Registry::with_user("alice", "wonderland");
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = busybox_image("auth\n");
    let name = format!("{}/private/app:1", reg.host());
    let r = Reference::parse(&name).unwrap();
    img.load(&src, &name);

    // No credentials, then wrong ones.
    for creds in [
        None,
        Some(Credentials {
            username: "alice".into(),
            password: "wrong".into(),
        }),
    ] {
        let mut opts = options(tmp.path());
        opts.credentials = creds;
        let c = Client::new(&reg.host(), opts).unwrap();
        let e = registry::push(&src, &c, &name, &r, &NoProgress).unwrap_err();
        assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
        let dst = open_store(tmp.path(), "refused");
        let e = registry::pull(&dst, &c, &r, &NoProgress).unwrap_err();
        assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
        assert!(e.to_string().contains("unauthorized"), "{e}");
        assert_empty(&dst);
    }

    let mut opts = options(tmp.path());
    opts.credentials = Some(Credentials {
        username: "alice".into(),
        password: "wonderland".into(),
    });
    let c = Client::new(&reg.host(), opts).unwrap();
    registry::push(&src, &c, &name, &r, &NoProgress).unwrap();

    // Credentials from a docker config file (`auths`, base64 `auth`).
    let cfg = tmp.path().join("docker-config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"YWxpY2U6d29uZGVybGFuZA=="}}}}}}"#,
            reg.host()
        ),
    )
    .unwrap();
    let mut opts = options(tmp.path());
    opts.docker_config = Some(cfg);
    let c = Client::new(&reg.host(), opts).unwrap();
    let dst = open_store(tmp.path(), "dst");
    let p = registry::pull(&dst, &c, &r, &NoProgress).unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
}

#[test]
fn a_new_blob_under_a_known_diff_id_is_still_verified() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    // The honest image A, and B whose config claims A's DiffID for other content.
    let a = TestImage::new(vec![text_layer("etc/a", "honest\n", Comp::Gzip)], "amd64");
    let name_a = format!("{}/dup/a:1", reg.host());
    let name_b = format!("{}/dup/b:1", reg.host());
    push_image(&reg, tmp.path(), &a, &name_a);
    let b = push_forged(&reg, tmp.path(), &name_b, "forged\n", &a.layers[0].diff_id);
    let cl = client(&reg, tmp.path());

    let dst = open_store(tmp.path(), "dst");
    registry::pull(&dst, &cl, &Reference::parse(&name_a).unwrap(), &NoProgress).unwrap();
    let e =
        registry::pull(&dst, &cl, &Reference::parse(&name_b).unwrap(), &NoProgress).unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("DiffID"), "{e}");
    // A is intact, nothing of B stayed.
    assert_eq!(dst.list_images().unwrap().len(), 1);
    assert!(!dst.blobs().has(&b.layers[0].digest()).unwrap());
    let text = std::fs::read_to_string(snapshot_file(&dst, &name_a, 0, "etc/a")).unwrap();
    assert_eq!(text, "honest\n");
    assert_no_temps(&dst);
}

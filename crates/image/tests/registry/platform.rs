//! Multi-platform indexes (OCI index, Docker manifest list): the host's platform is picked,
//! or the one asked for; an index without it fails clearly.

use compose_image::Reference;
use compose_image::registry::{self, NoProgress, RegistryError};
use compose_image::store::Platform;

use super::*;

/// Pushes one image per `(arch, variant)` and an index of them at `tag`; returns the
/// index's digest.
fn push_index(
    reg: &Registry,
    state: &Path,
    repo: &str,
    tag: &str,
    list_type: &str,
    platforms: &[(&str, Option<&str>)],
) -> String {
    let store = open_store(state, &format!("src-{tag}"));
    let c = client(reg, state);
    let mut entries = Vec::new();
    for (arch, variant) in platforms {
        let img = TestImage::new(
            vec![
                busybox_layer(Comp::Gzip),
                text_layer("etc/arch", arch, Comp::Plain),
            ],
            arch,
        );
        let name = format!("{}/{repo}:{tag}-{arch}", reg.host());
        img.load(&store, &name);
        registry::push(
            &store,
            &c,
            &name,
            &Reference::parse(&name).unwrap(),
            &NoProgress,
        )
        .unwrap();
        let mut p = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        entries.push(json!({
            "mediaType": img.manifest_type,
            "digest": img.manifest_digest(),
            "size": img.manifest.len(),
            "platform": p,
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": list_type,
        "manifests": entries,
    }))
    .unwrap();
    c.put_manifest(repo, tag, list_type, &index).unwrap()
}

fn pull_with(
    reg: &Registry,
    state: &Path,
    store: &Store,
    r: &str,
    platform: Option<Platform>,
) -> registry::Result<registry::Pulled> {
    let mut opts = options(state);
    opts.platform = platform;
    let c = Client::new(&reg.host(), opts).unwrap();
    registry::pull(store, &c, &Reference::parse(r).unwrap(), &NoProgress)
}

#[test]
fn an_index_resolves_to_the_host_platform() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    for (tag, list_type) in [
        ("oci", registry::OCI_INDEX),
        ("docker", registry::DOCKER_LIST),
    ] {
        let digest = push_index(
            &reg,
            tmp.path(),
            "multi/app",
            tag,
            list_type,
            &[("arm64", Some("v8")), ("amd64", None), ("s390x", None)],
        );
        let store = open_store(tmp.path(), &format!("dst-{tag}"));
        let name = format!("{}/multi/app:{tag}", reg.host());
        let p = pull_with(&reg, tmp.path(), &store, &name, None).unwrap();
        assert_eq!(p.digest, digest, "the reference's digest is the index's");
        let host = registry::host_platform();
        assert_eq!(p.record.platform.architecture, host.architecture);
        let arch = std::fs::read_to_string(snapshot_file(&store, &name, 1, "etc/arch")).unwrap();
        assert_eq!(arch, host.architecture);

        // Another platform on request.
        let store = open_store(tmp.path(), &format!("arm-{tag}"));
        let arm = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        let p = pull_with(&reg, tmp.path(), &store, &name, Some(arm)).unwrap();
        assert_eq!(p.record.platform.architecture, "arm64");
        let arch = std::fs::read_to_string(snapshot_file(&store, &name, 1, "etc/arch")).unwrap();
        assert_eq!(arch, "arm64");
    }
}

#[test]
fn an_index_without_the_platform_is_a_clear_error() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    push_index(
        &reg,
        tmp.path(),
        "multi/other",
        "1",
        registry::OCI_INDEX,
        &[("ppc64le", None), ("s390x", None)],
    );
    let store = open_store(tmp.path(), "dst");
    let amd64 = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let name = format!("{}/multi/other:1", reg.host());
    let e = pull_with(&reg, tmp.path(), &store, &name, Some(amd64)).unwrap_err();
    assert!(matches!(e, RegistryError::NoPlatform { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("no manifest for platform linux/amd64")
            && msg.contains("linux/ppc64le, linux/s390x"),
        "{msg}"
    );
    assert_empty(&store);
}

//! Archives made by another tool: skopeo (Debian's package) converts the test's OCI layout
//! into a docker-archive and an OCI archive, which we load. skopeo must be installed: this
//! test fails, never skips, without it.

use std::path::Path;
use std::process::Command;

use compose_image::archive;

use super::{open_store, opts, sample_image};

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("skopeo is needed for this test (apt-get install -y skopeo): {e}")
        });
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn arg(p: &Path, prefix: &str, suffix: &str) -> String {
    format!("{prefix}{}{suffix}", p.display())
}

#[test]
fn skopeo_docker_archive_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("skopeo");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "docker.io/library/app:1");
    let out = tmp.path().join("docker.tar");
    skopeo(&[
        "copy",
        "-q",
        &arg(&layout, "oci:", ":docker.io/library/app:1"),
        &arg(&out, "docker-archive:", ":example.com/ns/app:2"),
    ]);
    let store = open_store(tmp.path());
    let keys = archive::load(&store, &out, &opts()).unwrap();
    assert_eq!(keys, ["example.com/ns/app:2"]);
    let rec = store.get_image("example.com/ns/app:2").unwrap().unwrap();
    // skopeo keeps the config and the DiffIDs; it may store the layers uncompressed.
    assert_eq!(rec.config_digest, img.config_digest());
    let diff_ids: Vec<String> = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, img.diff_ids());
    let base = store.snapshot_path(&rec.layers[0].chain_id).unwrap();
    assert_eq!(
        std::fs::read(base.join("etc/hostname")).unwrap(),
        b"sample\n"
    );
    let top = store.snapshot_path(&rec.layers[1].chain_id).unwrap();
    assert_eq!(std::fs::read(top.join("app/data.txt")).unwrap(), b"skopeo");
}

#[test]
fn skopeo_oci_archive_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("skopeo oci");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "docker.io/library/app:1");
    let out = tmp.path().join("oci.tar");
    skopeo(&[
        "copy",
        "-q",
        &arg(&layout, "oci:", ":docker.io/library/app:1"),
        &arg(&out, "oci-archive:", ":docker.io/library/app:1"),
    ]);
    let store = open_store(tmp.path());
    let keys = archive::load(&store, &out, &opts()).unwrap();
    assert_eq!(keys, ["docker.io/library/app:1"]);
    let rec = store.get_image("app:1").unwrap().unwrap();
    // skopeo writes the manifest anew and compresses the plain layer; the config and the
    // DiffIDs stay.
    assert_eq!(rec.config_digest, img.config_digest());
    let diff_ids: Vec<String> = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, img.diff_ids());
    let top = store.snapshot_path(&rec.layers[1].chain_id).unwrap();
    assert_eq!(
        std::fs::read(top.join("app/data.txt")).unwrap(),
        b"skopeo oci"
    );
}

/// Our docker-archive, read by skopeo and written back as an OCI layout, loads with the
/// digests we started from.
#[test]
fn our_docker_archive_reads_in_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("ours");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "docker.io/library/app:1");
    let store = open_store(tmp.path());
    archive::load(&store, &layout, &opts()).unwrap();
    let ours = tmp.path().join("ours.tar");
    let f = std::fs::File::create(&ours).unwrap();
    archive::save(&store, &["app:1"], archive::Format::DockerArchive, f).unwrap();
    let back = tmp.path().join("back");
    skopeo(&[
        "copy",
        "-q",
        &arg(&ours, "docker-archive:", ""),
        &arg(&back, "oci:", ":docker.io/library/app:3"),
    ]);
    let fresh = compose_image::Store::open(&tmp.path().join("fresh")).unwrap();
    let keys = archive::load(&fresh, &back, &opts()).unwrap();
    assert_eq!(keys, ["docker.io/library/app:3"]);
    let rec = fresh.get_image("app:3").unwrap().unwrap();
    assert_eq!(rec.config_digest, img.config_digest());
    let diff_ids: Vec<String> = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, img.diff_ids());
}

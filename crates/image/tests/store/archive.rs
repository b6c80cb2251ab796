//! Loading an OCI layout made by the test, and save → load round trips in every format.

use std::path::Path;

use compose_image::Store;
use compose_image::archive::{self, Format};
use compose_image::unpack::chain_ids;

use super::{TestImage, gzip, hex_of, layer_tar, open_store, opts, raw_tar, sample_image, sha256};

/// Checks the store has `img` under `reference`: record, blobs, snapshots with the files.
fn assert_loaded(store: &Store, reference: &str, img: &TestImage, same_layers: bool) {
    let rec = store.get_image(reference).unwrap().expect("record");
    assert_eq!(rec.config_digest, img.config_digest());
    assert_eq!(rec.platform.os, "linux");
    assert_eq!(rec.platform.architecture, "amd64");
    assert_eq!(rec.created.as_deref(), Some("2026-01-02T03:04:05Z"));
    let diff_ids: Vec<String> = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, img.diff_ids());
    let chains: Vec<String> = rec.layers.iter().map(|l| l.chain_id.clone()).collect();
    assert_eq!(chains, chain_ids(&img.diff_ids()).unwrap());
    if same_layers {
        assert_eq!(rec.manifest_digest, img.manifest_digest());
        let digests: Vec<String> = rec.layers.iter().map(|l| l.digest.clone()).collect();
        let want: Vec<String> = img.layers.iter().map(|l| l.digest()).collect();
        assert_eq!(digests, want);
    }
    for d in rec.blobs() {
        assert!(store.blobs().has(d).unwrap(), "blob {d}");
    }
    let base = store.snapshot_path(&chains[0]).unwrap();
    assert_eq!(
        std::fs::read(base.join("etc/hostname")).unwrap(),
        b"sample\n"
    );
    assert!(base.join("bin/hello").is_file());
    let top = store.snapshot_path(&chains[1]).unwrap();
    assert!(top.join("app/data.txt").is_file());
    assert!(
        !top.join("etc").exists(),
        "a snapshot holds its own layer only"
    );
}

fn load_layout(dir: &Path, img: &TestImage, ref_name: &str) -> Store {
    let layout = dir.join("layout");
    img.write_layout(&layout, ref_name);
    let store = open_store(dir);
    let keys = archive::load(&store, &layout, &opts()).unwrap();
    assert_eq!(keys.len(), 1);
    store
}

#[test]
fn oci_layout_loads_records_blobs_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("v1");
    let store = load_layout(tmp.path(), &img, "example.com/team/app:1.0");
    assert_loaded(&store, "example.com/team/app:1.0", &img, true);
    let rec = store
        .get_image("example.com/team/app:1.0")
        .unwrap()
        .unwrap();
    let want = img.manifest.len()
        + img.config.len()
        + img.layers.iter().map(|l| l.blob.len()).sum::<usize>();
    assert_eq!(rec.size, want as u64);
    // Loading again changes nothing.
    let layout = tmp.path().join("layout");
    archive::load(&store, &layout, &opts()).unwrap();
    assert_eq!(store.blobs().list().unwrap().len(), 4);
    assert_eq!(store.list_snapshots().unwrap().len(), 2);
}

#[test]
fn bare_tag_ref_names_take_the_given_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("v1");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "1.0");
    let store = open_store(tmp.path());
    let o = archive::LoadOptions {
        repository: Some("localhost:5000/app".into()),
        ..opts()
    };
    let keys = archive::load(&store, &layout, &o).unwrap();
    assert_eq!(keys, ["localhost:5000/app:1.0"]);
    // Without a repository: no name, recorded (and saved) by manifest digest.
    let other = Store::open(&tmp.path().join("other")).unwrap();
    let keys = archive::load(&other, &layout, &opts()).unwrap();
    assert_eq!(keys, [img.manifest_digest()]);
    assert_loaded(&other, &img.manifest_digest(), &img, true);
    let mut buf = Vec::new();
    archive::save(
        &other,
        &[&img.manifest_digest()],
        Format::DockerArchive,
        &mut buf,
    )
    .unwrap();
    let third = Store::open(&tmp.path().join("third")).unwrap();
    assert_eq!(
        archive::load_reader(&third, &buf[..], &opts()).unwrap(),
        [img.manifest_digest()]
    );
}

fn round_trip(format: Format) {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("round trip");
    let store = load_layout(tmp.path(), &img, "docker.io/library/app:1");
    let out = tmp.path().join("saved.tar");
    let file = std::fs::File::create(&out).unwrap();
    archive::save(&store, &["app:1"], format, file).unwrap();

    let fresh = Store::open(&tmp.path().join("fresh")).unwrap();
    let keys = archive::load(&fresh, &out, &opts()).unwrap();
    assert_eq!(keys, ["docker.io/library/app:1"]);
    assert_loaded(&fresh, "app:1", &img, true);
    let (a, b) = (
        store.get_image("app:1").unwrap().unwrap(),
        fresh.get_image("app:1").unwrap().unwrap(),
    );
    assert_eq!(a, b);
    // And from a stream.
    let third = Store::open(&tmp.path().join("third")).unwrap();
    let keys = archive::load_reader(&third, std::fs::File::open(&out).unwrap(), &opts()).unwrap();
    assert_eq!(keys, ["docker.io/library/app:1"]);
    assert_eq!(third.get_image("app:1").unwrap().unwrap(), a);
    // And gzip-compressed, as `docker save | gzip` makes.
    let gz = tmp.path().join("saved.tar.gz");
    std::fs::write(&gz, gzip(&std::fs::read(&out).unwrap())).unwrap();
    let fourth = Store::open(&tmp.path().join("fourth")).unwrap();
    archive::load(&fourth, &gz, &opts()).unwrap();
    assert_eq!(fourth.get_image("app:1").unwrap().unwrap(), a);
}

#[test]
fn docker_archive_round_trip() {
    round_trip(Format::DockerArchive);
}

#[test]
fn oci_archive_round_trip() {
    round_trip(Format::OciArchive);
}

#[test]
fn docker_archive_has_docker_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("x");
    let store = load_layout(tmp.path(), &img, "docker.io/library/app:1");
    let mut buf = Vec::new();
    archive::save(&store, &["app:1"], Format::DockerArchive, &mut buf).unwrap();
    let mut ar = tar::Archive::new(&buf[..]);
    let mut manifest = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("manifest.json") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            manifest = Some(s);
        }
    }
    let m: serde_json::Value = serde_json::from_str(&manifest.unwrap()).unwrap();
    assert_eq!(m[0]["RepoTags"][0], "app:1");
    assert_eq!(
        m[0]["Config"],
        format!("blobs/sha256/{}", hex_of(&img.config_digest()))
    );
    assert_eq!(m[0]["Layers"].as_array().unwrap().len(), 2);
}

#[test]
fn oci_layout_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("layout");
    let store = load_layout(tmp.path(), &img, "docker.io/library/app:1");
    let out = tmp.path().join("out-layout");
    archive::save_layout(&store, &["app:1"], &out).unwrap();
    assert!(
        archive::save_layout(&store, &["app:1"], &out).is_err(),
        "no overwrite"
    );
    let fresh = Store::open(&tmp.path().join("fresh")).unwrap();
    archive::load(&fresh, &out, &opts()).unwrap();
    assert_loaded(&fresh, "app:1", &img, true);
}

#[test]
fn saving_an_unknown_image_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let err = archive::save(&store, &["nope:1"], Format::OciArchive, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("nope:1"), "{err}");
}

/// A legacy `docker save` (before Docker 25): `<id>/layer.tar`, `<hex>.json`,
/// `repositories`, `manifest.json` last, gzip and plain layers.
#[test]
fn legacy_docker_archive_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("legacy");
    let cfg_name = format!("{}.json", hex_of(&img.config_digest()));
    let l0 = gzip(&layer_tar(&[
        ("etc/", b""),
        ("etc/hostname", b"sample\n"),
        ("bin/", b""),
        ("bin/hello", b"#!/bin/sh\necho hello\n"),
    ]));
    assert_eq!(sha256(&l0), img.layers[0].digest());
    let manifest = serde_json::json!([{
        "Config": cfg_name,
        "RepoTags": ["legacy:1", "example.com/legacy:2"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let tar = raw_tar(&[
        ("aaa/VERSION", b"1.0"),
        ("aaa/layer.tar", &img.layers[0].blob),
        ("bbb/layer.tar", &img.layers[1].blob),
        (&cfg_name, &img.config),
        ("repositories", b"{}"),
        ("manifest.json", &manifest),
    ]);
    let path = tmp.path().join("legacy.tar");
    std::fs::write(&path, tar).unwrap();
    let store = open_store(tmp.path());
    let keys = archive::load(&store, &path, &opts()).unwrap();
    assert_eq!(keys, ["docker.io/library/legacy:1", "example.com/legacy:2"]);
    assert_loaded(&store, "legacy:1", &img, false);
    let a = store.get_image("legacy:1").unwrap().unwrap();
    // The made manifest is the same every time: a second load adds nothing.
    let again = Store::open(&tmp.path().join("again")).unwrap();
    archive::load(&again, &path, &opts()).unwrap();
    assert_eq!(
        again
            .get_image("legacy:1")
            .unwrap()
            .unwrap()
            .manifest_digest,
        a.manifest_digest
    );
    // Layers stored as they came (one gzip, one plain).
    assert_eq!(
        a.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        a.layers[1].media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
}

/// Two names of one image and a second image in one docker-archive: one manifest.json entry
/// per image, with every tag.
#[test]
fn several_images_in_one_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (sample_image("a"), sample_image("b"));
    let store = load_layout(tmp.path(), &a, "docker.io/library/a:1");
    b.write_layout(&tmp.path().join("b"), "example.com/b:2");
    archive::load(&store, &tmp.path().join("b"), &opts()).unwrap();
    let mut alias = store.get_image("a:1").unwrap().unwrap();
    alias.reference = "a:latest".into();
    store.put_image(&alias).unwrap();
    let out = tmp.path().join("multi.tar");
    let refs = ["a:1", "example.com/b:2", "a:latest"];
    archive::save(
        &store,
        &refs,
        Format::DockerArchive,
        std::fs::File::create(&out).unwrap(),
    )
    .unwrap();
    let fresh = Store::open(&tmp.path().join("fresh")).unwrap();
    let mut keys = archive::load(&fresh, &out, &opts()).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "docker.io/library/a:1",
            "docker.io/library/a:latest",
            "example.com/b:2"
        ]
    );
    assert_loaded(&fresh, "a:latest", &a, true);
    assert_loaded(&fresh, "example.com/b:2", &b, true);
    // Shared base layer stored once.
    assert_eq!(fresh.list_snapshots().unwrap().len(), 3);
}

/// An index entry that is itself an image index: the host's platform is picked among the
/// manifests the layout holds.
#[test]
fn multi_platform_index_picks_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("multi");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "unused");
    let host = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let other = if host == "amd64" { "arm64" } else { "amd64" };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": sha256(b"absent manifest"), "size": 15,
             "platform": {"os": "linux", "architecture": other}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": img.manifest_digest(), "size": img.manifest.len(),
             "platform": {"os": "linux", "architecture": host}},
        ],
    }))
    .unwrap();
    std::fs::write(
        layout.join("blobs/sha256").join(hex_of(&sha256(&index))),
        &index,
    )
    .unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha256(&index), "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "example.com/multi:1"},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let store = open_store(tmp.path());
    let keys = archive::load(&store, &layout, &opts()).unwrap();
    assert_eq!(keys, ["example.com/multi:1"]);
    assert_loaded(&store, "example.com/multi:1", &img, true);
}

/// A Docker schema 2 manifest with Docker media types.
#[test]
fn docker_schema2_manifest_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("schema2");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": img.config_digest(), "size": img.config.len()},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "digest": img.layers[0].digest(), "size": img.layers[0].blob.len()},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
             "digest": img.layers[1].digest(), "size": img.layers[1].blob.len()},
        ],
    }))
    .unwrap();
    let img = TestImage { manifest, ..img };
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "example.com/s2:1");
    let store = open_store(tmp.path());
    archive::load(&store, &layout, &opts()).unwrap();
    assert_loaded(&store, "example.com/s2:1", &img, true);
    let rec = store.get_image("example.com/s2:1").unwrap().unwrap();
    assert_eq!(
        rec.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // Saved and loaded again: the same manifest.
    let mut buf = Vec::new();
    archive::save(&store, &["example.com/s2:1"], Format::OciArchive, &mut buf).unwrap();
    let fresh = Store::open(&tmp.path().join("fresh")).unwrap();
    archive::load_reader(&fresh, &buf[..], &opts()).unwrap();
    assert_eq!(fresh.get_image("example.com/s2:1").unwrap().unwrap(), rec);
}

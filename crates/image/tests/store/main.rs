//! The content store, image records and archives, on real files: every test works in its
//! own temp dir and leaves nothing behind. Run as root (snapshots keep ownership).

// Test helpers outside #[test] fns: a failed setup step should panic right there.
#![allow(clippy::unwrap_used)]

mod archive;
mod blobs;
mod db;
mod hostile;
mod prune;
mod skopeo;

use std::io::Write;
use std::path::Path;

use compose_image::Store;
use compose_image::archive::LoadOptions;
use serde_json::json;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// A layer tar of directories and files (`name/` is a directory).
pub fn layer_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = Header::new_ustar();
        let dir = name.ends_with('/');
        h.set_entry_type(if dir {
            EntryType::Directory
        } else {
            EntryType::Regular
        });
        h.set_size(if dir { 0 } else { data.len() as u64 });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One layer: the blob as stored and its media type, and the uncompressed tar's DiffID.
pub struct TestLayer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl TestLayer {
    pub fn plain(tar: Vec<u8>) -> TestLayer {
        TestLayer {
            diff_id: sha256(&tar),
            blob: tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }
    }

    pub fn gzip(tar: Vec<u8>) -> TestLayer {
        TestLayer {
            diff_id: sha256(&tar),
            blob: gzip(&tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }

    pub fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

/// An image made by the test: layers, config, manifest, all as bytes.
pub struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(layers: Vec<TestLayer>) -> TestImage {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        Self::with_diff_ids(layers, &diff_ids)
    }

    /// With the config's `rootfs.diff_ids` given (hostile images lie there).
    pub fn with_diff_ids(layers: Vec<TestLayer>, diff_ids: &[String]) -> TestImage {
        let config = serde_json::to_vec(&json!({
            "created": "2026-01-02T03:04:05Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "test"}],
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.digest(),
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        TestImage {
            layers,
            config,
            manifest,
        }
    }

    pub fn manifest_digest(&self) -> String {
        sha256(&self.manifest)
    }

    pub fn config_digest(&self) -> String {
        sha256(&self.config)
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Writes an OCI layout with this image under `ref_name`.
    pub fn write_layout(&self, dir: &Path, ref_name: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let put = |bytes: &[u8]| std::fs::write(blobs.join(hex_of(&sha256(bytes))), bytes).unwrap();
        put(&self.config);
        put(&self.manifest);
        for l in &self.layers {
            put(&l.blob);
        }
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": self.manifest_digest(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// The usual two-layer test image: a gzip base with `/etc/hostname` and `/bin/hello`, a
/// plain top layer adding `/app/data.txt`.
pub fn sample_image(tag_text: &str) -> TestImage {
    let base = layer_tar(&[
        ("etc/", b""),
        ("etc/hostname", b"sample\n"),
        ("bin/", b""),
        ("bin/hello", b"#!/bin/sh\necho hello\n"),
    ]);
    let top = layer_tar(&[("app/", b""), ("app/data.txt", tag_text.as_bytes())]);
    TestImage::new(vec![TestLayer::gzip(base), TestLayer::plain(top)])
}

/// Options that keep tests quick: no syncfs per snapshot.
pub fn opts() -> LoadOptions {
    LoadOptions {
        sync: false,
        ..LoadOptions::default()
    }
}

pub fn open_store(dir: &Path) -> Store {
    Store::open(&dir.join("root")).unwrap()
}

/// A tar of `(name, bytes)` members with names written raw (hostile ones included).
pub fn raw_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Asserts the store holds no blob, snapshot, record or temp file.
pub fn assert_empty(store: &Store) {
    assert_eq!(
        store.blobs().list().unwrap(),
        Vec::<String>::new(),
        "blobs left"
    );
    assert_eq!(
        store.list_snapshots().unwrap(),
        Vec::<String>::new(),
        "snapshots left"
    );
    assert!(store.list_images().unwrap().is_empty(), "records left");
    let ingest = store.root().join("blobs/.ingest");
    assert_eq!(
        std::fs::read_dir(ingest).unwrap().count(),
        0,
        "temp blobs left"
    );
    let temps = std::fs::read_dir(store.snapshots_dir()).unwrap().count();
    assert_eq!(temps, 0, "snapshot temp dirs left");
}

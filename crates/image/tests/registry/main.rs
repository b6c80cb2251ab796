//! The registry client against a real registry (Debian's `docker-registry`) on 127.0.0.1:
//! push and pull round trips, multi-platform indexes, zstd layers, chunked uploads and
//! mounts, concurrent pulls, a corrupted blob, a registry killed mid-pull, Basic auth and a
//! Bearer token service. Images are made here from `/bin/busybox` (busybox-static).

// Test helpers outside #[test] fns: a failed setup step should panic right there.
#![allow(clippy::unwrap_used)]

mod deferred;
mod failures;
mod harness;
mod platform;
mod proxy;
mod resume;
mod roundtrip;
mod tls;
mod token;

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use compose_image::Store;
use compose_image::archive::{self, LoadOptions};
use compose_image::registry::{Client, ClientOptions, Event, Outcome, Progress};
use serde_json::json;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub use harness::Registry;

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar entry of a test layer.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

pub fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::Dir(n) => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, n, &[][..]).unwrap();
            }
            Entry::File(n, data, mode) => {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, n, *data).unwrap();
            }
            Entry::Symlink(n, target) => {
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, n, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// How a test layer is compressed.
#[derive(Clone, Copy)]
pub enum Comp {
    Plain,
    Gzip,
    Zstd,
}

pub struct TestLayer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
}

impl TestLayer {
    pub fn new(tar: Vec<u8>, comp: Comp, docker: bool) -> TestLayer {
        let (blob, mt) = match comp {
            Comp::Plain => (tar.clone(), "tar"),
            Comp::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&tar).unwrap();
                (e.finish().unwrap(), "tar+gzip")
            }
            Comp::Zstd => (zstd::encode_all(&tar[..], 3).unwrap(), "tar+zstd"),
        };
        let media_type = match (docker, mt) {
            (true, "tar") => "application/vnd.docker.image.rootfs.diff.tar".to_owned(),
            (true, _) => "application/vnd.docker.image.rootfs.diff.tar.gzip".to_owned(),
            (false, m) => format!("application/vnd.oci.image.layer.v1.{m}"),
        };
        TestLayer {
            diff_id: sha256(&tar),
            blob,
            media_type,
        }
    }

    pub fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

/// The busybox layer: `/bin/busybox` and `/bin/sh` linking to it. Made once per
/// compression (compressing in a debug build takes a second).
pub fn busybox_layer(comp: Comp) -> TestLayer {
    static MADE: [OnceLock<TestLayer>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let l = MADE[comp as usize].get_or_init(|| {
        let bb = std::fs::read("/bin/busybox").expect("busybox-static must be installed");
        let tar = tar_of(&[
            Entry::Dir("bin/"),
            Entry::File("bin/busybox", &bb, 0o755),
            Entry::Symlink("bin/sh", "busybox"),
        ]);
        TestLayer::new(tar, comp, false)
    });
    TestLayer {
        blob: l.blob.clone(),
        media_type: l.media_type.clone(),
        diff_id: l.diff_id.clone(),
    }
}

/// A small layer with one file whose content is `text`.
pub fn text_layer(path: &str, text: &str, comp: Comp) -> TestLayer {
    let dir = format!("{}/", path.rsplit_once('/').map_or("", |(d, _)| d));
    let tar = tar_of(&[Entry::Dir(&dir), Entry::File(path, text.as_bytes(), 0o644)]);
    TestLayer::new(tar, comp, false)
}

/// `n` bytes that do not compress (xorshift), for layers that take a while to send.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

pub struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_type: &'static str,
}

impl TestImage {
    /// An OCI image for linux/`arch`.
    pub fn new(layers: Vec<TestLayer>, arch: &str) -> TestImage {
        Self::build(layers, arch, false)
    }

    /// A Docker v2 schema 2 image.
    pub fn docker(layers: Vec<TestLayer>) -> TestImage {
        Self::build(layers, "amd64", true)
    }

    fn build(layers: Vec<TestLayer>, arch: &str, docker: bool) -> TestImage {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = serde_json::to_vec(&json!({
            "created": "2026-01-02T03:04:05Z",
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let (mt, cfg_mt) = if docker {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            )
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": cfg_mt, "digest": sha256(&config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type, "digest": l.digest(), "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        TestImage {
            layers,
            config,
            manifest,
            manifest_type: mt,
        }
    }

    pub fn manifest_digest(&self) -> String {
        sha256(&self.manifest)
    }

    /// Loads the image into `store` as `name` (through an OCI layout, as `image load`).
    pub fn load(&self, store: &Store, name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let put = |b: &[u8]| {
            let d = sha256(b);
            std::fs::write(blobs.join(d.strip_prefix("sha256:").unwrap()), b).unwrap();
        };
        put(&self.config);
        put(&self.manifest);
        for l in &self.layers {
            put(&l.blob);
        }
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": self.manifest_type,
            "digest": self.manifest_digest(),
            "size": self.manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }]});
        std::fs::write(
            dir.path().join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        let opts = LoadOptions {
            sync: false,
            ..LoadOptions::default()
        };
        archive::load(store, dir.path(), &opts).unwrap();
    }
}

/// The usual image: busybox (gzip) and a text layer on top.
pub fn busybox_image(text: &str) -> TestImage {
    TestImage::new(
        vec![
            busybox_layer(Comp::Gzip),
            text_layer("etc/motd", text, Comp::Plain),
        ],
        "amd64",
    )
}

/// Options for tests: no docker config of the machine's, quick retries.
pub fn options(state: &Path) -> ClientOptions {
    ClientOptions {
        docker_config: Some(state.join("no-docker-config.json")),
        certs_d: Some(state.join("no-certs.d")),
        retries: 2,
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        // No syncfs per snapshot: the machine's disk is shared with other builds.
        sync: false,
        ..ClientOptions::default()
    }
}

pub fn client(reg: &Registry, state: &Path) -> Client {
    Client::new(&reg.host(), options(state)).unwrap()
}

pub fn open_store(dir: &Path, name: &str) -> Store {
    Store::open(&dir.join(name)).unwrap()
}

/// Records every event's outcome.
#[derive(Default)]
pub struct Recorder {
    pub outcomes: Mutex<Vec<(String, Outcome)>>,
    pub bytes_events: Mutex<usize>,
    /// `unpack <digest>` and `done <digest>`, in the order they came.
    pub order: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn event(&self, e: &Event<'_>) {
        match e {
            Event::Done { digest, outcome } => {
                self.order.lock().unwrap().push(format!("done {digest}"));
                self.outcomes
                    .lock()
                    .unwrap()
                    .push((digest.to_string(), *outcome))
            }
            Event::Unpacking { digest } => {
                self.order.lock().unwrap().push(format!("unpack {digest}"))
            }
            Event::Bytes { .. } => *self.bytes_events.lock().unwrap() += 1,
            _ => {}
        }
    }
}

impl Recorder {
    pub fn count(&self, o: Outcome) -> usize {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, x)| *x == o)
            .count()
    }
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
    assert_no_temps(store);
}

pub fn assert_no_temps(store: &Store) {
    let ingest = store.root().join("blobs/.ingest");
    assert_eq!(
        std::fs::read_dir(ingest).unwrap().count(),
        0,
        "temp blobs left"
    );
    let temps = std::fs::read_dir(store.snapshots_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(temps, 0, "snapshot temp dirs left");
}

/// The path of `file` in the top snapshot of the store's image `reference`.
pub fn snapshot_file(
    store: &Store,
    reference: &str,
    layer: usize,
    file: &str,
) -> std::path::PathBuf {
    let rec = store.get_image(reference).unwrap().unwrap();
    store
        .snapshot_path(&rec.layers[layer].chain_id)
        .unwrap()
        .join(file)
}

/// Pushes as `name` an image whose one layer holds `etc/a` = `text` but whose config claims
/// `diff_id` for it. It cannot be loaded (its DiffID is false): it is stored by hand, with a
/// stand-in snapshot, and pushed from there.
pub(crate) fn push_forged(
    reg: &Registry,
    state: &Path,
    name: &str,
    text: &str,
    diff_id: &str,
) -> TestImage {
    let honest = text_layer("etc/a", text, Comp::Gzip);
    let mut claims = TestLayer::new(Vec::new(), Comp::Gzip, false);
    claims.blob = honest.blob.clone();
    claims.diff_id = diff_id.to_owned();
    let img = TestImage::new(vec![claims], "amd64");
    let src = open_store(state, &format!("forger-{}", sha256(name.as_bytes())));
    let blobs = src.blobs();
    let m = blobs.write_bytes(&img.manifest, "manifest").unwrap();
    let c = blobs.write_bytes(&img.config, "config").unwrap();
    let l = blobs.write_bytes(&img.layers[0].blob, "layer").unwrap();
    let chain = img.layers[0].diff_id.clone();
    std::fs::create_dir_all(src.snapshot_path(&chain).unwrap()).unwrap();
    src.put_image(&compose_image::ImageRecord {
        reference: name.to_owned(),
        manifest_digest: m.digest,
        manifest_size: m.size,
        media_type: compose_image::registry::OCI_MANIFEST.into(),
        config_digest: c.digest,
        config_size: c.size,
        platform: Default::default(),
        created: None,
        size: 0,
        layers: vec![compose_image::store::LayerRecord {
            digest: l.digest,
            media_type: img.layers[0].media_type.clone(),
            size: l.size,
            diff_id: chain.clone(),
            chain_id: chain,
        }],
    })
    .unwrap();
    let r = compose_image::Reference::parse(name).unwrap();
    compose_image::registry::push(
        &src,
        &client(reg, state),
        name,
        &r,
        &compose_image::registry::NoProgress,
    )
    .unwrap();
    img
}

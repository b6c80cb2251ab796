//! Push then pull, by tag and by digest, through every manifest and layer format.

use compose_image::Reference;
use compose_image::registry::{self, NoProgress, Outcome, RegistryError};

use super::*;

fn push(
    store: &Store,
    reg: &Registry,
    state: &Path,
    local: &str,
    target: &str,
) -> registry::Pushed {
    let c = client(reg, state);
    registry::push(
        store,
        &c,
        local,
        &Reference::parse(target).unwrap(),
        &NoProgress,
    )
    .unwrap()
}

fn pull(
    store: &Store,
    reg: &Registry,
    state: &Path,
    r: &str,
) -> registry::Result<registry::Pulled> {
    let c = client(reg, state);
    registry::pull(store, &c, &Reference::parse(r).unwrap(), &NoProgress)
}

#[test]
fn push_then_pull_by_tag_and_by_digest() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = busybox_image("by tag\n");
    let name = format!("{}/test/app:1", reg.host());
    img.load(&src, &name);
    let pushed = push(&src, &reg, tmp.path(), &name, &name);
    assert_eq!(pushed.digest, img.manifest_digest());
    assert_eq!(pushed.uploaded, 3, "config and two layers");

    let dst = open_store(tmp.path(), "dst");
    let rec = Recorder::default();
    let c = client(&reg, tmp.path());
    let pulled = registry::pull(&dst, &c, &Reference::parse(&name).unwrap(), &rec).unwrap();
    assert_eq!(pulled.digest, img.manifest_digest());
    assert_eq!(pulled.record.manifest_digest, img.manifest_digest());
    assert_eq!(pulled.downloaded, 4, "manifest, config, two layers");
    assert_eq!(rec.count(Outcome::Downloaded), 3);
    // Each layer is unpacked as it downloads: its unpack starts before its download ends.
    let order = rec.order.lock().unwrap().clone();
    for layer in img.layers.iter().map(|l| l.digest()) {
        let at = |what: &str| order.iter().position(|e| *e == format!("{what} {layer}"));
        let (unpack, done) = (at("unpack"), at("done"));
        assert!(unpack.is_some() && unpack < done, "{layer}: {order:?}");
    }
    let bb = std::fs::read(snapshot_file(&dst, &name, 0, "bin/busybox")).unwrap();
    assert_eq!(bb, std::fs::read("/bin/busybox").unwrap());
    let motd = std::fs::read_to_string(snapshot_file(&dst, &name, 1, "etc/motd")).unwrap();
    assert_eq!(motd, "by tag\n");

    // Again: everything is there, nothing is fetched.
    let rec = Recorder::default();
    let again = registry::pull(&dst, &c, &Reference::parse(&name).unwrap(), &rec).unwrap();
    assert_eq!(again.downloaded, 0);
    assert_eq!(rec.count(Outcome::Exists), 3);

    let by_digest = format!("{}/test/app@{}", reg.host(), img.manifest_digest());
    let other = open_store(tmp.path(), "other");
    let p = pull(&other, &reg, tmp.path(), &by_digest).unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
    assert!(other.get_image(&by_digest).unwrap().is_some());
    assert_no_temps(&other);
}

#[test]
fn docker_schema2_images_round_trip() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let mut bb = busybox_layer(Comp::Gzip);
    bb.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
    let img = TestImage::docker(vec![bb]);
    let name = format!("{}/docker/bb:v2", reg.host());
    img.load(&src, &name);
    push(&src, &reg, tmp.path(), &name, &name);
    let dst = open_store(tmp.path(), "dst");
    let p = pull(&dst, &reg, tmp.path(), &name).unwrap();
    assert_eq!(p.record.media_type, registry::DOCKER_MANIFEST);
    assert!(snapshot_file(&dst, &name, 0, "bin/busybox").is_file());
}

#[test]
fn zstd_and_uncompressed_layers() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = TestImage::new(
        vec![
            busybox_layer(Comp::Zstd),
            text_layer("etc/zstd", "zstd layer\n", Comp::Zstd),
            text_layer("etc/plain", "plain layer\n", Comp::Plain),
        ],
        "amd64",
    );
    assert!(img.layers[0].media_type.ends_with("+zstd"));
    let name = format!("{}/zstd/app:1", reg.host());
    img.load(&src, &name);
    push(&src, &reg, tmp.path(), &name, &name);
    let dst = open_store(tmp.path(), "dst");
    let p = pull(&dst, &reg, tmp.path(), &name).unwrap();
    assert!(p.record.layers[0].media_type.ends_with("+zstd"));
    let bb = std::fs::read(snapshot_file(&dst, &name, 0, "bin/busybox")).unwrap();
    assert_eq!(bb, std::fs::read("/bin/busybox").unwrap());
    let t = std::fs::read_to_string(snapshot_file(&dst, &name, 1, "etc/zstd")).unwrap();
    assert_eq!(t, "zstd layer\n");
    let t = std::fs::read_to_string(snapshot_file(&dst, &name, 2, "etc/plain")).unwrap();
    assert_eq!(t, "plain layer\n");
}

#[test]
fn chunked_uploads_and_cross_repository_mounts() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = busybox_image("chunks\n");
    let a = format!("{}/team/a:1", reg.host());
    img.load(&src, &a);
    let mut opts = options(tmp.path());
    opts.chunk_size = Some(64 << 10);
    let c = Client::new(&reg.host(), opts).unwrap();
    let rec = Recorder::default();
    registry::push(&src, &c, &a, &Reference::parse(&a).unwrap(), &rec).unwrap();
    assert_eq!(rec.count(Outcome::Pushed), 3);
    assert!(
        *rec.bytes_events.lock().unwrap() > 10,
        "a ~1 MB layer in 64 KiB chunks reports each chunk"
    );

    // The store knows `team/a` holds these blobs: pushing to `team/b` mounts them.
    let b = format!("{}/team/b:1", reg.host());
    let rec = Recorder::default();
    registry::push(&src, &c, &a, &Reference::parse(&b).unwrap(), &rec).unwrap();
    assert_eq!(
        rec.count(Outcome::Mounted),
        3,
        "{:?}",
        rec.outcomes.lock().unwrap()
    );
    assert_eq!(rec.count(Outcome::Pushed), 0);

    // And a third push finds them all there.
    let rec = Recorder::default();
    registry::push(&src, &c, &a, &Reference::parse(&b).unwrap(), &rec).unwrap();
    assert_eq!(rec.count(Outcome::Exists), 3);

    for r in [&a, &b] {
        let dst = open_store(
            tmp.path(),
            &format!("dst-{}", r.len() + r.ends_with("a:1") as usize),
        );
        pull(&dst, &reg, tmp.path(), r).unwrap();
        let motd = std::fs::read_to_string(snapshot_file(&dst, r, 1, "etc/motd")).unwrap();
        assert_eq!(motd, "chunks\n");
    }
}

#[test]
fn parallel_pulls_of_one_image_share_the_store() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = TestImage::new(
        vec![
            busybox_layer(Comp::Gzip),
            TestLayer::new(
                tar_of(&[Entry::File("data.bin", &noise(3 << 20, 7), 0o644)]),
                Comp::Gzip,
                false,
            ),
            text_layer("etc/motd", "parallel\n", Comp::Gzip),
        ],
        "amd64",
    );
    let name = format!("{}/par/app:1", reg.host());
    img.load(&src, &name);
    push(&src, &reg, tmp.path(), &name, &name);

    let root = tmp.path().join("shared");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (root, name, reg, state) = (&root, &name, &reg, tmp.path());
                s.spawn(move || {
                    let store = Store::open(root).unwrap();
                    pull(&store, reg, state, name).map(|p| p.record.manifest_digest)
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), img.manifest_digest());
        }
    });
    let store = Store::open(&root).unwrap();
    assert_eq!(store.list_images().unwrap().len(), 1);
    assert_eq!(store.list_snapshots().unwrap().len(), 3);
    assert_eq!(store.blobs().list().unwrap().len(), 5);
    assert_no_temps(&store);
    let data = std::fs::read(snapshot_file(&store, &name, 1, "data.bin")).unwrap();
    assert_eq!(data, noise(3 << 20, 7));
}

#[test]
fn unknown_tags_and_repositories_are_not_found() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path(), "s");
    for r in [
        "nope/app:1",
        "nope/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let e = pull(&store, &reg, tmp.path(), &format!("{}/{r}", reg.host())).unwrap_err();
        assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("not found"), "{e}");
    }
    assert_empty(&store);
}

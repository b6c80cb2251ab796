//! Garbage collection removes only what no image record uses.

use compose_image::archive;

use super::{TestImage, TestLayer, layer_tar, open_store, opts, sample_image};

#[test]
fn prune_removes_only_unreferenced_content() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let a = sample_image("a");
    // b shares a's base layer.
    let b = {
        let base = TestLayer::gzip(layer_tar(&[
            ("etc/", b""),
            ("etc/hostname", b"sample\n"),
            ("bin/", b""),
            ("bin/hello", b"#!/bin/sh\necho hello\n"),
        ]));
        TestImage::new(vec![
            base,
            TestLayer::plain(layer_tar(&[("b/", b""), ("b/only", b"b")])),
        ])
    };
    assert_eq!(a.layers[0].digest(), b.layers[0].digest());
    a.write_layout(&tmp.path().join("a"), "a:1");
    b.write_layout(&tmp.path().join("b"), "b:1");
    archive::load(&store, &tmp.path().join("a"), &opts()).unwrap();
    archive::load(&store, &tmp.path().join("b"), &opts()).unwrap();
    // Same image under a second name.
    let mut rec = store.get_image("a:1").unwrap().unwrap();
    rec.reference = "a:alias".into();
    store.put_image(&rec).unwrap();
    // Something nobody uses.
    let junk = store.blobs().write_bytes(b"junk", "junk").unwrap();
    // a: manifest, config, 2 layers; b: manifest, config, its top layer; the junk.
    assert_eq!(store.blobs().list().unwrap().len(), 8);
    assert_eq!(store.list_snapshots().unwrap().len(), 3);

    let report = store.prune().unwrap();
    assert_eq!(report.blobs, vec![junk.digest]);
    assert!(report.snapshots.is_empty());

    store.remove_image("a:1").unwrap();
    assert!(
        store.prune().unwrap().blobs.is_empty(),
        "a:alias still uses a"
    );

    store.remove_image("a:alias").unwrap();
    let report = store.prune().unwrap();
    let mut gone = vec![a.manifest_digest(), a.config_digest(), a.layers[1].digest()];
    gone.sort();
    let mut got = report.blobs.clone();
    got.sort();
    assert_eq!(got, gone);
    assert_eq!(report.snapshots.len(), 1, "a's top snapshot only");
    let b_rec = store.get_image("b:1").unwrap().unwrap();
    for d in b_rec.blobs() {
        assert!(store.blobs().has(d).unwrap(), "b's blob {d} kept");
    }
    for l in &b_rec.layers {
        assert!(store.snapshot_path(&l.chain_id).unwrap().join(".").is_dir());
    }
    assert!(
        store
            .snapshot_path(&b_rec.layers[0].chain_id)
            .unwrap()
            .join("etc/hostname")
            .is_file()
    );
    assert_eq!(store.prune().unwrap(), Default::default());

    store.remove_image("b:1").unwrap();
    store.prune().unwrap();
    super::assert_empty(&store);
}

/// Two stores on one root (as two processes would be) load the same layout while a third
/// prunes: every load ends recorded with all its content.
#[test]
fn concurrent_loads_and_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("busy");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "busy:1");
    let root = tmp.path().join("root");
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (root, layout) = (root.clone(), layout.clone());
            std::thread::spawn(move || {
                let store = compose_image::Store::open(&root).unwrap();
                for _ in 0..3 {
                    if i == 2 {
                        store.prune().unwrap();
                    } else {
                        archive::load(&store, &layout, &opts()).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = open_store(tmp.path());
    let rec = store.get_image("busy:1").unwrap().unwrap();
    for d in rec.blobs() {
        assert!(store.blobs().has(d).unwrap());
    }
    for l in &rec.layers {
        assert!(store.snapshot_path(&l.chain_id).unwrap().is_dir());
    }
    assert_eq!(store.prune().unwrap(), Default::default());
}

/// A container's hold keeps the image's snapshots (and blobs) through an untag and a prune,
/// even when the name is re-pointed at another image; its release lets the next prune go.
#[test]
fn a_hold_keeps_content_after_untag_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let a = sample_image("held");
    a.write_layout(&tmp.path().join("a"), "held:1");
    archive::load(&store, &tmp.path().join("a"), &opts()).unwrap();
    let rec = store.get_image("held:1").unwrap().unwrap();

    store.hold("container-1", &rec.manifest_digest).unwrap();
    store.hold("container-2", &rec.manifest_digest).unwrap();
    store.remove_image("held:1").unwrap();
    assert_eq!(
        store.prune().unwrap(),
        Default::default(),
        "held: nothing goes"
    );
    for l in &rec.layers {
        assert!(store.snapshot_path(&l.chain_id).unwrap().is_dir());
    }

    assert!(store.release("container-1").unwrap());
    assert!(!store.release("container-1").unwrap(), "released once");
    assert_eq!(store.prune().unwrap(), Default::default(), "one hold left");

    store.release("container-2").unwrap();
    let report = store.prune().unwrap();
    assert_eq!(report.snapshots.len(), rec.layers.len());
    super::assert_empty(&store);

    let err = store.hold("container-3", &rec.manifest_digest).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

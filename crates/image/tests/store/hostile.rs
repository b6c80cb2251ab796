//! Hostile archives and layouts: clear errors, nothing half-stored.

use compose_image::StoreError;
use compose_image::archive;

use super::{
    TestImage, TestLayer, assert_empty, hex_of, layer_tar, open_store, opts, raw_tar, sample_image,
    sha256,
};

#[test]
fn member_climbing_out_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[("../../x", b"owned"), ("manifest.json", b"[]")]);
    let path = tmp.path().join("evil.tar");
    std::fs::write(&path, tar).unwrap();
    let store = open_store(tmp.path());
    let err = archive::load(&store, &path, &opts()).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsafeMember { ref member, .. } if member == "../../x"),
        "{err:?}"
    );
    assert!(err.to_string().contains("../../x"));
    assert!(!tmp.path().join("x").exists() && !tmp.path().parent().unwrap().join("x").exists());
    assert_empty(&store);

    let tar = raw_tar(&[("/etc/evil", b"owned")]);
    std::fs::write(&path, tar).unwrap();
    let err = archive::load(&store, &path, &opts()).unwrap_err();
    assert!(matches!(err, StoreError::UnsafeMember { .. }), "{err:?}");
}

#[test]
fn symlink_member_out_of_the_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "a/layer.tar", "../../../etc/shadow")
        .unwrap();
    let path = tmp.path().join("evil.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let store = open_store(tmp.path());
    let err = archive::load(&store, &path, &opts()).unwrap_err();
    assert!(matches!(err, StoreError::UnsafeMember { .. }), "{err:?}");
    assert_empty(&store);
}

#[test]
fn manifest_naming_a_missing_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("x");
    let cfg = format!("{}.json", hex_of(&img.config_digest()));
    let manifest = serde_json::json!([{
        "Config": cfg, "RepoTags": ["app:1"], "Layers": ["l0/layer.tar", "gone/layer.tar"],
    }]);
    let tar = raw_tar(&[
        (&cfg, &img.config),
        ("l0/layer.tar", &img.layers[0].blob),
        ("manifest.json", &serde_json::to_vec(&manifest).unwrap()),
    ]);
    let path = tmp.path().join("missing.tar");
    std::fs::write(&path, tar).unwrap();
    let store = open_store(tmp.path());
    let err = archive::load(&store, &path, &opts()).unwrap_err();
    assert!(
        matches!(err, StoreError::MissingMember { ref member, .. } if member == "gone/layer.tar"),
        "{err:?}"
    );
    assert!(err.to_string().contains("gone/layer.tar"));
    assert_empty(&store);
}

#[test]
fn layer_not_matching_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let img = sample_image("x");
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "app:1");
    // Same size, other bytes: the digest check catches it.
    let victim = layout
        .join("blobs/sha256")
        .join(hex_of(&img.layers[1].digest()));
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    let store = open_store(tmp.path());
    let err = archive::load(&store, &layout, &opts()).unwrap_err();
    match &err {
        StoreError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &img.layers[1].digest());
            assert_eq!(actual, &sha256(&bytes));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_empty(&store);

    // A blob longer than its descriptor says.
    img.write_layout(&layout, "app:1");
    let mut longer = img.layers[1].blob.clone();
    longer.extend_from_slice(&[0; 512]);
    std::fs::write(&victim, &longer).unwrap();
    let err = archive::load(&store, &layout, &opts()).unwrap_err();
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err:?}");
    assert_empty(&store);
}

#[test]
fn config_lying_about_diff_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let base = TestLayer::gzip(layer_tar(&[("etc/", b""), ("etc/a", b"a")]));
    let top = TestLayer::gzip(layer_tar(&[("etc/b", b"b")]));
    let lie = vec![base.diff_id.clone(), sha256(b"not the layer")];
    let img = TestImage::with_diff_ids(vec![base, top], &lie);
    let layout = tmp.path().join("layout");
    img.write_layout(&layout, "app:1");
    let store = open_store(tmp.path());
    let err = archive::load(&store, &layout, &opts()).unwrap_err();
    let chain = format!("{err:?}");
    assert!(chain.contains("DiffIdMismatch"), "{chain}");
    assert_empty(&store);
}

#[test]
fn not_an_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("junk.tar");
    std::fs::write(&path, raw_tar(&[("hello.txt", b"hi")])).unwrap();
    let store = open_store(tmp.path());
    let err = archive::load(&store, &path, &opts()).unwrap_err();
    assert!(matches!(err, StoreError::BadArchive { .. }), "{err:?}");
}

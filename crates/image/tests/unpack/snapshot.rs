//! Snapshots: named by chain-id, all or nothing, safe to race.

use std::path::Path;

use compose_image::unpack::{Compression, UnpackError, UnpackOptions, chain_ids, unpack_snapshot};

use crate::*;

fn layer(n: u8) -> Vec<u8> {
    let mut l = Layer::new();
    l.file(&format!("f{n}"), &vec![n; 100_000])
        .dir("d")
        .file("d/x", b"x");
    l.tar()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn snapshots_are_named_by_chain_id() {
    need_root!();
    let tmp = tempdir();
    let snaps = tmp.path().join("snapshots");
    let (a, b) = (layer(1), layer(2));
    let ids = chain_ids(&[diff_id(&a), diff_id(&b)]).unwrap();
    let opts = UnpackOptions::default();
    let s1 = unpack_snapshot(
        &snaps,
        None,
        &diff_id(&a),
        &a[..],
        Compression::None,
        &opts,
        true,
    )
    .unwrap();
    let s2 = unpack_snapshot(
        &snaps,
        Some(&s1.chain_id),
        &diff_id(&b),
        &b[..],
        Compression::None,
        &opts,
        true,
    )
    .unwrap();
    assert_eq!(
        [s1.chain_id.clone(), s2.chain_id.clone()],
        [ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(s2.path, snaps.join(ids[1].trim_start_matches("sha256:")));
    assert!(s2.path.join("f2").is_file());
    assert!(s2.unpacked.is_some());
    // Once only: the second call finds it.
    let again = unpack_snapshot(
        &snaps,
        Some(&s1.chain_id),
        &diff_id(&b),
        &b[..],
        Compression::None,
        &opts,
        true,
    )
    .unwrap();
    assert!(again.unpacked.is_none());
    assert_eq!(entries(&snaps).len(), 2);
}

#[test]
fn a_diff_id_mismatch_leaves_no_snapshot() {
    need_root!();
    let tmp = tempdir();
    let snaps = tmp.path().join("snapshots");
    let a = layer(1);
    let wrong = diff_id(&layer(9));
    let r = unpack_snapshot(
        &snaps,
        None,
        &wrong,
        &a[..],
        Compression::None,
        &UnpackOptions::default(),
        false,
    );
    assert!(
        matches!(r, Err(UnpackError::DiffIdMismatch { .. })),
        "{r:?}"
    );
    assert!(
        entries(&snaps).is_empty(),
        "left behind: {:?}",
        entries(&snaps)
    );
}

#[test]
fn a_hostile_layer_leaves_no_snapshot() {
    need_root!();
    let tmp = tempdir();
    let snaps = tmp.path().join("snapshots");
    let mut l = Layer::new();
    l.file("ok", b"ok")
        .raw(tar::EntryType::Regular, b"../x", b"", 0o644, b"");
    let tar = l.tar();
    let r = unpack_snapshot(
        &snaps,
        None,
        &diff_id(&tar),
        &tar[..],
        Compression::None,
        &UnpackOptions::default(),
        false,
    );
    assert!(matches!(r, Err(UnpackError::Unsafe { .. })), "{r:?}");
    assert!(entries(&snaps).is_empty());
}

#[test]
fn concurrent_unpacks_of_one_snapshot_agree() {
    need_root!();
    let tmp = tempdir();
    let snaps = tmp.path().join("snapshots");
    let a = layer(3);
    let id = diff_id(&a);
    for _round in 0..5 {
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        unpack_snapshot(
                            &snaps,
                            None,
                            &id,
                            &a[..],
                            Compression::None,
                            &UnpackOptions::default(),
                            false,
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert!(results.iter().filter(|s| s.unpacked.is_some()).count() <= 1);
        assert!(results.iter().all(|s| s.path == results[0].path));
        assert_eq!(
            entries(&snaps),
            [id.trim_start_matches("sha256:")],
            "no temp dir left"
        );
        assert_eq!(
            std::fs::read(results[0].path.join("f3")).unwrap(),
            vec![3u8; 100_000]
        );
        std::fs::remove_dir_all(&snaps).unwrap();
    }
}

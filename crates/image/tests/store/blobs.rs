//! The content store: verified writes, mismatches, concurrent writers.

use std::io::Read;
use std::sync::Arc;

use compose_image::StoreError;

use super::{open_store, sha256};

#[test]
fn write_verify_read_list_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let blobs = store.blobs();
    let data = b"hello blob".to_vec();
    let d = sha256(&data);
    assert!(!blobs.has(&d).unwrap());
    let w = blobs
        .write(&data[..], Some(&d), Some(data.len() as u64), "test")
        .unwrap();
    assert_eq!(
        (w.digest.as_str(), w.size, w.created),
        (d.as_str(), 10, true)
    );
    assert!(blobs.has(&d).unwrap());
    assert_eq!(blobs.size(&d).unwrap(), 10);
    let mut back = Vec::new();
    blobs.open_blob(&d).unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(blobs.list().unwrap(), vec![d.clone()]);
    assert!(
        blobs
            .path(&d)
            .unwrap()
            .ends_with(format!("blobs/sha256/{}", &d[7..]))
    );
    // Present already: not read again.
    let again = blobs.write(&b""[..], Some(&d), None, "test").unwrap();
    assert!(!again.created);
    // Unverified write: stored under its computed digest.
    let w2 = blobs.write(&b"other"[..], None, None, "test").unwrap();
    assert_eq!(w2.digest, sha256(b"other"));
    assert!(blobs.remove(&d).unwrap());
    assert!(!blobs.remove(&d).unwrap());
    assert!(matches!(
        blobs.open_blob(&d),
        Err(StoreError::BlobNotFound { .. })
    ));
    assert_eq!(blobs.list().unwrap(), vec![w2.digest]);
}

#[test]
fn mismatched_content_is_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let blobs = store.blobs();
    let claimed = sha256(b"what was promised");
    let err = blobs
        .write(&b"something else"[..], Some(&claimed), None, "layer x")
        .unwrap_err();
    match &err {
        StoreError::DigestMismatch {
            what,
            expected,
            actual,
        } => {
            assert_eq!(what, "layer x");
            assert_eq!(expected, &claimed);
            assert_eq!(actual, &sha256(b"something else"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(&claimed));
    // Too long for the size the descriptor says: refused without reading it all.
    let long = vec![7u8; 1 << 20];
    let err = blobs.write(&long[..], None, Some(100), "big").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SizeMismatch {
                expected: 100,
                actual: 101,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        blobs.write(&b"x"[..], Some("sha256:nothex"), None, "t"),
        Err(StoreError::InvalidDigest { .. })
    ));
    super::assert_empty(&store);
}

#[test]
fn concurrent_writers_of_one_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open_store(tmp.path()));
    let data: Arc<Vec<u8>> = Arc::new((0..(2 << 20)).map(|i| (i % 251) as u8).collect());
    let d = sha256(&data);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (store, data, d) = (store.clone(), data.clone(), d.clone());
            std::thread::spawn(move || {
                // Half verify against the digest (and may find it there), half do not.
                let expected = (i % 2 == 0).then_some(d.as_str());
                store
                    .blobs()
                    .write(&data[..], expected, None, "shared")
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|w| w.created).count(), 1);
    assert!(
        results
            .iter()
            .all(|w| w.digest == d && w.size == data.len() as u64)
    );
    let mut back = Vec::new();
    store
        .blobs()
        .open_blob(&d)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(&back, &*data);
    assert_eq!(store.blobs().list().unwrap(), vec![d]);
    let ingest = store.root().join("blobs/.ingest");
    assert_eq!(std::fs::read_dir(ingest).unwrap().count(), 0);
}

/// Temp files of a writer that died (a crash mid-write) go when the store is opened again;
/// a live process's stay.
#[test]
fn stale_temps_go_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    drop(compose_image::Store::open(&root).unwrap());
    // pid_max is at most 2^22: this pid cannot be alive.
    let dead = 1u32 << 23;
    let ingest = root.join("blobs/.ingest");
    std::fs::write(ingest.join(format!("{dead}-0")), b"half a blob").unwrap();
    let live = ingest.join(format!("{}-999", std::process::id()));
    std::fs::write(&live, b"in progress").unwrap();
    let snap = root.join(format!("snapshots/.tmp-abcd-{dead}-0"));
    std::fs::create_dir_all(snap.join("usr/bin")).unwrap();
    let store = compose_image::Store::open(&root).unwrap();
    assert!(!snap.exists());
    let left: Vec<_> = std::fs::read_dir(&ingest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, std::slice::from_ref(&live));
    assert!(store.blobs().list().unwrap().is_empty());
    std::fs::remove_file(live).unwrap();
}

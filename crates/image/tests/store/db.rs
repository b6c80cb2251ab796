//! Image records in the state database.

use compose_image::StoreError;
use compose_image::store::{ImageRecord, LayerRecord, Platform};

use super::{open_store, sha256};

/// A record whose blobs and snapshot are put in the store first.
fn record(store: &compose_image::Store, reference: &str) -> ImageRecord {
    let b = store.blobs();
    let m = b.write_bytes(b"manifest", "m").unwrap();
    let c = b.write_bytes(b"config", "c").unwrap();
    let l = b.write_bytes(b"layer", "l").unwrap();
    let diff_id = sha256(b"layer");
    std::fs::create_dir_all(store.snapshot_path(&diff_id).unwrap()).unwrap();
    ImageRecord {
        reference: reference.into(),
        manifest_digest: m.digest,
        manifest_size: 8,
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        config_digest: c.digest,
        config_size: 6,
        platform: Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        },
        created: Some("2026-01-02T03:04:05Z".into()),
        size: 19,
        layers: vec![LayerRecord {
            digest: l.digest,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            size: 5,
            diff_id: diff_id.clone(),
            chain_id: diff_id,
        }],
    }
}

#[test]
fn records_round_trip_by_normalized_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let rec = record(&store, "redis");
    store.put_image(&rec).unwrap();
    store
        .put_image(&ImageRecord {
            reference: "localhost:5000/ns/app:1".into(),
            ..rec.clone()
        })
        .unwrap();
    let got = store
        .get_image("docker.io/library/redis:latest")
        .unwrap()
        .unwrap();
    assert_eq!(got.reference, "docker.io/library/redis:latest");
    assert_eq!(
        ImageRecord {
            reference: "redis".into(),
            ..got.clone()
        },
        rec
    );
    assert_eq!(store.get_image("redis:latest").unwrap().unwrap(), got);
    assert!(store.get_image("redis:7").unwrap().is_none());
    let all: Vec<String> = store
        .list_images()
        .unwrap()
        .into_iter()
        .map(|r| r.reference)
        .collect();
    assert_eq!(
        all,
        ["docker.io/library/redis:latest", "localhost:5000/ns/app:1"]
    );

    assert!(store.remove_image("redis").unwrap());
    assert!(!store.remove_image("redis").unwrap());
    assert!(store.get_image("redis").unwrap().is_none());
    assert!(
        store
            .get_image("localhost:5000/ns/app:1")
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store.get_image("UPPER case"),
        Err(StoreError::Reference(_))
    ));
}

#[test]
fn records_survive_reopen_and_retag() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = {
        let store = open_store(tmp.path());
        let rec = record(&store, "app:1");
        store.put_image(&rec).unwrap();
        rec
    };
    let store = open_store(tmp.path());
    let got = store.get_image("app:1").unwrap().unwrap();
    assert_eq!(got.manifest_digest, rec.manifest_digest);
    assert_eq!(got.layers, rec.layers);
    // The schema version is recorded for later migrations; WAL is on.
    let conn = rusqlite::Connection::open(store.root().join("state.db")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, compose_image::store::schema::SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Retag to another manifest: the reference follows.
    let m2 = store.blobs().write_bytes(b"manifest 2", "m").unwrap();
    let rec2 = ImageRecord {
        manifest_digest: m2.digest.clone(),
        ..rec
    };
    store.put_image(&rec2).unwrap();
    assert_eq!(
        store.get_image("app:1").unwrap().unwrap().manifest_digest,
        m2.digest
    );
}

#[test]
fn a_record_needs_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let mut rec = record(&store, "app");
    rec.config_digest = sha256(b"absent");
    let err = store.put_image(&rec).unwrap_err();
    assert!(
        matches!(err, StoreError::BlobNotFound { ref digest } if *digest == rec.config_digest),
        "{err:?}"
    );
    let mut rec = record(&store, "app");
    rec.layers[0].chain_id = sha256(b"no such snapshot");
    assert!(matches!(
        store.put_image(&rec),
        Err(StoreError::BadImage { .. })
    ));
    assert!(store.list_images().unwrap().is_empty());
}

#[test]
fn processes_opening_a_fresh_data_root_together_all_succeed() {
    // Switching a new database to WAL takes an exclusive lock that SQLite does not wait
    // for; every opener must still get the store (CI once saw "database is locked" here).
    for round in 0..40 {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(format!("root{round}"));
        let gate = std::sync::Barrier::new(12);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|_| {
                    let (root, gate) = (&root, &gate);
                    s.spawn(move || {
                        gate.wait();
                        compose_image::Store::open(root).map(|_| ())
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
    }
}

#[test]
fn opening_an_up_to_date_store_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open_store(tmp.path());
    let wal = tmp.path().join("root").join("state.db-wal");
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = len(&wal);
    // While the first is open, its log stays: a second open that committed anything (the
    // schema version, every time) would append to it and sync it.
    let second = open_store(tmp.path());
    assert_eq!(len(&wal), before, "a second open wrote to the log");
    drop((first, second));
}

#[test]
fn closing_the_store_leaves_the_log_for_the_next_command() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    store.put_image(&record(&store, "app:1")).unwrap();
    drop(store);
    // Checkpointing, syncing and deleting the log on close cost every command ~5-10 ms.
    let wal = tmp.path().join("root").join("state.db-wal");
    assert!(wal.exists(), "the log was deleted on close");
    let store = open_store(tmp.path());
    assert!(store.get_image("app:1").unwrap().is_some());
}

//! Deferred unpack: a pull that stores the verified blobs and the record only, and the
//! snapshots made on first use by `Store::ensure_snapshots` (DiffID verified then).

use compose_image::Reference;
use compose_image::registry::{self, Client, NoProgress, RegistryError};
use compose_image::unpack::UnpackOptions;

use super::*;

fn deferred_client(reg: &Registry, state: &Path) -> Client {
    let opts = ClientOptions {
        defer_unpack: true,
        ..options(state)
    };
    Client::new(&reg.host(), opts).unwrap()
}

fn push_loaded(reg: &Registry, state: &Path, img: &TestImage, name: &str) {
    let store = open_store(state, "push-src");
    img.load(&store, name);
    registry::push(
        &store,
        &client(reg, state),
        name,
        &Reference::parse(name).unwrap(),
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn a_deferred_pull_unpacks_on_first_use() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let img = busybox_image("deferred\n");
    let name = format!("{}/lazy/app:1", reg.host());
    push_loaded(&reg, tmp.path(), &img, &name);

    let dst = open_store(tmp.path(), "dst");
    let c = deferred_client(&reg, tmp.path());
    let pulled = registry::pull(&dst, &c, &Reference::parse(&name).unwrap(), &NoProgress).unwrap();
    assert_eq!(pulled.downloaded, 4, "manifest, config, two layers");
    // Recorded and listed, its blobs stored, no snapshot made yet.
    let rec = dst.get_image(&name).unwrap().unwrap();
    assert_eq!(dst.list_images().unwrap().len(), 1);
    for l in &img.layers {
        assert!(dst.blobs().has(&l.digest()).unwrap());
    }
    assert!(dst.list_snapshots().unwrap().is_empty());
    // A prune keeps what the record uses, though nothing is unpacked.
    let report = dst.prune().unwrap();
    assert!(report.blobs.is_empty(), "{report:?}");

    // Two first uses at once: both get the dirs, one set of snapshots is made.
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| dst.ensure_snapshots(&rec, &UnpackOptions::default(), false)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    assert_eq!(results[0].0, results[1].0);
    assert_eq!(results[0].0.len(), 2);
    assert_eq!(dst.list_snapshots().unwrap().len(), 2);
    let bb = std::fs::read(results[0].0[0].join("bin/busybox")).unwrap();
    assert_eq!(bb, std::fs::read("/bin/busybox").unwrap());
    let motd = std::fs::read_to_string(results[0].0[1].join("etc/motd")).unwrap();
    assert_eq!(motd, "deferred\n");
    assert_no_temps(&dst);

    // Later uses find them.
    let (dirs, made) = dst
        .ensure_snapshots(&rec, &UnpackOptions::default(), false)
        .unwrap();
    assert_eq!((dirs, made), (results[0].0.clone(), 0));

    // The same tree as an eager pull's.
    let eager = open_store(tmp.path(), "eager");
    registry::pull(
        &eager,
        &client(&reg, tmp.path()),
        &Reference::parse(&name).unwrap(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(
        eager.get_image(&name).unwrap().unwrap().layers,
        rec.layers,
        "same record"
    );
    assert_eq!(
        eager.list_snapshots().unwrap(),
        dst.list_snapshots().unwrap()
    );
}

/// The trade-off of deferring: a layer whose content is not its config's DiffID is found
/// at first use, not at pull. It is refused there, and no snapshot is left.
#[test]
fn a_false_diff_id_is_refused_at_first_use() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("{}/lazy/liar:1", reg.host());
    let img = push_forged(
        &reg,
        tmp.path(),
        &name,
        "forged\n",
        &sha256(b"some other tar"),
    );
    let r = Reference::parse(&name).unwrap();

    let dst = open_store(tmp.path(), "dst");
    let c = deferred_client(&reg, tmp.path());
    registry::pull(&dst, &c, &r, &NoProgress).unwrap();
    let rec = dst.get_image(&name).unwrap().unwrap();
    let e = dst
        .ensure_snapshots(&rec, &UnpackOptions::default(), false)
        .unwrap_err();
    let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        msg.contains(&img.layers[0].digest()) && msg.contains("DiffID mismatch"),
        "{msg}"
    );
    assert!(dst.list_snapshots().unwrap().is_empty());
    assert_no_temps(&dst);

    // An eager pull of the same image refuses it at pull time and keeps nothing.
    let eager = open_store(tmp.path(), "eager");
    let e = registry::pull(&eager, &client(&reg, tmp.path()), &r, &NoProgress).unwrap_err();
    assert!(
        e.to_string().contains("DiffID") || format!("{e:?}").contains("DiffId"),
        "{e}"
    );
    assert_empty(&eager);
}

/// A deferred pull reads no layer, except a new blob whose snapshot is there already: first
/// use would never read it, so a registry could slip other content under a known DiffID.
#[test]
fn a_new_blob_under_a_known_diff_id_is_verified_even_deferred() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let honest = TestImage::new(vec![text_layer("etc/a", "honest\n", Comp::Gzip)], "amd64");
    let name_a = format!("{}/lazy/honest:1", reg.host());
    push_loaded(&reg, tmp.path(), &honest, &name_a);
    let name_b = format!("{}/lazy/forged:1", reg.host());
    let forged = push_forged(
        &reg,
        tmp.path(),
        &name_b,
        "forged\n",
        &honest.layers[0].diff_id,
    );

    let dst = open_store(tmp.path(), "dst");
    let c = deferred_client(&reg, tmp.path());
    let rec = |n: &str| {
        registry::pull(&dst, &c, &Reference::parse(n).unwrap(), &NoProgress).map(|p| p.record)
    };
    let a = rec(&name_a).unwrap();
    dst.ensure_snapshots(&a, &UnpackOptions::default(), false)
        .unwrap();
    let e = rec(&name_b).unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("DiffID"), "{e}");
    assert!(!dst.blobs().has(&forged.layers[0].digest()).unwrap());
    assert_eq!(dst.list_images().unwrap().len(), 1);
    assert_no_temps(&dst);
}

//! A build step's change, end to end on the real kernel (as root): an overlay over a lower
//! layer, files added, deleted and a directory replaced, the upper dir written as a layer,
//! that layer unpacked by the image store's unpacker, and the two layers mounted again:
//! the merged view must be what the step left.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use compose_build::diff::write_layer;
use compose_build::mount::{MountError, Overlay, in_private_namespace};
use compose_image::unpack::{Compression, UnpackOptions, unpack_layer};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn mounted_in(dir: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    mounts.contains(&*dir.to_string_lossy())
}

#[test]
fn overlay_change_round_trips_through_a_layer() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| {
        let p = tmp.path().join(n);
        fs::create_dir_all(&p).unwrap();
        p
    };
    let (lower, upper, work, merged) = (d("lower"), d("upper"), d("work"), d("merged"));
    fs::write(lower.join("keep"), b"keep").unwrap();
    fs::write(lower.join("gone"), b"gone").unwrap();
    fs::create_dir(lower.join("dir")).unwrap();
    fs::write(lower.join("dir/old"), b"old").unwrap();

    let overlay = Overlay {
        lowers: vec![lower.clone()],
        upper: upper.clone(),
        work,
    };
    in_private_namespace(|| -> Result<(), MountError> {
        overlay.mount(&merged)?;
        fs::remove_file(merged.join("gone")).unwrap();
        fs::remove_dir_all(merged.join("dir")).unwrap();
        fs::create_dir(merged.join("dir")).unwrap();
        fs::write(merged.join("dir/new"), b"new").unwrap();
        fs::write(merged.join("added"), b"added").unwrap();
        rustix::fs::setxattr(
            merged.join("added"),
            "user.note",
            b"hi",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        Ok(())
    })
    .unwrap();
    assert!(
        !mounted_in(&merged),
        "the mount stayed in its thread's namespace"
    );

    let mut tar = Vec::new();
    let stats = write_layer(&upper, &mut tar).unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1), "{stats:?}");
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for want in [".wh.gone", "dir/.wh..wh..opq", "dir/new", "added"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing in {names:?}"
        );
    }

    // The layer as the store keeps it, then both layers mounted again.
    let snap = d("snapshot");
    unpack_layer(
        &tar[..],
        Compression::Detect,
        &snap,
        &UnpackOptions::default(),
    )
    .unwrap();
    let (upper2, work2, merged2) = (d("upper2"), d("work2"), d("merged2"));
    let view = Overlay {
        lowers: vec![lower, snap],
        upper: upper2,
        work: work2,
    };
    in_private_namespace(|| -> Result<(), MountError> {
        view.mount(&merged2)?;
        let mut top: Vec<_> = fs::read_dir(&merged2)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["added", "dir", "keep"]);
        let dir: Vec<_> = fs::read_dir(merged2.join("dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(dir, ["new"], "the opaque dir hides the lower one's entries");
        let mut note = [0u8; 8];
        let n = rustix::fs::getxattr(merged2.join("added"), "user.note", &mut note).unwrap();
        assert_eq!(&note[..n], b"hi");
        Ok(())
    })
    .unwrap();
}

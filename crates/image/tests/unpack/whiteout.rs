//! Whiteouts, checked through a real overlay mount of the snapshots.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use compose_image::unpack::{Compression, Snapshot, UnpackOptions, unpack_snapshot};

use crate::*;

/// A read-only overlay of `lowers` (topmost first), unmounted on drop, even on failure.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lowers: &[&Path], target: &Path) -> Overlay {
        std::fs::create_dir_all(target).unwrap();
        let lowerdir: Vec<_> = lowers.iter().map(|p| p.to_str().unwrap()).collect();
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!("lowerdir={}", lowerdir.join(":")))
            .arg(target)
            .status()
            .unwrap();
        assert!(st.success(), "mount overlay failed");
        Overlay(target.to_owned())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn snapshot(dir: &Path, parent: Option<&str>, tar: &[u8]) -> Snapshot {
    unpack_snapshot(
        dir,
        parent,
        &diff_id(tar),
        tar,
        Compression::None,
        &UnpackOptions::default(),
        false,
    )
    .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn whiteouts_hide_lower_entries_in_the_merged_overlay() {
    need_root!();
    let tmp = tempdir();
    let snaps = tmp.path().join("snapshots");
    let mut l1 = Layer::new();
    l1.file("a/keep", b"k")
        .file("a/gone", b"g")
        .file("d/lower1", b"1")
        .file("d/sub/lower2", b"2")
        .file("x", b"lower x")
        .file("y/ly", b"ly")
        .file("z/lz", b"lz");
    let l1 = l1.tar();
    let mut l2 = Layer::new();
    l2.file("a/.wh.gone", b"")
        .file("d/.wh..wh..opq", b"")
        .file("d/upper", b"u")
        .file(".wh.x", b"")
        .file("x", b"upper x")
        .dir("y")
        .file(".wh.y", b"")
        .file("y/uy", b"uy")
        .file(".wh.z", b"")
        .file("z/uz", b"uz")
        .file(".wh.never-existed", b"")
        .file("e/.wh..wh..opq", b"");
    let l2 = l2.tar();

    let s1 = snapshot(&snaps, None, &l1);
    let s2 = snapshot(&snaps, Some(&s1.chain_id), &l2);
    let stats = s2.unpacked.clone().unwrap();
    assert_eq!(stats.whiteouts, 5);

    // On disk, in overlay's format.
    let wh = lmeta(&s2.path.join("a/gone"));
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let mut buf = [0u8; 4];
    let n = rustix::fs::lgetxattr(s2.path.join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(!exists(&s2.path.join("a/.wh.gone")));
    assert!(!exists(&s2.path.join("d/.wh..wh..opq")));

    let merged = tmp.path().join("merged");
    let _m = Overlay::mount(&[&s2.path, &s1.path], &merged);
    assert_eq!(names(&merged.join("a")), ["keep"]);
    assert_eq!(
        names(&merged.join("d")),
        ["upper"],
        "opaque dir hides lower entries"
    );
    assert_eq!(std::fs::read(merged.join("x")).unwrap(), b"upper x");
    assert_eq!(
        names(&merged.join("y")),
        ["uy"],
        "a whited-out dir of the same layer is opaque"
    );
    assert_eq!(names(&merged.join("z")), ["uz"]);
    assert!(!exists(&merged.join("never-existed")));
    assert!(merged.join("e").is_dir());
}

#[test]
fn whiteouts_never_delete_entries_of_their_own_layer() {
    need_root!();
    let mut l = Layer::new();
    l.file("f", b"kept")
        .file(".wh.f", b"")
        .file("g", b"g2")
        .file("dir/.wh..wh..opq", b"")
        .file("dir/in", b"in");
    let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert_eq!(std::fs::read(root.join("f")).unwrap(), b"kept");
    assert_eq!(std::fs::read(root.join("dir/in")).unwrap(), b"in");
}

//! Hostile layers: nothing is ever written outside the root.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use compose_image::unpack::{UnpackError, UnpackOptions};
use tar::EntryType;

use crate::*;

/// The error must name the entry.
fn assert_refused(r: Result<UnpackStats, UnpackError>, entry: &str) {
    match r {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(entry), "error {msg:?} does not name {entry:?}");
        }
        Ok(s) => panic!("unpacked a hostile layer: {s:?}"),
    }
}

/// A dir outside the root, with a canary, that must be unchanged at the end.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Self {
        let dir = tempdir();
        std::fs::write(dir.path().join("secret"), b"secret").unwrap();
        Outside { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn assert_untouched(&self) {
        assert_eq!(listing(self.path()), vec![self.path().join("secret")]);
        assert_eq!(
            std::fs::read(self.path().join("secret")).unwrap(),
            b"secret"
        );
        assert_eq!(nlink(&self.path().join("secret")), 1);
    }
}

#[test]
fn dot_dot_paths_are_refused() {
    need_root!();
    for name in [
        &b"../escape"[..],
        b"a/../../escape",
        b"./../../../../tmp/escape",
    ] {
        let mut l = Layer::new();
        l.raw(EntryType::Regular, name, b"", 0o644, b"pwned");
        let (tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
        assert_refused(r, "escape");
        assert!(listing(&root).is_empty());
        assert_eq!(listing(tmp.path()), vec![root.clone()]);
    }
}

#[test]
fn absolute_paths_land_inside_the_root() {
    need_root!();
    let outside = Outside::new();
    let abs = outside.path().join("abs");
    let mut l = Layer::new();
    l.raw(
        EntryType::Regular,
        abs.to_str().unwrap().as_bytes(),
        b"",
        0o644,
        b"x",
    );
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    let inside = root.join(abs.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
    outside.assert_untouched();
}

#[test]
fn writing_through_a_symlink_pointing_out_stays_inside() {
    need_root!();
    let outside = Outside::new();
    let out = outside.path().to_str().unwrap();

    // The target does not exist in the root: refused, nothing anywhere.
    let mut l = Layer::new();
    l.symlink("evil", out).file("evil/pwned", b"pwned");
    let (_tmp, _root, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "evil/pwned");
    outside.assert_untouched();

    // The target exists in the root too: the write lands there.
    let mut l = Layer::new();
    l.dir(out.trim_start_matches('/'))
        .symlink("evil", out)
        .file("evil/pwned", b"pwned");
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    let inside = root.join(out.trim_start_matches('/')).join("pwned");
    assert_eq!(std::fs::read(inside).unwrap(), b"pwned");
    outside.assert_untouched();

    // A file entry at a symlink's own name replaces the symlink, never writes through it.
    let target = outside.path().join("secret");
    let mut l = Layer::new();
    l.symlink("link", target.to_str().unwrap())
        .file("link", b"overwritten");
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert_eq!(std::fs::read(root.join("link")).unwrap(), b"overwritten");
    outside.assert_untouched();
}

/// The unpacker reuses the last entry's parent directory fd for its siblings: a directory
/// replaced (by a symlink pointing out, by a file) between two of its children must be
/// resolved afresh, never written into through a stale fd nor followed out of the root.
#[test]
fn a_parent_replaced_between_siblings_is_resolved_afresh() {
    need_root!();
    let outside = Outside::new();
    let out = outside.path().to_str().unwrap();

    // d/ with a child, d replaced by a symlink to `out`, then another child of d: it lands
    // in the root's copy of `out`, the old d (and its child) is gone.
    let mut l = Layer::new();
    l.dir("d")
        .file("d/one", b"1")
        .dir(out.trim_start_matches('/'))
        .symlink("d", out)
        .file("d/two", b"2");
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert!(lmeta(&root.join("d")).file_type().is_symlink());
    let inside = root.join(out.trim_start_matches('/'));
    assert_eq!(std::fs::read(inside.join("two")).unwrap(), b"2");
    assert!(!exists(&inside.join("one")));
    outside.assert_untouched();

    // The same with the symlink's target missing from the root: refused, naming the entry.
    let mut l = Layer::new();
    l.dir("d")
        .file("d/one", b"1")
        .symlink("d", out)
        .file("d/two", b"2");
    let (_tmp, _root, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "d/two");
    outside.assert_untouched();

    // d replaced by a file between two children: the second child is refused (d is not a
    // directory any more), not written into the unlinked directory.
    let mut l = Layer::new();
    l.dir("d")
        .file("d/one", b"1")
        .file("d", b"now a file")
        .file("d/two", b"2");
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "d/two");
    assert_eq!(std::fs::read(root.join("d")).unwrap(), b"now a file");
}

#[test]
fn relative_symlink_chains_climbing_out_stay_inside() {
    need_root!();
    let tmp = tempdir();
    let root = tmp.path().join("a/b/root");
    std::fs::create_dir_all(&root).unwrap();
    let mut l = Layer::new();
    l.symlink("up", "../../..")
        .symlink("up2", "up/../..")
        .dir("sub")
        .symlink("sub/up3", "../../../../../..")
        .file("up/one", b"1")
        .file("up2/two", b"2")
        .file("sub/up3/three", b"3")
        .dir("up/made")
        .file("up2/made/four", b"4");
    let opts = UnpackOptions::default();
    compose_image::unpack::unpack_layer(
        &l.tar()[..],
        compose_image::unpack::Compression::None,
        &root,
        &opts,
    )
    .unwrap();
    for f in ["one", "two", "three", "made/four"] {
        assert!(root.join(f).is_file(), "{f} not inside the root");
    }
    // Nothing above the root but the dirs the test made.
    let above: Vec<_> = listing(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with(&root))
        .collect();
    assert_eq!(above, vec![tmp.path().join("a"), tmp.path().join("a/b")]);
}

#[test]
fn hardlinks_out_of_the_root_are_refused() {
    need_root!();
    let outside = Outside::new();
    let secret = outside.path().join("secret");
    let passwd_links = nlink(Path::new("/etc/passwd"));

    let mut l = Layer::new();
    l.raw(EntryType::Link, b"h", b"../../etc/passwd", 0o644, b"");
    let (_t, _r, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "../../etc/passwd");

    // Absolute targets are taken under the root: absent there, so refused.
    for target in ["/etc/passwd", secret.to_str().unwrap()] {
        let mut l = Layer::new();
        l.hardlink("h", target);
        let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
        assert_refused(r, target);
        assert!(!exists(&root.join("h")));
    }

    // Through a symlink pointing out: resolved inside the root, where it is absent.
    let mut l = Layer::new();
    l.symlink("evil", outside.path().to_str().unwrap())
        .hardlink("h", "evil/secret")
        .symlink("etc", "/etc")
        .hardlink("h2", "etc/passwd");
    let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "evil/secret");
    assert!(!exists(&root.join("h")));

    // An absolute target that the layer has: linked inside.
    let mut l = Layer::new();
    l.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .hardlink("h", "/etc/passwd");
    let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert_eq!(nlink(&root.join("etc/passwd")), 2);

    assert_eq!(nlink(Path::new("/etc/passwd")), passwd_links);
    outside.assert_untouched();
}

#[test]
fn a_hardlink_to_a_symlink_links_the_symlink_not_its_target() {
    need_root!();
    let outside = Outside::new();
    let secret = outside.path().join("secret");
    let mut l = Layer::new();
    l.symlink("s", secret.to_str().unwrap()).hardlink("h", "s");
    let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert!(lmeta(&root.join("h")).file_type().is_symlink());
    outside.assert_untouched();
}

#[test]
fn device_nodes_are_refused_unless_allowed() {
    need_root!();
    for (kind, name) in [(EntryType::Char, "dev/null"), (EntryType::Block, "dev/sda")] {
        let mut l = Layer::new();
        l.entry(
            kind,
            name,
            None,
            |h| {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
            },
            b"",
        );
        let tar = l.tar();
        let (_t, root, r) = unpack(&tar, &UnpackOptions::default());
        assert!(matches!(r, Err(UnpackError::DeviceRefused { .. })), "{r:?}");
        assert_refused(r, name);
        assert!(!exists(&root.join(name)));

        let opts = UnpackOptions {
            allow_devices: true,
            ..Default::default()
        };
        let (_t, root, r) = unpack(&tar, &opts);
        r.unwrap();
        let m = lmeta(&root.join(name));
        assert!(m.file_type().is_char_device() || m.file_type().is_block_device());
    }
}

#[test]
fn a_file_cannot_be_a_parent_directory() {
    need_root!();
    // A file entry whose parent is a file: refused, not created elsewhere.
    let mut l = Layer::new();
    l.file("f", b"f").file("f/child", b"c");
    let (_t, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    assert_refused(r, "f/child");
    assert_eq!(std::fs::read(root.join("f")).unwrap(), b"f");
}

/// A PAX header claiming 64 MiB would be read whole into memory by the tar reader: it is
/// refused at its header instead, before any of it is buffered.
#[test]
fn oversized_pax_and_long_name_records_are_refused() {
    need_root!();
    for kind in [EntryType::XHeader, EntryType::GNULongName] {
        let body = vec![b'a'; 64 << 20];
        let mut l = Layer::new();
        l.file("before", b"x");
        l.raw(kind, b"big-record", b"", 0o644, &body);
        l.file("after", b"y");
        let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
        let err = r.expect_err("an oversized record was read");
        let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(msg.contains("limit"), "{msg}");
        assert!(
            msg.contains("big-record"),
            "the error names the record: {msg}"
        );
        assert!(!exists(&root.join("after")));
    }
}

/// What GNU tar writes (old GNU sparse with extension blocks, long names, POSIX PAX
/// records) still unpacks with the record guard in the way.
#[test]
fn gnu_tar_sparse_long_names_and_pax_unpack() {
    need_root!();
    let src = tempdir();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    std::fs::create_dir_all(src.path().join(&long).parent().unwrap()).unwrap();
    std::fs::write(src.path().join(&long), b"long").unwrap();
    // Many holes: more sparse regions than one GNU header holds, so extension blocks follow.
    let sparse = std::fs::File::create(src.path().join("sparse")).unwrap();
    for i in 0..40u64 {
        std::os::unix::fs::FileExt::write_at(&sparse, b"data", i * 65536).unwrap();
    }
    drop(sparse);
    std::fs::write(src.path().join("tail"), b"last").unwrap();
    for format in [&["--format=gnu", "--sparse"][..], &["--format=posix"][..]] {
        let out = std::process::Command::new("tar")
            .args(format)
            .arg("-cf")
            .arg("-")
            .arg("-C")
            .arg(src.path())
            .args([long.split('/').next().unwrap(), "sparse", "tail"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let (_tmp, root, r) = unpack(&out.stdout, &UnpackOptions::default());
        r.unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(std::fs::read(root.join(&long)).unwrap(), b"long");
        let got = std::fs::read(root.join("sparse")).unwrap();
        assert_eq!(got.len() as u64, 39 * 65536 + 4);
        assert_eq!(&got[39 * 65536..], b"data");
        assert_eq!(
            std::fs::read(root.join("tail")).unwrap(),
            b"last",
            "{format:?}"
        );
    }
}

//! Ordinary layers: content and metadata preserved, every compression.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use compose_image::unpack::{Compression, UnpackOptions, unpack_layer};
use tar::EntryType;

use crate::*;

// cap_net_bind_service=ep, VFS_CAP_REVISION_2.
const CAP: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn rich_layer() -> Vec<u8> {
    let mut l = Layer::new();
    l.entry(
        EntryType::Directory,
        "usr/",
        None,
        |h| h.set_mode(0o755),
        b"",
    )
    .entry(
        EntryType::Directory,
        "usr/bin/",
        None,
        |h| h.set_mode(0o750),
        b"",
    )
    .entry(
        EntryType::Regular,
        "usr/bin/su",
        None,
        |h| {
            h.set_mode(0o4755);
            h.set_uid(1234);
            h.set_gid(5678);
        },
        b"#!/bin/true\n",
    )
    .entry(
        EntryType::Regular,
        "usr/bin/wall",
        None,
        |h| {
            h.set_mode(0o2755);
            h.set_gid(5);
        },
        b"wall",
    )
    .entry(
        EntryType::Directory,
        "tmp",
        None,
        |h| h.set_mode(0o1777),
        b"",
    )
    .symlink("usr/bin/sh", "/bin/busybox")
    .entry(
        EntryType::Symlink,
        "usr/bin/rel",
        Some("../lib/x"),
        |h| {
            h.set_uid(7);
            h.set_gid(8);
        },
        b"",
    )
    .hardlink("usr/bin/su2", "usr/bin/su")
    .pax(&[
        ("SCHILY.xattr.security.capability", &CAP[..]),
        ("SCHILY.xattr.user.comment", b"hello"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("mtime", b"1600000001.25"),
    ])
    .file("usr/bin/ping", b"ping")
    .entry(
        EntryType::Fifo,
        "run/fifo",
        None,
        |h| h.set_mode(0o620),
        b"",
    );
    let long = format!("deep/{}/{}", "d".repeat(120), "f".repeat(150));
    l.file(&long, b"long name");
    l.symlink("longlink", &format!("/{}", "t".repeat(200)));
    l.file("big", &vec![7u8; 3 << 20]);
    l.tar()
}

#[test]
fn content_and_metadata_preserved() {
    need_root!();
    let tar = rich_layer();
    let (_tmp, root, r) = unpack(&tar, &UnpackOptions::default());
    let stats = r.unwrap();
    assert_eq!(stats.diff_id, diff_id(&tar));
    assert_eq!(stats.tar_bytes, tar.len() as u64);
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(
        stats.xattrs_skipped, 1,
        "trusted.overlay.* from a layer is never applied"
    );

    let su = lmeta(&root.join("usr/bin/su"));
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid survives the chown");
    assert_eq!(su.mtime(), MTIME as i64);
    assert_eq!(
        std::fs::read(root.join("usr/bin/su")).unwrap(),
        b"#!/bin/true\n"
    );
    assert_eq!(lmeta(&root.join("usr/bin/wall")).mode() & 0o7777, 0o2755);
    assert_eq!(lmeta(&root.join("tmp")).mode() & 0o7777, 0o1777);
    let bin = lmeta(&root.join("usr/bin"));
    assert_eq!(bin.mode() & 0o7777, 0o750);
    assert_eq!(
        bin.mtime(),
        MTIME as i64,
        "a dir's mtime is set after its content"
    );

    let sh = root.join("usr/bin/sh");
    assert_eq!(
        std::fs::read_link(&sh).unwrap().to_str(),
        Some("/bin/busybox")
    );
    assert_eq!(
        lmeta(&sh).mtime(),
        MTIME as i64,
        "symlink mtime (AT_SYMLINK_NOFOLLOW)"
    );
    let rel = lmeta(&root.join("usr/bin/rel"));
    assert_eq!((rel.uid(), rel.gid()), (7, 8));

    assert_eq!(lmeta(&root.join("usr/bin/su2")).ino(), su.ino());
    assert_eq!(su.nlink(), 2);

    let ping = root.join("usr/bin/ping");
    let mut buf = [0u8; 64];
    let n = rustix::fs::lgetxattr(&ping, "security.capability", &mut buf).unwrap();
    assert_eq!(&buf[..n], &CAP);
    let n = rustix::fs::lgetxattr(&ping, "user.comment", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert!(rustix::fs::lgetxattr(&ping, "trusted.overlay.opaque", &mut buf).is_err());
    let pm = lmeta(&ping);
    assert_eq!(
        (pm.mtime(), pm.mtime_nsec()),
        (1_600_000_001, 250_000_000),
        "PAX mtime"
    );

    let fifo = lmeta(&root.join("run/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);

    let long = root.join(format!("deep/{}/{}", "d".repeat(120), "f".repeat(150)));
    assert_eq!(std::fs::read(long).unwrap(), b"long name");
    let target = std::fs::read_link(root.join("longlink")).unwrap();
    assert_eq!(target.to_str().unwrap().len(), 201);
    assert_eq!(std::fs::read(root.join("big")).unwrap(), vec![7u8; 3 << 20]);
}

#[test]
fn gzip_zstd_and_plain_give_the_same_tree() {
    need_root!();
    let tar = rich_layer();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let want = diff_id(&tar);
    let mut trees = Vec::new();
    for (blob, declared) in [
        (&tar, Compression::None),
        (&gz, Compression::Gzip),
        (&zst, Compression::Zstd),
        (&gz, Compression::Detect),
        (&zst, Compression::None), // mislabelled: the magic bytes decide
    ] {
        let tmp = tempdir();
        let opts = UnpackOptions {
            expected_diff_id: Some(want.clone()),
            ..Default::default()
        };
        let stats = unpack_layer(&blob[..], declared, tmp.path(), &opts).unwrap();
        assert_eq!(stats.diff_id, want);
        let tree: Vec<_> = listing(tmp.path())
            .into_iter()
            .map(|p| {
                let m = lmeta(&p);
                // Implicit parent dirs (run/, deep/) get the time of the unpack.
                let mtime = if m.is_dir() { 0 } else { m.mtime() };
                (
                    p.strip_prefix(tmp.path()).unwrap().to_owned(),
                    m.mode(),
                    m.size(),
                    mtime,
                )
            })
            .collect();
        trees.push(tree);
    }
    for w in trees.windows(2) {
        assert_eq!(w[0], w[1]);
    }
}

#[test]
fn diff_id_mismatch_is_an_error() {
    need_root!();
    let mut l = Layer::new();
    l.file("a", b"a");
    let opts = UnpackOptions {
        expected_diff_id: Some(format!("sha256:{}", "0".repeat(64))),
        ..Default::default()
    };
    let (_tmp, _root, r) = unpack(&l.tar(), &opts);
    assert!(
        matches!(
            r,
            Err(compose_image::unpack::UnpackError::DiffIdMismatch { .. })
        ),
        "{r:?}"
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    need_root!();
    let mut l = Layer::new();
    l.file("x", b"file")
        .dir("x")
        .file("x/inner", b"in")
        .file("x", b"file again")
        .dir("d")
        .dir("d")
        .file("d/kept", b"kept");
    let (_tmp, root, r) = unpack(&l.tar(), &UnpackOptions::default());
    r.unwrap();
    assert_eq!(std::fs::read(root.join("x")).unwrap(), b"file again");
    assert_eq!(std::fs::read(root.join("d/kept")).unwrap(), b"kept");
}

#[test]
fn without_ownership_files_belong_to_the_unpacker() {
    need_root!();
    let mut l = Layer::new();
    l.entry(
        EntryType::Regular,
        "f",
        None,
        |h| {
            h.set_uid(4242);
            h.set_mode(0o4711);
        },
        b"x",
    );
    let opts = UnpackOptions {
        preserve_ownership: false,
        ..Default::default()
    };
    let (_tmp, root, r) = unpack(&l.tar(), &opts);
    r.unwrap();
    let m = lmeta(&root.join("f"));
    assert_eq!(m.uid(), 0);
    assert_eq!(m.mode() & 0o7777, 0o4711);
}

#[test]
fn a_corrupt_or_truncated_stream_is_a_read_error() {
    need_root!();
    let mut l = Layer::new();
    l.file("first", b"1").file("second", &vec![2u8; 1 << 20]);
    let tar = l.tar();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    for blob in [&gz[..gz.len() / 2], &tar[..700]] {
        let tmp = tempdir();
        let r = unpack_layer(
            blob,
            Compression::Detect,
            tmp.path(),
            &UnpackOptions::default(),
        );
        assert!(
            matches!(r, Err(compose_image::unpack::UnpackError::Read { .. })),
            "{r:?}"
        );
    }
}

/// Everything `compare` looks at for one path.
fn describe(root: &std::path::Path) -> Vec<String> {
    listing(root)
        .into_iter()
        .map(|p| {
            let m = lmeta(&p);
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mut xattrs: Vec<String> = Vec::new();
            if !m.file_type().is_symlink() {
                for name in ["security.capability", "user.origin"] {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = rustix::fs::lgetxattr(&p, name, &mut buf) {
                        xattrs.push(format!("{name}={:?}", &buf[..n]));
                    }
                }
            }
            let content = if m.is_file() {
                format!("{:x}", sha2::Sha256::digest(std::fs::read(&p).unwrap()))
            } else if m.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().display().to_string()
            } else {
                String::new()
            };
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            format!(
                "{rel} {:o} {}:{} {mtime} {} links={} {content} {xattrs:?}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.nlink()
            )
        })
        .collect()
}

#[test]
fn a_layer_made_by_gnu_tar_round_trips() {
    need_root!();
    let tmp = tempdir();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("usr/bin")).unwrap();
    std::fs::create_dir_all(src.join(format!("{}/{}", "n".repeat(90), "m".repeat(90)))).unwrap();
    let bin = src.join("usr/bin/tool");
    std::fs::write(&bin, b"tool").unwrap();
    rustix::fs::setxattr(
        &bin,
        "security.capability",
        &CAP,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::setxattr(&bin, "user.origin", b"gnu", rustix::fs::XattrFlags::empty()).unwrap();
    let suid = src.join("usr/bin/suid");
    std::fs::write(&suid, b"suid").unwrap();
    rustix::fs::chown(
        &suid,
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(50)),
    )
    .unwrap();
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4750)).unwrap();
    std::fs::hard_link(&suid, src.join("usr/bin/suid-again")).unwrap();
    std::os::unix::fs::symlink("tool", src.join("usr/bin/alias")).unwrap();
    std::fs::write(
        src.join(format!("{}/{}/f", "n".repeat(90), "m".repeat(90))),
        b"deep",
    )
    .unwrap();
    std::fs::write(src.join("big"), vec![9u8; 5 << 20]).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();

    let out = std::process::Command::new("tar")
        .args([
            "--xattrs",
            "--xattrs-include=*",
            "--format=posix",
            "-cpf",
            "-",
            "-C",
        ])
        .arg(&src)
        .arg(".")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    unpack_layer(
        &out.stdout[..],
        Compression::None,
        &dest,
        &UnpackOptions::default(),
    )
    .unwrap();
    let (want, got) = (describe(&src), describe(&dest));
    assert_eq!(want, got);
    assert!(got.iter().any(|l| l.contains("security.capability")));
}

//! COPY and ADD into a rootfs directory, as root (ownership is part of what is checked).

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use compose_build::context::Context;
use compose_build::copy::{CopyError, CopySpec, copy};
use compose_build::dockerfile::Heredoc;
use compose_build::ignore::Ignore;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

struct Env {
    _tmp: tempfile::TempDir,
    ctx_dir: std::path::PathBuf,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let ctx_dir = tmp.path().join("ctx");
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    for d in [&ctx_dir, &root, &outside] {
        fs::create_dir(d).unwrap();
    }
    fs::create_dir_all(ctx_dir.join("src/sub")).unwrap();
    fs::write(ctx_dir.join("src/a.txt"), b"a").unwrap();
    fs::write(ctx_dir.join("src/sub/b.txt"), b"b").unwrap();
    fs::write(ctx_dir.join("src/skip.log"), b"log").unwrap();
    fs::create_dir(ctx_dir.join("empty")).unwrap();
    fs::write(ctx_dir.join("run.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(ctx_dir.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(ctx_dir.join("run.sh"), Some(1000), Some(1000)).unwrap();
    Env {
        _tmp: tmp,
        ctx_dir,
        root,
        outside,
    }
}

fn ctx(e: &Env, ignore: &str) -> Context {
    Context::open(&e.ctx_dir, Ignore::parse(".dockerignore", ignore).unwrap()).unwrap()
}

fn spec<'a>(sources: &'a [String], dest: &'a str) -> CopySpec<'a> {
    CopySpec {
        sources,
        dest,
        owner: (0, 0),
        chmod: None,
        add: false,
        heredocs: &[],
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn directory_contents_files_and_destinations() {
    need_root!();
    let e = env();
    let c = ctx(&e, "**/*.log\n");
    copy(&c, &spec(&s(&["src"]), "/app"), &e.root).unwrap();
    assert_eq!(fs::read(e.root.join("app/a.txt")).unwrap(), b"a");
    assert_eq!(fs::read(e.root.join("app/sub/b.txt")).unwrap(), b"b");
    assert!(!e.root.join("app/skip.log").exists(), ".dockerignore'd");
    assert!(
        !e.root.join("app/src").exists(),
        "a dir's content, not the dir"
    );

    copy(&c, &spec(&s(&["empty"]), "/made"), &e.root).unwrap();
    assert!(
        e.root.join("made").is_dir(),
        "made even for an empty source"
    );

    copy(&c, &spec(&s(&["run.sh"]), "/usr/bin/run"), &e.root).unwrap();
    let m = fs::metadata(e.root.join("usr/bin/run")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, 0, 0o755));
    copy(&c, &spec(&s(&["run.sh"]), "/usr/bin/"), &e.root).unwrap();
    assert!(e.root.join("usr/bin/run.sh").is_file());
    // An existing directory takes the file inside, even without a trailing slash.
    copy(&c, &spec(&s(&["src/a.txt"]), "/app"), &e.root).unwrap();
    assert!(e.root.join("app/a.txt").is_file());

    let err = copy(&c, &spec(&s(&["run.sh", "src/a.txt"]), "/file"), &e.root).unwrap_err();
    assert!(matches!(err, CopyError::DestNotDir(_)), "{err}");
    copy(&c, &spec(&s(&["run.sh", "src/*.txt"]), "/many/"), &e.root).unwrap();
    assert!(e.root.join("many/run.sh").is_file() && e.root.join("many/a.txt").is_file());
}

#[test]
fn chown_chmod_and_heredocs() {
    need_root!();
    let e = env();
    let c = ctx(&e, "");
    let docs = [Heredoc {
        name: "EOF".into(),
        content: "hello\n".into(),
        expand: true,
        strip_tabs: false,
    }];
    let srcs = s(&["src", "<<EOF"]);
    let sp = CopySpec {
        owner: (1234, 5678),
        chmod: Some(0o640),
        heredocs: &docs,
        ..spec(&srcs, "/out/")
    };
    copy(&c, &sp, &e.root).unwrap();
    let m = fs::metadata(e.root.join("out/sub/b.txt")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1234, 5678, 0o640));
    assert_eq!(fs::read(e.root.join("out/EOF")).unwrap(), b"hello\n");
}

#[test]
fn nothing_lands_outside_the_root_or_comes_from_outside_the_context() {
    need_root!();
    let e = env();
    // The image has a symlink pointing out of its root; the context one to a host file.
    symlink(
        format!("/../../../..{}", e.outside.display()),
        e.root.join("app"),
    )
    .unwrap();
    fs::write(e.outside.join("secret"), b"host").unwrap();
    symlink(e.outside.join("secret"), e.ctx_dir.join("link")).unwrap();
    let c = ctx(&e, "");
    let r = copy(&c, &spec(&s(&["src/a.txt"]), "/app/"), &e.root);
    assert_eq!(fs::read_dir(&e.outside).unwrap().count(), 1, "{r:?}");
    let err = copy(&c, &spec(&s(&["link"]), "/x"), &e.root).unwrap_err();
    assert!(
        err.to_string().contains("not found in the build context"),
        "{err}"
    );
    assert!(!e.root.join("x").exists());
    // A name the unpacker would read as a whiteout.
    fs::write(e.ctx_dir.join(".wh.passwd"), b"").unwrap();
    let err = copy(&c, &spec(&s(&[".wh.passwd"]), "/etc/"), &e.root).unwrap_err();
    assert!(err.to_string().contains(".wh."), "{err}");
}

#[test]
fn add_extracts_local_archives_and_refuses_urls() {
    need_root!();
    let e = env();
    let out = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(e.ctx_dir.join("bundle.tgz"))
        .arg("-C")
        .arg(e.ctx_dir.join("src"))
        .args(["a.txt", "sub"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let c = ctx(&e, "");
    let srcs = s(&["bundle.tgz"]);
    let sp = CopySpec {
        add: true,
        ..spec(&srcs, "/opt/")
    };
    copy(&c, &sp, &e.root).unwrap();
    assert_eq!(fs::read(e.root.join("opt/sub/b.txt")).unwrap(), b"b");
    // COPY of the same archive copies the file.
    copy(&c, &spec(&srcs, "/raw/"), &e.root).unwrap();
    assert!(e.root.join("raw/bundle.tgz").is_file());
    let url = s(&["https://example.invalid/x.tgz"]);
    let err = copy(
        &c,
        &CopySpec {
            add: true,
            ..spec(&url, "/")
        },
        &e.root,
    )
    .unwrap_err();
    assert!(matches!(err, CopyError::Remote(_)));
    assert!(!Path::new(&e.root.join("x.tgz")).exists());
}

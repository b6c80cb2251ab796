//! Dockerfile builds into a real store (as root: overlay mounts, ownership), without RUN:
//! stages, COPY --from, WORKDIR, ARG/ENV, .dockerignore, and the cache step by step.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use compose_build::build::{BuildOptions, Builder, StepEvent};
use compose_image::Store;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

struct Setup {
    tmp: tempfile::TempDir,
    store: Store,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data")).unwrap();
    let ctx = tmp.path().join("ctx");
    fs::create_dir_all(ctx.join("dir")).unwrap();
    fs::write(ctx.join("a.txt"), b"a1").unwrap();
    fs::write(ctx.join("dir/b.txt"), b"b").unwrap();
    fs::write(ctx.join("noise.log"), b"log").unwrap();
    fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch AS base\nCOPY dir /opt/dir\nWORKDIR /work\n\
         FROM base AS unused\nCOPY a.txt /unused\n\
         FROM base\nARG V=1\nENV V=$V\nCOPY --from=base /opt /copied\nCOPY a.txt /files/\nCMD [\"/bin/true\"]\n",
    )
    .unwrap();
    Setup { tmp, store }
}

fn build(s: &Setup, no_cache: bool) -> (compose_image::store::ImageRecord, Vec<StepEvent>) {
    let work = s.tmp.path().join("data/build");
    fs::create_dir_all(&work).unwrap();
    let builder = Builder {
        store: &s.store,
        runner: None,
        work_dir: work,
    };
    let opts = BuildOptions {
        context: s.tmp.path().join("ctx"),
        tags: vec!["example/app:1".into()],
        no_cache,
        build_args: BTreeMap::from([("V".to_string(), "7".to_string())]),
        ..BuildOptions::default()
    };
    let r = builder.build(&opts, &mut |_| {}).unwrap();
    (r.image, r.events)
}

fn cached(events: &[StepEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            StepEvent::Cached { step } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

fn ran(events: &[StepEvent]) -> Vec<String> {
    let hits = cached(events);
    events
        .iter()
        .filter_map(|e| match e {
            StepEvent::Done { step } if !hits.contains(step) && !step.contains("FROM") => {
                Some(step.clone())
            }
            _ => None,
        })
        .collect()
}

/// A file of the image: looked up from the top layer down in the snapshots.
fn image_file(
    store: &Store,
    rec: &compose_image::store::ImageRecord,
    path: &str,
) -> Option<Vec<u8>> {
    rec.layers.iter().rev().find_map(|l| {
        let p = store.snapshot_path(&l.chain_id).unwrap().join(path);
        fs::read(p).ok()
    })
}

#[test]
fn stages_copy_from_and_the_cache() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let s = setup();
    let (img, events) = build(&s, false);
    assert!(cached(&events).is_empty());
    assert!(
        !events.iter().any(|e| format!("{e:?}").contains("[unused")),
        "a stage the target does not need is not built: {events:?}"
    );
    assert_eq!(
        image_file(&s.store, &img, "copied/dir/b.txt").unwrap(),
        b"b"
    );
    assert_eq!(image_file(&s.store, &img, "files/a.txt").unwrap(), b"a1");
    assert!(
        image_file(&s.store, &img, "opt/dir/b.txt").is_some(),
        "the base stage's layers"
    );
    let rec = s.store.get_image("example/app:1").unwrap().unwrap();
    assert_eq!(rec.manifest_digest, img.manifest_digest);
    let config: serde_json::Value = serde_json::from_slice(
        &s.store
            .blobs()
            .read_small(&img.config_digest, 1 << 20)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["config"]["Env"][0], "V=7");
    assert_eq!(config["config"]["WorkingDir"], "/work");
    assert_eq!(config["config"]["Cmd"][0], "/bin/true");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        img.layers.len()
    );

    // Nothing changed: every filesystem step comes from the cache, same image content.
    let (again, events) = build(&s, false);
    assert!(
        ran(&events).iter().all(|s| !s.contains("COPY")),
        "{events:?}"
    );
    assert_eq!(cached(&events).len(), 4, "{events:?}");
    assert_eq!(again.config_digest.len(), img.config_digest.len());
    assert_eq!(
        again.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
        img.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()
    );

    // A changed source re-runs only its step; an ignored file changes nothing.
    fs::write(s.tmp.path().join("ctx/noise.log"), b"other").unwrap();
    let (_, events) = build(&s, false);
    assert!(
        ran(&events).iter().all(|s| !s.contains("COPY")),
        "{events:?}"
    );
    fs::write(s.tmp.path().join("ctx/a.txt"), b"a2").unwrap();
    let (changed, events) = build(&s, false);
    let ran_now = ran(&events);
    assert!(
        ran_now.iter().any(|s| s.contains("COPY a.txt")),
        "{ran_now:?}"
    );
    assert!(
        !ran_now.iter().any(|s| s.contains("COPY dir")),
        "{ran_now:?}"
    );
    assert_eq!(
        image_file(&s.store, &changed, "files/a.txt").unwrap(),
        b"a2"
    );

    // --no-cache runs everything.
    let (_, events) = build(&s, true);
    assert!(cached(&events).is_empty());
}

#[test]
fn errors_name_the_step() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let s = setup();
    let ctx = s.tmp.path().join("ctx");
    let builder = Builder {
        store: &s.store,
        runner: None,
        work_dir: s.tmp.path().to_path_buf(),
    };
    let err = |dockerfile: &str| {
        let opts = BuildOptions {
            context: ctx.clone(),
            dockerfile_inline: Some(dockerfile.to_string()),
            ..BuildOptions::default()
        };
        builder.build(&opts, &mut |_| {}).unwrap_err().to_string()
    };
    let e = err("FROM scratch\nCOPY noise.log /\n");
    assert!(
        e.contains("COPY noise.log") && e.contains("excluded by .dockerignore"),
        "{e}"
    );
    let e = err("FROM nope:1\n");
    assert!(
        e.contains("nope:1") && e.contains("not in the store"),
        "{e}"
    );
    let e = err("FROM scratch\nRUN true\n");
    assert!(e.contains("RUN true") && e.contains("runtime"), "{e}");
    let e = err("FROM scratch\nCOPY --chmod=999 a.txt /\n");
    assert!(e.contains("octal"), "{e}");
    let e = err("FROM scratch\nADD --checksum=sha256:abc a.txt /\n");
    assert!(
        e.contains("ADD --checksum=sha256:abc") && e.contains("not a digest"),
        "{e}"
    );
    let sum = format!("sha256:{}", "ab".repeat(32));
    let e = err(&format!("FROM scratch\nADD --checksum={sum} a.txt /\n"));
    assert!(e.contains("only checked for URL sources"), "{e}");
    let e = err("FROM scratch\nADD https://example.invalid/x /\n");
    assert!(e.contains("not fetched"), "{e}");
    assert!(Path::new(&ctx).join("a.txt").exists());
}

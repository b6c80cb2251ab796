//! RUN steps in our runtime (as root): a busybox base made by the builder itself from
//! Debian's busybox-static, then multi-stage builds with RUN, heredocs, ARG/ENV in the
//! step's environment, the cache, and a failing step.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use compose_build::build::{BuildOptions, Builder, StepEvent};
use compose_build::runner::RuntimeRunner;
use compose_image::Store;
use compose_runtime::Runtime;

fn ready() -> bool {
    if !rustix::process::geteuid().is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: needs root and busybox-static");
        return false;
    }
    true
}

struct Env {
    tmp: tempfile::TempDir,
    store: Store,
    runner: RuntimeRunner,
}

fn busybox_context(dir: &Path) {
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nCMD [\"sh\"]\n",
    )
    .unwrap();
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data")).unwrap();
    let runner = RuntimeRunner {
        runtime: Runtime::new(tmp.path().join("run"), "compose-build-test").unwrap(),
        shim_exe: env!("CARGO_BIN_EXE_compose-build-shim").into(),
        log_dir: tmp.path().join("logs"),
    };
    let e = Env { tmp, store, runner };
    let base = e.tmp.path().join("base");
    busybox_context(&base);
    build(&e, &base, None, &[]).unwrap();
    e
}

fn build(
    e: &Env,
    context: &Path,
    inline: Option<&str>,
    args: &[(&str, &str)],
) -> Result<Vec<StepEvent>, String> {
    let work = e.tmp.path().join("data/build");
    fs::create_dir_all(&work).unwrap();
    let builder = Builder {
        store: &e.store,
        runner: Some(&e.runner),
        work_dir: work,
    };
    let opts = BuildOptions {
        context: context.to_path_buf(),
        dockerfile_inline: inline.map(str::to_string),
        tags: vec![
            if inline.is_some() {
                "app:1"
            } else {
                "busybox:test"
            }
            .into(),
        ],
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..BuildOptions::default()
    };
    builder
        .build(&opts, &mut |_| {})
        .map(|r| r.events)
        .map_err(|e| e.to_string())
}

fn output(events: &[StepEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StepEvent::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn cached(events: &[StepEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, StepEvent::Cached { .. }))
        .count()
}

const APP: &str = "FROM busybox:test AS build
ARG WHO=nobody
ENV GREETING=hello
RUN echo \"$GREETING $WHO\" > /out.txt && echo to-stderr >&2
RUN <<EOF
set -e
echo from-heredoc > /heredoc.txt
EOF
FROM busybox:test
COPY --from=build /out.txt /heredoc.txt /final/
USER app
RUN id -u > /tmp/uid && cat /final/out.txt /final/heredoc.txt /tmp/uid
";

#[test]
fn multi_stage_with_run_heredoc_args_and_cache() {
    if !ready() {
        return;
    }
    let e = env();
    let ctx = e.tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    let events = build(&e, &ctx, Some(APP), &[("WHO", "world")]).unwrap();
    let out = output(&events);
    assert!(out.contains("to-stderr"), "{out}");
    assert!(out.contains("hello world\nfrom-heredoc\n1000\n"), "{out}");
    assert_eq!(cached(&events), 0);

    let again = build(&e, &ctx, Some(APP), &[("WHO", "world")]).unwrap();
    assert_eq!(
        cached(&again),
        4,
        "every RUN and COPY from the cache: {again:?}"
    );
    assert!(output(&again).is_empty(), "cached steps don't run");

    // Another build arg changes the RUN that sees it and everything after it.
    let changed = build(&e, &ctx, Some(APP), &[("WHO", "you")]).unwrap();
    assert!(output(&changed).contains("hello you"), "{changed:?}");
    assert_eq!(cached(&changed), 0, "{changed:?}");
}

#[test]
fn a_failing_step_says_which_with_its_code_and_output() {
    if !ready() {
        return;
    }
    let e = env();
    let ctx = e.tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    let err = build(
        &e,
        &ctx,
        Some("FROM busybox:test\nRUN echo before-failing; exit 3\n"),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("RUN echo before-failing; exit 3"), "{err}");
    assert!(err.contains("non-zero code: 3"), "{err}");
    assert!(err.contains("before-failing"), "{err}");
    // No network by default: only lo.
    let events = build(
        &e,
        &ctx,
        Some("FROM busybox:test\nRUN ls /sys/class/net\n"),
        &[],
    )
    .unwrap();
    assert_eq!(output(&events).trim(), "lo");
}

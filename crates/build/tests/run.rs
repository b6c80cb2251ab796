//! RUN steps in our runtime (as root): a busybox base made by the builder itself from
//! Debian's busybox-static, then multi-stage builds with RUN, heredocs, ARG/ENV in the
//! step's environment, the cache, and a failing step.

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../../image/tests/registry/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use compose_build::build::{BuildOptions, Builder, NamedContext, StepEvent};
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
    build_with(e, &opts)
}

fn build_with(e: &Env, opts: &BuildOptions) -> Result<Vec<StepEvent>, String> {
    let work = e.tmp.path().join("data/build");
    fs::create_dir_all(&work).unwrap();
    let builder = Builder {
        store: &e.store,
        runner: Some(&e.runner),
        work_dir: work,
    };
    builder
        .build(opts, &mut |_| {})
        .map(|r| r.events)
        .map_err(|e| e.to_string())
}

fn inline(context: &Path, dockerfile: &str, tag: &str) -> BuildOptions {
    BuildOptions {
        context: context.to_path_buf(),
        dockerfile_inline: Some(dockerfile.to_string()),
        tags: vec![tag.to_string()],
        ..BuildOptions::default()
    }
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

const MOUNTS: &str = "FROM busybox:test AS files
RUN mkdir /stage && echo from-stage > /stage/s.txt
FROM busybox:test
WORKDIR /w
RUN --mount=type=cache,target=/var/cache/app,id=app-cache \
    echo run >> /var/cache/app/log && wc -l < /var/cache/app/log
RUN --mount=type=bind,source=in.txt,target=/src/in.txt cat /src/in.txt && \
    if echo x 2>/dev/null > /src/in.txt; then echo writable; else echo read-only; fi
RUN --mount=type=bind,from=files,source=/stage,target=/st,rw cat /st/s.txt && echo scribble > /st/new
RUN --mount=type=tmpfs,target=/scratch,size=1m grep ' /scratch ' /proc/mounts && echo t > /scratch/t
RUN --mount=target=rel,source=. ls /w/rel
RUN ls /var/cache/app /scratch /st 2>&1; true
";

#[test]
fn run_mounts_cache_bind_and_tmpfs() {
    if !ready() {
        return;
    }
    let e = env();
    let ctx = e.tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(ctx.join("in.txt"), "from-context\n").unwrap();
    let mut opts = inline(&ctx, MOUNTS, "mounts:1");
    let out = output(&build_with(&e, &opts).unwrap());
    assert!(out.starts_with("1\n"), "a fresh cache dir: {out}");
    assert!(
        out.contains("from-context\nread-only\n"),
        "bind is read-only: {out}"
    );
    assert!(out.contains("from-stage\n"), "{out}");
    assert!(out.contains("tmpfs"), "{out}");
    assert!(out.contains("in.txt"), "bind of the whole context: {out}");
    // Mounted dirs are not part of the image: the last RUN sees empty mount points.
    assert!(!out.contains("log") && !out.contains("new\n"), "{out}");
    assert_eq!(
        fs::read_to_string(ctx.join("in.txt")).unwrap(),
        "from-context\n"
    );

    // The cache dir lives on across builds; a changed bound file reruns its step.
    opts.no_cache = true;
    let out = output(&build_with(&e, &opts).unwrap());
    assert!(
        out.starts_with("2\n"),
        "the cache mount kept its file: {out}"
    );
    opts.no_cache = false;
    fs::write(ctx.join("in.txt"), "changed\n").unwrap();
    let events = build_with(&e, &opts).unwrap();
    assert!(output(&events).contains("changed\nread-only"), "{events:?}");
    assert_eq!(
        cached(&events),
        3,
        "the stage RUN, WORKDIR, the cache RUN: {events:?}"
    );

    let err = build_with(
        &e,
        &inline(
            &ctx,
            "FROM busybox:test\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n",
            "x:1",
        ),
    )
    .unwrap_err();
    assert!(err.contains("RUN --mount=type=secret,id=tok"), "{err}");
    assert!(err.contains("not supported"), "{err}");
}

#[test]
fn named_contexts_of_dirs_and_images() {
    if !ready() {
        return;
    }
    let e = env();
    let ctx = e.tmp.path().join("ctx");
    let files = e.tmp.path().join("files");
    fs::create_dir(&ctx).unwrap();
    fs::create_dir(&files).unwrap();
    fs::write(files.join("data.txt"), "named-dir\n").unwrap();
    fs::write(files.join("skip.txt"), "no\n").unwrap();
    fs::write(files.join(".dockerignore"), "skip.txt\n").unwrap();
    let mut opts = inline(
        &ctx,
        "FROM files AS fromdir\nFROM base\nCOPY --from=files data.txt /data.txt\n\
         RUN --mount=from=files,target=/f cat /data.txt /f/data.txt\n\
         COPY --from=fromdir / /all/\nRUN ls /all\n",
        "named:1",
    );
    opts.additional_contexts = [
        ("files".to_string(), NamedContext::Dir(files.clone())),
        (
            "base".to_string(),
            NamedContext::Image("busybox:test".into()),
        ),
    ]
    .into();
    let out = output(&build_with(&e, &opts).unwrap());
    assert!(out.contains("named-dir\nnamed-dir\n"), "{out}");
    assert!(
        out.contains("data.txt") && !out.contains("skip.txt"),
        "{out}"
    );
    // A changed file of the named context invalidates the COPY that takes it.
    fs::write(files.join("data.txt"), "changed\n").unwrap();
    let again = output(&build_with(&e, &opts).unwrap());
    assert!(again.contains("changed\nchanged\n"), "{again}");
    // Without the contexts the names mean images the store has not.
    opts.additional_contexts.clear();
    let err = build_with(&e, &opts).unwrap_err();
    assert!(
        err.contains("FROM files") && err.contains("not in the store"),
        "{err}"
    );
}

/// The busybox base, changed (a marker file) and pushed to `reference`.
fn push_variant(e: &Env, reg_ref: &str, marker: &str) {
    let ctx = e.tmp.path().join(format!("variant-{marker}"));
    fs::create_dir_all(&ctx).unwrap();
    let local = format!("variant:{marker}");
    build_with(
        e,
        &inline(
            &ctx,
            &format!("FROM busybox:test\nRUN echo {marker} > /marker\n"),
            &local,
        ),
    )
    .unwrap();
    let target = compose_image::Reference::parse(reg_ref).unwrap();
    let client = compose_image::registry::Client::new(
        &target.registry,
        compose_image::registry::ClientOptions::default(),
    )
    .unwrap();
    compose_image::registry::push(
        &e.store,
        &client,
        &local,
        &target,
        &compose_image::registry::NoProgress,
    )
    .unwrap();
}

#[test]
fn pull_refreshes_the_base_image() {
    if !ready() || !Path::new(harness::REGISTRY_BIN).exists() {
        return;
    }
    let reg = harness::Registry::start();
    let e = env();
    let base = format!("{}/test/base:1", reg.host());
    push_variant(&e, &base, "one");
    let ctx = e.tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    let mut opts = inline(&ctx, &format!("FROM {base}\nRUN cat /marker\n"), "pulled:1");
    // Not in the store, and no pull asked: refused.
    let err = build_with(&e, &opts).unwrap_err();
    assert!(err.contains("not in the store"), "{err}");
    opts.pull = true;
    assert!(output(&build_with(&e, &opts).unwrap()).contains("one"));
    // The registry's tag moves on: only --pull sees it.
    push_variant(&e, &base, "two");
    opts.pull = false;
    let events = build_with(&e, &opts).unwrap();
    assert_eq!(cached(&events), 1, "the local base as it was: {events:?}");
    opts.pull = true;
    assert!(output(&build_with(&e, &opts).unwrap()).contains("two"));
    // An unreachable registry fails the build with the base named.
    opts.dockerfile_inline = Some(format!("FROM 127.0.0.1:{}/x/y:1\n", harness::free_port()));
    let err = build_with(&e, &opts).unwrap_err();
    assert!(
        err.contains("FROM 127.0.0.1:") && err.contains("pulling"),
        "{err}"
    );
}

#[test]
fn run_output_arrives_while_the_step_runs() {
    if !ready() {
        return;
    }
    let e = env();
    let ctx = e.tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    // The step waits (up to 20 s) for a file that the caller makes only once it has seen
    // the step's first line: it finds the file only if its output is streamed.
    let dockerfile = "FROM busybox:test\n\
        RUN --mount=type=cache,id=signal,target=/sig rm -f /sig/go; echo first; i=0; \
        while [ ! -e /sig/go ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; \
        [ -e /sig/go ] && echo released\n";
    let go =
        compose_build::run_mount::cache_dir(&e.tmp.path().join("data/build/mount-cache"), "signal")
            .join("go");
    let work = e.tmp.path().join("data/build");
    fs::create_dir_all(&work).unwrap();
    let builder = Builder {
        store: &e.store,
        runner: Some(&e.runner),
        work_dir: work,
    };
    let mut seen = String::new();
    builder
        .build(&inline(&ctx, dockerfile, "live:1"), &mut |ev| {
            if let StepEvent::Output { text, .. } = ev {
                seen.push_str(text);
                if text.contains("first") {
                    fs::write(&go, "").unwrap();
                }
            }
        })
        .unwrap();
    assert!(
        seen.contains("first\n") && seen.contains("released\n"),
        "{seen}"
    );
}

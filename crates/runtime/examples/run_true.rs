//! Times create + start + wait + delete of `/bin/true` in a busybox rootfs (Docker's
//! default spec, seccomp included), as root, without and with the compiled-filter cache,
//! interleaved; and the filter's compile against a cache hit:
//! `cargo run --release -p compose-runtime --example run_true [-- RUNS [overlay]]`.

use std::time::{Duration, Instant};

use compose_runtime::{CreateOptions, Rootfs, Runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let overlay = args.next().is_some_and(|a| a == "overlay");
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::copy("/bin/busybox", bin.join("busybox"))?;
    std::os::unix::fs::symlink("busybox", bin.join("true"))?;
    for d in ["proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    let rootfs = if overlay {
        Rootfs::Overlay { lowers: vec![root] }
    } else {
        Rootfs::Dir(root)
    };
    let plain = Runtime::new(tmp.path().join("state"), "compose-bench")?;
    let cached = plain.clone().with_seccomp_cache(tmp.path().join("seccomp"));
    let spec = compose_runtime::spec::docker_default(&["/bin/true"])?;
    if runs == 0 {
        return Ok(());
    }
    compile_vs_hit(&spec, &tmp.path().join("seccomp"))?;
    let mut times = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for i in 0..runs {
        for (n, rt) in [&plain, &cached].into_iter().enumerate() {
            let t = Instant::now();
            let mut c = rt.create(
                &format!("bench-{i}-{n}"),
                &spec,
                &rootfs,
                &CreateOptions::default(),
            )?;
            c.start()?;
            let st = c.wait_and_delete()?;
            times[n].push(t.elapsed());
            assert_eq!(st.code, 0);
        }
    }
    let what = if overlay {
        "overlay rootfs"
    } else {
        "dir rootfs"
    };
    for (n, t) in times.iter_mut().enumerate() {
        t.sort();
        let label = ["compiled each run", "seccomp cache"][n];
        println!(
            "{runs} runs ({what}, {label}): median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
            ms(t[runs / 2]),
            ms(t[runs * 9 / 10]),
            ms(t[0])
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median of 200 compiles of the spec's profile against 200 reads of its cache entry.
fn compile_vs_hit(
    spec: &oci_spec::runtime::Spec,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use compose_runtime::seccomp;
    let profile = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .ok_or("no seccomp profile in the default spec")?;
    let median = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
        let mut t = Vec::new();
        for _ in 0..200 {
            let s = Instant::now();
            f()?;
            t.push(s.elapsed());
        }
        t.sort();
        Ok::<_, Box<dyn std::error::Error>>(ms(t[100]))
    };
    let compile = median(&mut || {
        seccomp::compile(&profile)?;
        Ok(())
    })?;
    seccomp::cache::load_or_compile(dir, &profile)?;
    let hit = median(&mut || {
        let (_, o) = seccomp::cache::load_or_compile(dir, &profile)?;
        assert_eq!(o, seccomp::cache::Outcome::Hit);
        Ok(())
    })?;
    let insns = seccomp::compile(&profile)?.insns.len();
    println!("seccomp filter ({insns} insns): compile {compile:.3} ms, cache hit {hit:.3} ms");
    Ok(())
}

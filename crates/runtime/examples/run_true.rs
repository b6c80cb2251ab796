//! Times create + start + wait + delete of `/bin/true` in a busybox rootfs, as root:
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
    let rt = Runtime::new(tmp.path().join("state"), "compose-bench")?;
    let spec = compose_runtime::spec::docker_default(&["/bin/true"])?;
    if runs == 0 {
        return Ok(());
    }
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        let mut c = rt.create(
            &format!("bench-{i}"),
            &spec,
            &rootfs,
            &CreateOptions::default(),
        )?;
        c.start()?;
        let st = c.wait()?;
        c.delete(false)?;
        times.push(t.elapsed());
        assert_eq!(st.code, 0);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{runs} runs ({}): median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
        if overlay {
            "overlay rootfs"
        } else {
            "dir rootfs"
        },
        ms(times[runs / 2]),
        ms(times[runs * 9 / 10]),
        ms(times[0])
    );
    Ok(())
}

//! `COMPOSE_RUNTIME_BUILD_ID`: a digest of what the runtime is built from (its sources, the
//! workspace's manifest and lock file, the profile). The `compose` binary runs the dedicated
//! `compose-runtime-shim` beside it only when that file reports the same id: a shim from an
//! older build would set containers up with older code.

use std::path::{Path, PathBuf};

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    collect(&dir.join("src"), &mut files);
    files.sort();
    let root = dir.join("..").join("..");
    files.push(root.join("Cargo.toml"));
    files.push(root.join("Cargo.lock"));
    files.push(dir.join("Cargo.toml"));
    // FNV-1a over names and contents: an identity of the build inputs, not a defence (whoever
    // can write beside `compose` can replace `compose` itself).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        feed(
            f.strip_prefix(&dir)
                .unwrap_or(f)
                .to_string_lossy()
                .as_bytes(),
        );
        feed(&std::fs::read(f).unwrap_or_default());
    }
    feed(std::env::var("PROFILE").unwrap_or_default().as_bytes());
    feed(std::env::var("TARGET").unwrap_or_default().as_bytes());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=COMPOSE_RUNTIME_BUILD_ID={h:016x}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

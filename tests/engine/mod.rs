//! Fixtures for the engine's end-to-end tests: a temp dir per test holding a data root
//! (with busybox:latest loaded by `scripts/base-images`) and a project dir; a unique project
//! name; and a guard that runs `down -v` when the test ends, however it ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use compose_tests::{Output, compose_bin, repo_root, run};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(120);

/// A container command that exits on SIGTERM (a shell as PID 1 ignores it otherwise).
pub const LOOP: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

/// A project under test. Dropping it runs `down -v -t 1`.
pub struct Stack {
    pub dir: TempDir,
    pub bin: PathBuf,
    pub name: String,
}

/// A unique project name per test and process.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Loads busybox:latest into `root`, with a cache shared by every test (the script renames
/// its archive into place, so parallel runs are safe).
pub fn load_busybox(bin: &Path, root: &Path) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-cache");
    let env = [
        ("XDG_CACHE_HOME".to_string(), cache.display().to_string()),
        ("COMPOSE_BIN".to_string(), bin.display().to_string()),
    ];
    let script = repo_root().join("scripts").join("base-images");
    let args = ["--data-root".to_string(), root.display().to_string()];
    let out = run(&script, &args, &cache_parent(&cache), &cache, &env, LIMIT)
        .expect("run scripts/base-images");
    assert!(
        out.success(),
        "base-images: {}\n{}",
        out.status_line(),
        out.stderr
    );
}

fn cache_parent(cache: &Path) -> PathBuf {
    std::fs::create_dir_all(cache).expect("cache dir");
    cache.to_path_buf()
}

impl Stack {
    /// A project `tag-<pid>-<n>` with `yaml` as its compose.yaml.
    pub fn new(tag: &str, yaml: &str) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = compose_bin().expect("compose binary");
        std::fs::create_dir_all(dir.path().join("proj")).expect("proj dir");
        let s = Stack {
            dir,
            bin,
            name: unique(tag),
        };
        s.write(yaml);
        load_busybox(&s.bin, &s.root());
        s
    }

    /// Another project on the same data root and project dir.
    pub fn sibling(&self, tag: &str) -> Sibling<'_> {
        Sibling {
            of: self,
            name: unique(tag),
        }
    }

    pub fn write(&self, yaml: &str) {
        std::fs::write(self.proj().join("compose.yaml"), yaml).expect("write compose.yaml");
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn proj(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    /// `compose --data-root ROOT -p NAME args...` in the project dir.
    pub fn compose_as(&self, name: &str, args: &[&str]) -> Output {
        self.compose_env(name, args, &[])
    }

    /// [`Stack::compose_as`] with extra environment variables.
    pub fn compose_env(&self, name: &str, args: &[&str], env: &[(String, String)]) -> Output {
        let mut all = vec![
            "--data-root".to_string(),
            self.root().display().to_string(),
            "-p".to_string(),
            name.to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let out =
            run(&self.bin, &all, &self.proj(), self.dir.path(), env, LIMIT).expect("run compose");
        assert!(!out.crashed(), "compose {args:?} crashed: {}", out.stderr);
        out
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        self.compose_as(&self.name, args)
    }

    /// Runs and requires success; returns (stdout, stderr).
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.compose(args);
        assert!(
            out.success(),
            "compose {args:?}: {}\n{}",
            out.status_line(),
            out.stderr
        );
        (out.stdout, out.stderr)
    }

    /// `ps -a --format json`, one value per container.
    pub fn ps_json(&self) -> Vec<serde_json::Value> {
        let (out, _) = self.ok(&["ps", "-a", "--format", "json"]);
        out.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The ids of the project's containers (all states).
    pub fn ids(&self) -> Vec<String> {
        let (out, _) = self.ok(&["ps", "-a", "-q"]);
        out.lines().map(String::from).collect()
    }

    /// The host pids in each container's cgroup.
    pub fn pids(&self, ids: &[String]) -> Vec<i32> {
        ids.iter().flat_map(|id| cgroup_pids(id)).collect()
    }

    /// Polls `cond` for up to 20 s.
    pub fn wait_for(&self, what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.compose(&["down", "-v", "-t", "1", "--remove-orphans"]);
        if !out.success() {
            eprintln!("cleanup down failed: {}", out.stderr);
        }
    }
}

/// A second project sharing a [`Stack`]'s data root; `down -v` when dropped.
pub struct Sibling<'a> {
    pub of: &'a Stack,
    pub name: String,
}

impl Sibling<'_> {
    pub fn compose(&self, args: &[&str]) -> Output {
        self.of.compose_as(&self.name, args)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(out.success(), "compose {args:?}: {}", out.stderr);
        out.stdout
    }
}

impl Drop for Sibling<'_> {
    fn drop(&mut self) {
        let out = self.compose(&["down", "-v", "-t", "1"]);
        if !out.success() {
            eprintln!("cleanup down failed: {}", out.stderr);
        }
    }
}

/// Every cgroup dir of container `id`, on any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![base.join("compose").join(id)];
    if let Ok(rd) = std::fs::read_dir(base) {
        for e in rd.flatten() {
            candidates.push(e.path().join("compose").join(id));
        }
    }
    for c in candidates {
        if c.is_dir() {
            out.push(c);
        }
    }
    out
}

fn cgroup_pids(id: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = cgroup_dirs(id)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z"),
        Err(_) => false,
    }
}

/// Mount points of this mount namespace under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let d = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(String::from)
        .collect()
}

/// Names in a dir (none when it is missing).
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The containers' state dirs under state root `root`: the entries of its `containers`
/// dir but `.spare`, where the runtime keeps emptied dirs for the next containers (each
/// checked to be empty: no container state hides there).
pub fn container_dirs(root: &Path) -> Vec<String> {
    let dir = root.join("containers");
    let spare = dir.join(".spare");
    for s in entries(&spare) {
        let inside = entries(&spare.join(&s));
        assert!(inside.is_empty(), "spare dir {s} holds {inside:?}");
    }
    entries(&dir)
        .into_iter()
        .filter(|e| e != ".spare")
        .collect()
}

/// The index of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// A compose command running in the background (`logs -f`, attached `up`): its stdout
/// lines arrive on a channel; dropping it kills the command if it still runs.
pub struct Background {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stack {
    /// Starts `compose --data-root ROOT -p NAME args...` in the background.
    pub fn spawn(&self, args: &[&str]) -> Background {
        use std::process::{Command, Stdio};
        let mut child = Command::new(&self.bin)
            .args([
                "--data-root",
                &self.root().display().to_string(),
                "-p",
                &self.name,
            ])
            .args(args)
            .current_dir(self.proj())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn compose");
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

impl Background {
    /// Waits up to 20 s for a line `pred` accepts (earlier lines are kept in `seen`).
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no line {what}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits up to 30 s for the command to end: its exit code and every line it printed.
    pub fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the command did not end; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader ends at EOF once the command (and whatever held its stdout) is gone.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status.code(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! `compose image ...` end to end: the real binary on temp data roots, with images made by
//! `scripts/base-images` (busybox:latest from Debian's busybox-static, which `.ci/run`
//! installs) into a temp cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use compose_tests::{Output, compose_bin, repo_root, run};
use serde_json::Value;
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(120);

/// A temp dir holding a data root, a cache and a home; all gone on drop.
struct Env {
    dir: TempDir,
    bin: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            bin: compose_bin().expect("compose binary"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// `compose --data-root ROOT args...`.
    fn compose_in(&self, root: &Path, args: &[&str]) -> Output {
        let mut all = vec!["--data-root".to_string(), root.display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        let out = run(
            &self.bin,
            &all,
            self.dir.path(),
            self.dir.path(),
            &[],
            LIMIT,
        )
        .expect("run compose");
        assert!(!out.crashed(), "compose {args:?} crashed: {}", out.stderr);
        out
    }

    fn compose(&self, args: &[&str]) -> Output {
        self.compose_in(&self.root(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.success(),
            "compose {args:?}: {}\n{}",
            out.status_line(),
            out.stderr
        );
        out.stdout
    }

    /// Runs `scripts/base-images` into this env's data root, with this env's cache.
    fn base_images(&self) -> Output {
        let script = repo_root().join("scripts").join("base-images");
        let env = [
            (
                "XDG_CACHE_HOME".into(),
                self.path("cache").display().to_string(),
            ),
            ("COMPOSE_BIN".into(), self.bin.display().to_string()),
        ];
        let args = ["--data-root".to_string(), self.root().display().to_string()];
        let out = run(
            &script,
            &args,
            self.dir.path(),
            self.dir.path(),
            &env,
            LIMIT,
        )
        .expect("run script");
        assert!(
            out.success(),
            "scripts/base-images: {}\n{}",
            out.status_line(),
            out.stderr
        );
        out
    }

    /// The cached OCI archive the script made.
    fn archive(&self) -> PathBuf {
        let dir = self.path("cache").join("compose").join("base-images");
        std::fs::read_dir(&dir)
            .expect("cache dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "tar"))
            .expect("a cached archive")
    }

    /// Makes the busybox archive (into a throwaway data root) and returns its path.
    fn busybox_archive(&self) -> PathBuf {
        self.base_images();
        let out = self.compose(&["image", "rm", "busybox", "compose-example/busybox"]);
        assert!(out.success(), "{}", out.stderr);
        self.ok(&["image", "prune"]);
        self.archive()
    }
}

fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("blobs").join("sha256"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn ls_json(env: &Env, root: &Path) -> Vec<Value> {
    let out = env.compose_in(root, &["image", "ls", "--format", "json"]);
    assert!(out.success(), "{}", out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn base_images_script_loads_busybox() {
    let env = Env::new();
    let first = env.base_images();
    assert!(
        first.stdout.contains("Loaded image: busybox:latest"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("Loaded image: compose-example/busybox:latest")
    );
    let ls = env.ok(&["image", "ls"]);
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().take(2).eq(["busybox", "latest"])),
        "{ls}"
    );
    // The second run uses the cache.
    let second = env.base_images();
    assert!(!second.stderr.contains("building"), "{}", second.stderr);
    assert!(second.stdout.contains("Loaded image: busybox:latest"));
}

#[test]
fn load_ls_inspect() {
    let env = Env::new();
    let archive = env.busybox_archive();
    assert!(env.ok(&["image", "ls", "-q"]).trim().is_empty());
    let out = env.ok(&["image", "load", "-i", archive.to_str().expect("utf-8")]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");

    let table = env.ok(&["image", "ls"]);
    let mut lines = table.lines();
    let head = lines.next().expect("header");
    let cols: Vec<usize> = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
        .iter()
        .map(|h| head.find(h).expect("a header column"))
        .collect();
    assert!(cols.windows(2).all(|w| w[0] < w[1]), "{head}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let busybox = rows
        .iter()
        .find(|r| r[0] == "busybox")
        .expect("a busybox row");
    assert_eq!(busybox[1], "latest");
    let id = busybox[2];
    assert_eq!(id.len(), 12);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let json = ls_json(&env, &env.root());
    let names: Vec<String> = json
        .iter()
        .map(|v| {
            format!(
                "{}:{}",
                v["Repository"].as_str().unwrap_or(""),
                v["Tag"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(names.contains(&"busybox:latest".to_string()), "{names:?}");
    assert!(names.contains(&"compose-example/busybox:latest".to_string()));
    assert!(json.iter().all(|v| v["ID"] == id));

    assert_eq!(env.ok(&["image", "ls", "-q"]).trim(), id);

    let inspect: Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "busybox"])).expect("JSON");
    let img = &inspect[0];
    let full_id = img["Id"].as_str().expect("Id");
    assert!(full_id.starts_with(&format!("sha256:{id}")), "{full_id}");
    let tags = img["RepoTags"].as_array().expect("RepoTags");
    assert!(tags.iter().any(|t| t == "busybox:latest"), "{tags:?}");
    assert_eq!(img["Os"], "linux");
    assert!(img["Architecture"].as_str().is_some_and(|a| !a.is_empty()));
    assert!(img["Size"].as_u64().is_some_and(|s| s > 100_000));
    assert!(img["Created"].is_string());
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(img["Config"]["Env"].as_array().is_some_and(|e| {
        e.iter()
            .any(|v| v.as_str().is_some_and(|s| s.starts_with("PATH=")))
    }));
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));

    let missing = env.compose(&["image", "inspect", "nope"]);
    assert!(!missing.success());
    assert!(
        missing.stderr.contains("No such image: nope"),
        "{}",
        missing.stderr
    );
}

#[test]
fn save_docker_archive_then_load_elsewhere_keeps_the_id() {
    let env = Env::new();
    env.base_images();
    let saved = env.path("saved.tar");
    env.ok(&[
        "image",
        "save",
        "-o",
        saved.to_str().expect("utf-8"),
        "busybox",
    ]);
    assert!(saved.is_file());
    let root2 = env.path("root2");
    let out = env.compose_in(
        &root2,
        &["image", "load", "-i", saved.to_str().expect("utf-8")],
    );
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("Loaded image: busybox:latest"),
        "{}",
        out.stdout
    );
    let a = ls_json(&env, &env.root());
    let b = ls_json(&env, &root2);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["Repository"], "busybox");
    assert_eq!(a[0]["ID"], b[0]["ID"]);

    // And as an OCI archive.
    let oci = env.path("saved-oci.tar");
    env.ok(&[
        "image",
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().expect("utf-8"),
        "compose-example/busybox",
    ]);
    let root3 = env.path("root3");
    let out = env.compose_in(
        &root3,
        &["image", "load", "-i", oci.to_str().expect("utf-8")],
    );
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(ls_json(&env, &root3)[0]["ID"], a[0]["ID"]);

    let unknown = env.compose(&["image", "save", "-o", oci.to_str().expect("utf-8"), "nope"]);
    assert!(!unknown.success());
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
}

#[test]
fn rm_then_prune_empties_the_store() {
    let env = Env::new();
    env.base_images();
    assert!(blob_count(&env.root()) >= 3);

    let unknown = env.compose(&["image", "rm", "nope"]);
    assert!(!unknown.success());
    assert!(
        unknown.stderr.contains("No such image: nope"),
        "{}",
        unknown.stderr
    );

    let out = env.ok(&["image", "rm", "busybox", "compose-example/busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(env.ok(&["image", "ls", "-q"]).trim().is_empty());
    assert_eq!(ls_json(&env, &env.root()).len(), 0);
    // Untagging keeps content until prune.
    assert!(blob_count(&env.root()) >= 3);

    let out = env.ok(&["image", "prune"]);
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(blob_count(&env.root()), 0);
    let out = env.ok(&["image", "prune"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
}

#[test]
fn load_of_a_corrupt_file_fails_clearly() {
    let env = Env::new();
    let bad = env.path("bad.tar");
    std::fs::write(&bad, b"this is not a tar archive at all\n").expect("write");
    let out = env.compose(&["image", "load", "-i", bad.to_str().expect("utf-8")]);
    assert!(!out.success());
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.tar"), "{err}");
    assert_eq!(blob_count(&env.root()), 0);

    let missing = env.compose(&["image", "load", "-i", "/nonexistent/x.tar"]);
    assert!(!missing.success());
    assert!(
        missing.stderr.contains("/nonexistent/x.tar"),
        "{}",
        missing.stderr
    );
}

#[test]
fn load_from_stdin_with_the_data_root_from_the_environment() {
    let env = Env::new();
    let archive = env.busybox_archive();
    let root2 = env.path("from-env");
    let out = std::process::Command::new(&env.bin)
        .args(["image", "load"])
        .env_clear()
        .env("HOME", env.dir.path())
        .env("COMPOSE_DATA_ROOT", &root2)
        .stdin(std::fs::File::open(&archive).expect("open archive"))
        .output()
        .expect("run compose");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Loaded image: busybox:latest"), "{stdout}");
    assert!(stdout.contains("Loaded image: compose-example/busybox:latest"));
    let names: Vec<Value> = ls_json(&env, &root2)
        .iter()
        .map(|v| v["Repository"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

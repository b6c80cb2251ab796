//! The flags of `compose config`, each run on one project by our binary and, where the
//! reference Docker Compose v2 is there, by it too: the answers must agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use compose_tests::{Output, compose_bin, reference_bin, run};

const COMPOSE_YAML: &str = r#"name: flags
services:
  web:
    image: "nginx:${TAG:-1.25}"
    depends_on: [db]
    profiles: [front]
    volumes: [data:/d]
    networks: [back]
    environment:
      MODE: ${MODE:?mode is required}
      EXTRA: ${EXTRA:+on}
  db:
    image: postgres
    networks: [back]
  builder:
    build: ./b
  tool:
    image: busybox
    profiles: [tools]
volumes:
  data: {}
networks:
  back: {}
"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), COMPOSE_YAML).unwrap();
        std::fs::write(dir.path().join(".env"), "TAG=1.27\nMODE=prod\n").unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run_with(&self, bin: &Path, args: &[&str]) -> Output {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run(
            bin,
            &args,
            self.path(),
            self.path(),
            &[],
            Duration::from_secs(60),
        )
        .unwrap()
    }

    fn ours(&self, args: &[&str]) -> Output {
        self.run_with(&compose_bin().unwrap(), args)
    }

    /// Ours and, when the reference is installed, v2's.
    fn both(&self, args: &[&str]) -> (Output, Option<Output>) {
        (
            self.ours(args),
            reference_bin().map(|r| self.run_with(&r, args)),
        )
    }
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines().map(|l| l.trim_end().to_string()).collect()
}

fn ok(o: &Output) -> &str {
    assert!(o.success(), "failed ({}): {}", o.status_line(), o.stderr);
    &o.stdout
}

/// The same lines, in any order.
fn same_lines(args: &[&str]) -> BTreeSet<String> {
    let p = Project::new();
    let (ours, v2) = p.both(args);
    let got = lines(ok(&ours));
    if let Some(v2) = v2 {
        assert_eq!(got, lines(ok(&v2)), "{args:?}: ours vs v2");
    }
    got
}

#[test]
fn services_in_dependency_order_with_profiles() {
    let p = Project::new();
    let (ours, v2) = p.both(&["--profile", "front", "config", "--services"]);
    // Ours is stable (dependencies first, then by name); v2 walks a Go map, so only the set
    // and the dependency order are compared with it.
    assert_eq!(ok(&ours), "builder\ndb\nweb\n");
    if let Some(v2) = v2 {
        let order: Vec<&str> = ok(&v2).lines().collect();
        assert_eq!(lines(ok(&ours)), lines(ok(&v2)));
        let pos = |s: &str| order.iter().position(|x| *x == s);
        assert!(pos("db") < pos("web"), "{order:?}");
    }
    assert_eq!(ok(&p.ours(&["config", "--services"])), "builder\ndb\n");
}

#[test]
fn volumes_networks_images_profiles() {
    assert_eq!(
        same_lines(&["--profile", "front", "config", "--volumes"]),
        lines("data")
    );
    assert_eq!(
        same_lines(&["--profile", "front", "config", "--networks"]),
        lines("back\ndefault")
    );
    assert_eq!(
        same_lines(&["--profile", "front", "config", "--images"]),
        lines("flags-builder\npostgres\nnginx:1.27")
    );
    assert_eq!(same_lines(&["config", "--profiles"]), lines("front\ntools"));
}

#[test]
fn hashes_match_docker_compose() {
    let all = same_lines(&["--profile", "front", "config", "--hash", "*"]);
    assert_eq!(all.len(), 3);
    let two = same_lines(&["--profile", "front", "config", "--hash", "web,db"]);
    assert!(two.iter().all(|l| all.contains(l)), "{two:?} ⊄ {all:?}");
    let p = Project::new();
    let bad = p.ours(&["config", "--hash", "nope"]);
    assert!(
        !bad.success() && bad.stderr.contains("no such service: nope"),
        "{}",
        bad.stderr
    );
}

#[test]
fn variables_table() {
    let got = same_lines(&["config", "--variables"]);
    let rows: BTreeSet<Vec<String>> = got
        .iter()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert!(
        rows.contains(&vec!["TAG".into(), "false".into(), "1.25".into()]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec!["MODE".into(), "true".into()]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec!["EXTRA".into(), "false".into(), "on".into()]),
        "{rows:?}"
    );
}

#[test]
fn environment_lists_the_interpolation_environment() {
    let p = Project::new();
    let env = lines(ok(&p.ours(&["config", "--environment"])));
    for want in ["TAG=1.27", "MODE=prod", "COMPOSE_PROJECT_NAME=flags"] {
        assert!(env.contains(want), "{want} missing from {env:?}");
    }
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
}

#[test]
fn quiet_and_output_file() {
    let p = Project::new();
    let q = p.ours(&["config", "-q"]);
    assert!(q.success() && q.stdout.is_empty(), "{q:?}");
    let out = p.path().join("out.yaml");
    let o = p.ours(&["config", "-o", out.to_str().unwrap()]);
    assert!(o.success() && o.stdout.is_empty(), "{o:?}");
    let printed = ok(&p.ours(&["config"])).to_string();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), printed);
    std::fs::write(
        p.path().join("compose.yaml"),
        "services:\n  web:\n    imag: x\n",
    )
    .unwrap();
    let bad = p.ours(&["config", "-q"]);
    assert!(
        !bad.success() && bad.stderr.contains("did you mean \"image\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn no_interpolate_keeps_variables() {
    let p = Project::new();
    let json: serde_json::Value = serde_json::from_str(ok(&p.ours(&[
        "config",
        "--no-interpolate",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["services"]["db"]["image"], "postgres");
    let yaml = ok(&p.ours(&["--profile", "front", "config", "--no-interpolate"])).to_string();
    assert!(yaml.contains("${TAG:-1.25}"), "{yaml}");
    assert!(yaml.contains("${MODE:?mode is required}"), "{yaml}");
}

#[test]
fn no_normalize_skips_defaults() {
    let p = Project::new();
    let json: serde_json::Value = serde_json::from_str(ok(&p.ours(&[
        "config",
        "--no-normalize",
        "--format",
        "json",
    ])))
    .unwrap();
    // Normalization would add the default network and the `<project>_<name>` names.
    assert!(
        json["services"]["db"]["networks"].get("default").is_none(),
        "{json}"
    );
    assert!(json["networks"]["back"].get("name").is_none(), "{json}");
    let normalized: serde_json::Value =
        serde_json::from_str(ok(&p.ours(&["config", "--format", "json"]))).unwrap();
    assert_eq!(normalized["networks"]["back"]["name"], "flags_back");
}

#[test]
fn selected_services_bring_their_dependencies() {
    let p = Project::new();
    let (ours, v2) = p.both(&["--profile", "front", "config", "--format", "json", "web"]);
    let got: serde_json::Value = serde_json::from_str(ok(&ours)).unwrap();
    let names: Vec<&String> = got["services"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["db", "web"]);
    if let Some(v2) = v2 {
        let want: serde_json::Value = serde_json::from_str(ok(&v2)).unwrap();
        assert_eq!(got, want);
    }
    let bad = p.ours(&["config", "nope"]);
    assert!(
        !bad.success() && bad.stderr.contains("no such service: nope"),
        "{}",
        bad.stderr
    );
}

/// Runs ours with `input` on stdin.
fn with_stdin(dir: &Path, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(compose_bin().unwrap())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn compose_file_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stdin(
        dir.path(),
        &["-f", "-", "-p", "fromstdin", "config", "--format", "json"],
        "services:\n  web:\n    image: busybox\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["name"], "fromstdin");
    assert_eq!(json["services"]["web"]["image"], "busybox");
}

#[test]
fn several_default_files_warn_and_the_first_wins() {
    let dir = tempfile::tempdir().unwrap();
    let d: PathBuf = dir.path().join("proj");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("compose.yaml"), "services:\n  a:\n    image: x\n").unwrap();
    std::fs::write(
        d.join("docker-compose.yml"),
        "services:\n  b:\n    image: y\n",
    )
    .unwrap();
    let out = run(
        &compose_bin().unwrap(),
        &["config".into(), "--services".into()],
        &d,
        dir.path(),
        &[],
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(ok(&out), "a\n");
    assert!(
        out.stderr.contains("Found multiple config files"),
        "{}",
        out.stderr
    );
}

#[test]
fn unsupported_attributes_are_warned_about_by_name() {
    let p = Project::new();
    std::fs::write(
        p.path().join("compose.yaml"),
        "services:\n  web:\n    image: x\n    gpus: all\n",
    )
    .unwrap();
    let out = p.ours(&["config", "-q"]);
    assert!(out.success(), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("compose.yaml:4:5: services.web.gpus is not supported yet"),
        "{}",
        out.stderr
    );
}

#[test]
fn unset_variables_warn_once_and_become_empty() {
    let p = Project::new();
    std::fs::write(
        p.path().join("compose.yaml"),
        "services:\n  web:\n    image: \"x${NOPE}\"\n    environment:\n      A: ${NOPE}\n",
    )
    .unwrap();
    let out = p.ours(&["config", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(json["services"]["web"]["image"], "x");
    assert_eq!(json["services"]["web"]["environment"]["A"], "");
    assert_eq!(
        out.stderr.matches("\"NOPE\" variable is not set").count(),
        1,
        "{}",
        out.stderr
    );
}

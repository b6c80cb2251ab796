//! Conformance and differential tests of `compose config --format json`.
//!
//! Every directory under `tests/cases/` is one case: the project's files (`compose.yaml`,
//! `.env`, overrides, included files...) plus these control files, which are not copied:
//!
//! - `args`: extra global arguments, one per line, put before `config` (`-f`, `x.yaml`...);
//! - `env`: `KEY=VALUE` lines set in the environment (which is otherwise empty but for `PATH`
//!   and `HOME`);
//! - `expected.json`: our output must equal it as JSON values; the case directory's absolute
//!   path is written `${CASE_DIR}` and the home directory `${HOME}`;
//! - `expected-error`: our command must fail, and each non-empty line of the file must appear
//!   in its stderr;
//! - `reference-differs`: why Docker Compose v2 differs; skips the comparison with it.
//! - `hash-differs`: why `config --hash` differs from v2's; skips only that comparison.
//!
//! A case runs in a copy at `<tmp>/<case name>`, so the default project name is the case name.
//! When the reference Docker Compose v2 is there (`COMPOSE_REFERENCE_BIN`, else
//! `/opt/dcref/bin/docker-compose`), it must produce the same JSON (or also fail). Every
//! successful output of ours must validate against `../shared/spec/compose-spec.json`.
//!
//! The stacks in `examples/compose/` are checked the same way (ours == v2, schema-valid).
//!
//! Environment knobs: `COMPOSE_BIN` (the binary under test), `COMPOSE_CASE=substring` (run only
//! matching cases), `COMPOSE_UPDATE_EXPECTED=1` (rewrite each `expected.json` from the
//! reference's output, then review the diff).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use compose_tests::{Output, compose_bin, compose_schema_path, copy_dir, reference_bin, run};
use serde_json::Value;

const CASE_DIR: &str = "${CASE_DIR}";
const HOME: &str = "${HOME}";
const CONTROL_FILES: &[&str] = &[
    "args",
    "env",
    "expected.json",
    "expected-error",
    "reference-differs",
    "hash-differs",
];
const LIMIT: Duration = Duration::from_secs(60);

struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    expected_json: Option<Value>,
    expected_error: Option<Vec<String>>,
    reference_differs: bool,
}

/// A case copied into a fresh temporary directory, ready to run.
struct Sandbox {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

#[test]
fn conformance() {
    if let Err(e) = run_all() {
        panic!("{e:#}");
    }
}

fn run_all() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let filter = std::env::var("COMPOSE_CASE").unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .with_context(|| format!("read {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&filter))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no case under {} matches {filter:?}", root.display());
    }
    let reference = reference_bin();
    let update = std::env::var("COMPOSE_UPDATE_EXPECTED").is_ok_and(|v| v == "1");
    if update {
        let reference =
            reference.context("COMPOSE_UPDATE_EXPECTED=1 needs the reference binary")?;
        return update_all(&root, &names, &reference);
    }
    let ours = compose_bin()?;
    if reference.is_none() {
        eprintln!(
            "note: no reference Docker Compose v2 (set COMPOSE_REFERENCE_BIN): \
             the differential checks are skipped"
        );
    }
    let validator = schema_validator()?;

    let mut failures = Vec::new();
    for name in &names {
        let case = read_case(&root.join(name))?;
        let problems = check_case(&case, &ours, reference.as_deref(), &validator)
            .unwrap_or_else(|e| vec![format!("{e:#}")]);
        if problems.is_empty() {
            eprintln!("ok   {name}");
        } else {
            eprintln!("FAIL {name}");
            failures.push(format!("--- {name}\n{}", problems.join("\n")));
        }
    }
    eprintln!(
        "conformance: {} passed, {} failed",
        names.len() - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        bail!(
            "{} of {} cases failed:\n{}",
            failures.len(),
            names.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

/// The example stacks in `examples/compose/`: our `config` must succeed, validate against the
/// schema, and equal v2's output.
#[test]
fn examples_match_reference() {
    if let Err(e) = check_examples() {
        panic!("{e:#}");
    }
}

fn check_examples() -> Result<()> {
    if std::env::var("COMPOSE_UPDATE_EXPECTED").is_ok_and(|v| v == "1") {
        return Ok(()); // Only the cases have expected files to rewrite.
    }
    let root = compose_tests::repo_root().join("examples").join("compose");
    let ours = compose_bin()?;
    let reference = reference_bin();
    let validator = schema_validator()?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| format!("read {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    dirs.sort();
    anyhow::ensure!(!dirs.is_empty(), "no example under {}", root.display());
    let mut failures = Vec::new();
    for dir in dirs {
        let mut case = read_case(&dir)?;
        case.expected_json = None;
        let sb = sandbox(&case)?;
        let out = config(&ours, &case, &sb)?;
        if !out.success() {
            failures.push(format!(
                "{}: config failed: {}",
                case.name,
                clip(&out.stderr)
            ));
            continue;
        }
        let raw: Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("{}: output is not JSON", case.name))?;
        for e in validator.iter_errors(&raw).take(10) {
            failures.push(format!("{}: schema: {} {e}", case.name, e.instance_path()));
        }
        if let Some(reference) = &reference {
            let r = config(reference, &case, &sb)?;
            anyhow::ensure!(r.success(), "{}: v2 failed: {}", case.name, r.stderr);
            let want = placeholders(serde_json::from_str(&r.stdout)?, &sb);
            let got = placeholders(raw, &sb);
            if got != want {
                failures.push(format!(
                    "{}: differs from v2:\n{}",
                    case.name,
                    diff(&want, &got)
                ));
            }
            // The YAML form, to the letter: layout, order, quoting, what it leaves out.
            let (ours_yaml, v2_yaml) = (
                yaml_text(&ours, &case, &sb)?,
                yaml_text(reference, &case, &sb)?,
            );
            if ours_yaml != v2_yaml {
                failures.push(format!(
                    "{}: YAML differs from v2's:\n--- v2\n{}\n--- ours\n{}",
                    case.name,
                    clip(&v2_yaml),
                    clip(&ours_yaml)
                ));
            }
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

fn schema_validator() -> Result<jsonschema::Validator> {
    let schema_path = compose_schema_path()?;
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&schema_path)?)
        .with_context(|| format!("parse {}", schema_path.display()))?;
    jsonschema::draft202012::new(&schema)
        .map_err(|e| anyhow::anyhow!("compile {}: {e}", schema_path.display()))
}

fn read_case(dir: &Path) -> Result<Case> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = |file: &str| -> Result<Option<String>> {
        let p = dir.join(file);
        if p.exists() {
            Ok(Some(
                std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?,
            ))
        } else {
            Ok(None)
        }
    };
    let lines = |text: Option<String>| -> Vec<String> {
        text.unwrap_or_default()
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let args = lines(read("args")?);
    let env = lines(read("env")?)
        .into_iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l, String::new()),
        })
        .collect();
    let expected_json = match read("expected.json")? {
        Some(text) => {
            Some(serde_json::from_str(&text).with_context(|| format!("{name}/expected.json"))?)
        }
        None => None,
    };
    let expected_error = read("expected-error")?.map(|t| lines(Some(t)));
    Ok(Case {
        name,
        dir: dir.to_path_buf(),
        args,
        env,
        expected_json,
        expected_error,
        reference_differs: dir.join("reference-differs").exists(),
    })
}

fn sandbox(case: &Case) -> Result<Sandbox> {
    let tmp = tempfile::Builder::new().prefix("compose-case-").tempdir()?;
    let base = tmp.path().canonicalize()?;
    let dir = base.join(&case.name);
    copy_dir(&case.dir, &dir, CONTROL_FILES)?;
    let home = base.join("home");
    std::fs::create_dir_all(&home)?;
    Ok(Sandbox {
        _tmp: tmp,
        dir,
        home,
    })
}

fn config(bin: &Path, case: &Case, sb: &Sandbox) -> Result<Output> {
    let mut args = case.args.clone();
    args.extend(["config", "--format", "json"].map(String::from));
    run(bin, &args, &sb.dir, &sb.home, &case.env, LIMIT)
}

/// What the YAML form holds of the JSON output: Docker Compose's YAML leaves out a service's
/// null `command` and `entrypoint`, a network's empty `ipam`, an empty `deploy.placement` or
/// `deploy.resources`
/// and a watch rule's unset `exec`, which its JSON has.
fn yaml_view(json: &Value) -> Value {
    let mut v = json.clone();
    let empty = |v: &Value| {
        v.as_object()
            .is_some_and(|o| o.values().all(Value::is_null))
    };
    if let Some(services) = v.get_mut("services").and_then(Value::as_object_mut) {
        for svc in services.values_mut().filter_map(Value::as_object_mut) {
            svc.retain(|k, v| !(matches!(k.as_str(), "command" | "entrypoint") && v.is_null()));
            if let Some(deploy) = svc.get_mut("deploy").and_then(Value::as_object_mut) {
                deploy
                    .retain(|k, v| !(matches!(k.as_str(), "placement" | "resources") && empty(v)));
            }
            let rules = svc
                .get_mut("develop")
                .and_then(|d| d.get_mut("watch"))
                .and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten().filter_map(Value::as_object_mut) {
                rule.retain(|k, v| !(k == "exec" && empty(v)));
            }
        }
    }
    if let Some(networks) = v.get_mut("networks").and_then(Value::as_object_mut) {
        for net in networks.values_mut().filter_map(Value::as_object_mut) {
            net.retain(|k, v| !(k == "ipam" && empty(v)));
        }
    }
    v
}

/// `v` without the services' own `x-` keys (Docker Compose's YAML has them, its JSON not).
fn without_service_extensions(mut v: Value) -> Value {
    if let Some(services) = v.get_mut("services").and_then(Value::as_object_mut) {
        for svc in services.values_mut().filter_map(Value::as_object_mut) {
            svc.retain(|k, _| !k.starts_with("x-"));
        }
    }
    v
}

/// `config` (YAML) text of `bin`.
fn yaml_text(bin: &Path, case: &Case, sb: &Sandbox) -> Result<String> {
    let mut args = case.args.clone();
    args.push("config".to_string());
    Ok(run(bin, &args, &sb.dir, &sb.home, &case.env, LIMIT)?.stdout)
}

/// Our `config` in its default YAML form, read back as a JSON value.
fn yaml_config(bin: &Path, case: &Case, sb: &Sandbox) -> Result<Value> {
    let mut args = case.args.clone();
    args.push("config".to_string());
    let out = run(bin, &args, &sb.dir, &sb.home, &case.env, LIMIT)?;
    serde_yaml_ng::from_str(&out.stdout).with_context(|| {
        format!(
            "`config` printed YAML that does not parse:\n{}",
            clip(&out.stdout)
        )
    })
}

/// `config --hash '*'` lines, sorted: the config hashes that decide recreation, which must be
/// Docker Compose's own so that containers it labelled are recognised.
fn hashes(bin: &Path, case: &Case, sb: &Sandbox) -> Result<Vec<String>> {
    let mut args = case.args.clone();
    args.extend(["config", "--hash", "*"].map(String::from));
    let out = run(bin, &args, &sb.dir, &sb.home, &case.env, LIMIT)?;
    let mut lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    lines.sort();
    Ok(lines)
}

fn check_case(
    case: &Case,
    ours: &Path,
    reference: Option<&Path>,
    validator: &jsonschema::Validator,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let sb = sandbox(case)?;
    let out = config(ours, case, &sb)?;
    let reference = reference.filter(|_| !case.reference_differs);

    match (&case.expected_json, &case.expected_error) {
        (Some(_), Some(_)) => bail!("has both expected.json and expected-error"),
        (None, None) => bail!(
            "has neither expected.json nor expected-error \
             (seed expected.json with COMPOSE_UPDATE_EXPECTED=1)"
        ),
        (Some(expected), None) => {
            if out.success() {
                match serde_json::from_str::<Value>(&out.stdout) {
                    Ok(raw) => {
                        for e in validator.iter_errors(&raw).take(10) {
                            problems.push(format!(
                                "schema: output at {} is invalid: {e}",
                                e.instance_path()
                            ));
                        }
                        let yaml = without_service_extensions(yaml_config(ours, case, &sb)?);
                        if yaml != yaml_view(&raw) {
                            problems.push(format!(
                                "`config` YAML does not read back as the JSON output:\n{}",
                                diff(&raw, &yaml)
                            ));
                        }
                        let got = placeholders(raw, &sb);
                        if &got != expected {
                            problems.push(format!(
                                "output differs from expected.json:\n{}",
                                diff(expected, &got)
                            ));
                        }
                    }
                    Err(e) => {
                        problems.push(format!("output is not JSON ({e}):\n{}", clip(&out.stdout)))
                    }
                }
            } else {
                problems.push(format!(
                    "config failed ({}), stderr:\n{}",
                    out.status_line(),
                    clip(&out.stderr)
                ));
            }
            if let Some(reference) = reference {
                let r = config(reference, case, &sb)?;
                if !r.success() {
                    problems.push(format!(
                        "reference v2 failed ({}): {}",
                        r.status_line(),
                        clip(&r.stderr)
                    ));
                } else {
                    let got: Value = serde_json::from_str(&r.stdout)
                        .context("the reference's output is not JSON")?;
                    let got = placeholders(got, &sb);
                    if &got != expected {
                        problems.push(format!(
                            "reference v2 output differs from expected.json (regenerate it with \
                             COMPOSE_UPDATE_EXPECTED=1 and review, or explain in \
                             reference-differs):\n{}",
                            diff(expected, &got)
                        ));
                    }
                    let (y_ours, y_ref) = (
                        yaml_text(ours, case, &sb)?,
                        yaml_text(reference, case, &sb)?,
                    );
                    if y_ours != y_ref {
                        problems.push(format!(
                            "config YAML differs from v2's:\n--- v2\n{}\n--- ours\n{}",
                            clip(&y_ref),
                            clip(&y_ours)
                        ));
                    }
                    let (h_ours, h_ref) = (hashes(ours, case, &sb)?, hashes(reference, case, &sb)?);
                    if h_ours != h_ref && !case.dir.join("hash-differs").exists() {
                        problems.push(format!(
                            "config hashes differ from v2's:\n  ours: {h_ours:?}\n  v2:   {h_ref:?}"
                        ));
                    }
                }
            }
        }
        (None, Some(needles)) => {
            if out.success() {
                problems.push(format!(
                    "config succeeded but an error was expected; stdout:\n{}",
                    clip(&out.stdout)
                ));
            } else if out.crashed() {
                problems.push(format!(
                    "config crashed ({}):\n{}",
                    out.status_line(),
                    clip(&out.stderr)
                ));
            } else {
                for n in needles {
                    if !out.stderr.contains(n.as_str()) {
                        problems.push(format!("stderr lacks {n:?}"));
                    }
                }
                if problems.iter().any(|p| p.starts_with("stderr lacks")) {
                    problems.push(format!("stderr was:\n{}", clip(&out.stderr)));
                }
            }
            if let Some(reference) = reference {
                let r = config(reference, case, &sb)?;
                if r.success() {
                    problems.push(
                        "reference v2 accepts this case (explain in reference-differs if that \
                         is intended)"
                            .to_string(),
                    );
                } else if r.timed_out {
                    problems.push("reference v2 timed out".to_string());
                }
            }
        }
    }
    Ok(problems)
}

/// Rewrites each selected case's expected.json from the reference's output.
fn update_all(root: &Path, names: &[String], reference: &Path) -> Result<()> {
    let mut failures = Vec::new();
    for name in names {
        let case = read_case(&root.join(name))?;
        if case.expected_error.is_some() || case.reference_differs {
            eprintln!("kept    {name} (expected-error or reference-differs)");
            continue;
        }
        let sb = sandbox(&case)?;
        let r = config(reference, &case, &sb)?;
        if !r.success() {
            failures.push(format!("{name}: reference failed: {}", r.stderr.trim()));
            continue;
        }
        let got: Value = serde_json::from_str(&r.stdout)?;
        let text = serde_json::to_string_pretty(&placeholders(got, &sb))? + "\n";
        let path = case.dir.join("expected.json");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old != text {
            std::fs::write(&path, text)?;
            eprintln!("updated {name}");
        } else {
            eprintln!("same    {name}");
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Replaces the sandbox's absolute paths in every string and key by the placeholders.
fn placeholders(v: Value, sb: &Sandbox) -> Value {
    let dir = sb.dir.to_string_lossy().into_owned();
    let home = sb.home.to_string_lossy().into_owned();
    let fix = |s: &str| s.replace(&dir, CASE_DIR).replace(&home, HOME);
    fn walk(v: Value, fix: &dyn Fn(&str) -> String) -> Value {
        match v {
            Value::String(s) => Value::String(fix(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| walk(x, fix)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, x)| (fix(&k), walk(x, fix)))
                    .collect(),
            ),
            other => other,
        }
    }
    walk(v, &fix)
}

/// A readable list of the differences between two JSON values, by path.
fn diff(expected: &Value, got: &Value) -> String {
    fn walk(path: &str, e: &Value, g: &Value, out: &mut Vec<String>) {
        match (e, g) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, av) in a {
                    let p = format!("{path}.{k}");
                    match b.get(k) {
                        Some(bv) => walk(&p, av, bv, out),
                        None => out.push(format!("  {p}: missing (expected {})", short(av))),
                    }
                }
                for (k, bv) in b {
                    if !a.contains_key(k) {
                        out.push(format!("  {path}.{k}: unexpected {}", short(bv)));
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{path}[{i}]"), av, bv, out);
                }
            }
            _ if e != g => out.push(format!(
                "  {}: expected {}, got {}",
                if path.is_empty() { "." } else { path },
                short(e),
                short(g)
            )),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", expected, got, &mut out);
    let n = out.len();
    let mut text = out.into_iter().take(30).collect::<Vec<_>>().join("\n");
    if n > 30 {
        let _ = write!(text, "\n  ... and {} more", n - 30);
    }
    text
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

fn clip(s: &str) -> String {
    let s = s.trim_end();
    if s.len() > 2000 {
        let mut end = 2000;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}\n[... {} more bytes]", &s[..end], s.len() - end)
    } else {
        s.to_string()
    }
}

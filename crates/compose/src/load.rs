//! Loading a project as Docker Compose v2 does: find the files, read `.env`, pick the project
//! name, parse, interpolate, resolve `include` and `extends`, merge, apply profiles, type,
//! normalize and validate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::paths::absolute;
use crate::yaml::{Key, Node, Pos, Value};
use crate::{dotenv, extends, interpolate, merge, yaml};

/// The names searched for, in order, in the working directory and then its parents.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files looked for beside the default file; the first found is used.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What the command line (and the process) says about which project to load.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f`, in order; `-` reads `stdin`.
    pub files: Vec<PathBuf>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file`, in order.
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services named on the command line: their profiles are enabled.
    pub services: Vec<String>,
    /// Skip `${VAR}` interpolation (`--no-interpolate`).
    pub no_interpolate: bool,
    /// The process's working directory.
    pub workdir: PathBuf,
    /// The process environment.
    pub environ: BTreeMap<String, String>,
    /// The text behind `-f -`.
    pub stdin: Option<String>,
}

impl Options {
    /// Options for the current process: its working directory and environment.
    pub fn from_process() -> Result<Options> {
        let workdir = std::env::current_dir().map_err(|source| Error::Io {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(Options {
            workdir,
            environ: std::env::vars().collect(),
            ..Options::default()
        })
    }
}

/// The files and environment a project is read from, before any file is parsed.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The compose files, absolute (`-` for stdin), in merge order.
    pub files: Vec<PathBuf>,
    /// The project directory: relative paths in the files resolve against it.
    pub project_dir: PathBuf,
    /// The environment for interpolation: the `.env` files under the process environment.
    pub env: BTreeMap<String, String>,
    /// Things the user should hear about (several default files found, ...).
    pub warnings: Vec<String>,
    /// The `.env` files looked for (whether or not they exist).
    pub env_files: Vec<PathBuf>,
}

/// The whole tree of a project after include, extends and merge, with what it took.
#[derive(Debug, Clone)]
pub struct Merged {
    pub root: Node,
    pub sources: Sources,
    /// The project name, already validated.
    pub name: String,
    /// Variables used without a value (each becomes an empty string).
    pub unset: Vec<String>,
    /// The files read: included and `extends` files and the includes' `.env` files.
    pub read: Vec<PathBuf>,
}

/// Docker Compose's project-name rule: lowercase letters, digits, `_` and `-`, starting with a
/// letter or digit.
pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Turns a directory name into a project name: lowercased, other characters dropped, no
/// leading `_` or `-`.
pub fn normalize_project_name(name: &str) -> String {
    let lowered = name.to_lowercase();
    let kept: String = lowered
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads dotenv files in order (later ones win) under the process environment (which wins).
pub fn read_env_files(
    files: &[PathBuf],
    environ: &BTreeMap<String, String>,
    required: bool,
) -> Result<BTreeMap<String, String>> {
    let mut from_files: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    path: f.clone(),
                    source,
                });
            }
        };
        let lookup = |k: &str| environ.get(k).or_else(|| from_files.get(k)).cloned();
        let pairs = dotenv::parse(&text, &lookup).map_err(|e| {
            Error::at(
                &Pos::new(&Arc::from(f.display().to_string()), e.line, 1),
                "",
                e.message,
            )
        })?;
        from_files.extend(pairs);
    }
    let mut env = from_files;
    env.extend(environ.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

fn env_files_for(opts: &Options, dir: &Path) -> (Vec<PathBuf>, bool) {
    if !opts.env_files.is_empty() {
        let files = opts
            .env_files
            .iter()
            .map(|f| absolute(&opts.workdir, f))
            .collect();
        return (files, true);
    }
    if let Some(list) = opts
        .environ
        .get("COMPOSE_ENV_FILES")
        .filter(|s| !s.is_empty())
    {
        let files = list
            .split(',')
            .map(|f| absolute(&opts.workdir, Path::new(f.trim())))
            .collect();
        return (files, true);
    }
    let disabled = opts
        .environ
        .get("COMPOSE_DISABLE_ENV_FILE")
        .is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes" | "y" | "on"));
    if disabled {
        return (Vec::new(), false);
    }
    (vec![dir.join(".env")], false)
}

/// Finds the default compose file in `dir` or its parents, plus its override file.
pub fn find_default_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|n| d.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                warnings.push(format!(
                    "Found multiple config files with supported names: {}\nUsing {}",
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    first.display()
                ));
            }
            let mut files = vec![first.clone()];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok((files, warnings));
        }
        at = d.parent();
    }
    Err(Error::Other(format!(
        "no configuration file provided: not found (looked for {} in {} and its parents)",
        DEFAULT_FILES.join(", "),
        dir.display()
    )))
}

/// Works out the files, the project directory and the interpolation environment.
pub fn sources(opts: &Options) -> Result<Sources> {
    let base = match &opts.project_directory {
        Some(d) => absolute(&opts.workdir, d),
        None => opts.workdir.clone(),
    };
    // COMPOSE_FILE may come from `.env` in the working (or project) directory.
    let (env_files, required) = env_files_for(opts, &base);
    let early_env = read_env_files(&env_files, &opts.environ, required)?;
    let mut warnings = Vec::new();
    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    f.clone()
                } else {
                    absolute(&opts.workdir, f)
                }
            })
            .collect()
    } else if let Some(list) = early_env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = early_env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map_or(":", String::as_str);
        list.split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| absolute(&base, Path::new(f)))
            .collect()
    } else {
        let (found, w) = find_default_files(&base)?;
        warnings.extend(w);
        found
    };
    let project_dir = match (&opts.project_directory, files.first()) {
        (Some(_), _) => base.clone(),
        (None, Some(f)) if f.as_os_str() != "-" => {
            f.parent().map_or_else(|| base.clone(), Path::to_path_buf)
        }
        _ => base.clone(),
    };
    let (env, env_files) = if project_dir == base {
        (early_env, env_files)
    } else {
        let (env_files, required) = env_files_for(opts, &project_dir);
        (
            read_env_files(&env_files, &opts.environ, required)?,
            env_files,
        )
    };
    Ok(Sources {
        files,
        project_dir,
        env,
        warnings,
        env_files,
    })
}

/// Reads, parses and interpolates one file.
struct FileLoader<'a> {
    env: &'a BTreeMap<String, String>,
    interpolate: bool,
    unset: Vec<String>,
    /// Files already parsed (before interpolation), taken on first use.
    parsed: Vec<(PathBuf, Node)>,
    /// Every file this loader (and its includes) read or looked for.
    read: Vec<PathBuf>,
}

/// Reads and parses one compose file, without interpolating it.
fn parse_file(path: &Path, stdin: Option<&str>) -> Result<Node> {
    let (name, text) = if path.as_os_str() == "-" {
        ("-".to_string(), stdin.unwrap_or_default().to_string())
    } else {
        (path.display().to_string(), read(path)?)
    };
    let node = yaml::parse(&Arc::from(name), &text)?;
    check_top(&node)?;
    Ok(node)
}

fn check_top(node: &Node) -> Result<()> {
    if node.is_null() {
        return Err(Error::at(&node.pos, "", "empty compose file"));
    }
    if node.as_map().is_none() {
        return Err(Error::at(
            &node.pos,
            "",
            format!("a compose file must be a mapping, not a {}", node.kind()),
        ));
    }
    Ok(())
}

impl FileLoader<'_> {
    fn load(&mut self, path: &Path) -> Result<Node> {
        self.read.push(path.to_path_buf());
        let node = match self.parsed.iter().position(|(p, _)| p == path) {
            Some(i) => self.parsed.swap_remove(i).1,
            None => parse_file(path, None)?,
        };
        self.interpolate(node)
    }

    fn interpolate(&mut self, mut node: Node) -> Result<Node> {
        if node.is_null() {
            return Err(Error::at(&node.pos, "", "empty compose file"));
        }
        if node.as_map().is_none() {
            return Err(Error::at(
                &node.pos,
                "",
                format!("a compose file must be a mapping, not a {}", node.kind()),
            ));
        }
        if self.interpolate {
            let env = self.env;
            let lookup = |k: &str| env.get(k).cloned();
            interpolate::interpolate_node(&mut node, "", &lookup, &mut self.unset)?;
        }
        Ok(node)
    }
}

/// Loads one file with its `include`s and `extends` resolved; `stack` guards against include
/// cycles.
fn load_file_tree(
    loader: &mut FileLoader<'_>,
    path: &Path,
    stack: &mut Vec<PathBuf>,
) -> Result<Node> {
    let mut root = loader.load(path)?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    resolve_includes(loader, &mut root, &dir, stack)?;
    let mut load_other = |p: &Path| loader.load(p);
    extends::resolve_extends(&mut root, &mut load_other, &dir)?;
    Ok(root)
}

/// One entry of `include:`, in its long form.
struct Include {
    paths: Vec<(PathBuf, Pos)>,
    project_directory: Option<PathBuf>,
    env_files: Vec<PathBuf>,
}

fn include_entries(node: &Node, dir: &Path) -> Result<Vec<Include>> {
    let Some(items) = node.as_seq() else {
        return Err(Error::at(&node.pos, "include", "must be a sequence"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("include[{i}]");
        let strings = |n: &Node, what: &str| -> Result<Vec<(String, Pos)>> {
            match &n.value {
                Value::Seq(s) => s
                    .iter()
                    .map(|x| {
                        x.scalar_string()
                            .map(|v| (v, x.pos.clone()))
                            .ok_or_else(|| {
                                Error::at(&x.pos, format!("{path}.{what}"), "must be a string")
                            })
                    })
                    .collect(),
                _ => n
                    .scalar_string()
                    .map(|v| vec![(v, n.pos.clone())])
                    .ok_or_else(|| {
                        Error::at(
                            &n.pos,
                            format!("{path}.{what}"),
                            "must be a string or a list of strings",
                        )
                    }),
            }
        };
        let entry = match &item.value {
            Value::Map(m) => {
                for k in m.keys() {
                    if !matches!(k.name.as_str(), "path" | "project_directory" | "env_file")
                        && !k.name.starts_with("x-")
                    {
                        return Err(Error::at(
                            &k.pos,
                            format!("{path}.{}", k.name),
                            format!("additional property {:?} is not allowed", k.name),
                        ));
                    }
                }
                let Some(p) = m.get("path") else {
                    return Err(Error::at(&item.pos, path, "missing property \"path\""));
                };
                Include {
                    paths: strings(p, "path")?
                        .into_iter()
                        .map(|(s, pos)| (absolute(dir, Path::new(&s)), pos))
                        .collect(),
                    project_directory: m
                        .get("project_directory")
                        .and_then(Node::scalar_string)
                        .map(|s| absolute(dir, Path::new(&s))),
                    env_files: match m.get("env_file") {
                        Some(n) => strings(n, "env_file")?
                            .into_iter()
                            .map(|(s, _)| absolute(dir, Path::new(&s)))
                            .collect(),
                        None => Vec::new(),
                    },
                }
            }
            _ => {
                let (s, pos) = strings(item, "")?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::at(&item.pos, &path, "must be a path"))?;
                Include {
                    paths: vec![(absolute(dir, Path::new(&s)), pos)],
                    project_directory: None,
                    env_files: Vec::new(),
                }
            }
        };
        out.push(entry);
    }
    Ok(out)
}

/// Loads every `include` of `root` as a project of its own (its own directory and `.env`) and
/// adds its resources to `root`. A resource defined on both sides differently is an error.
fn resolve_includes(
    loader: &mut FileLoader<'_>,
    root: &mut Node,
    dir: &Path,
    stack: &mut Vec<PathBuf>,
) -> Result<()> {
    let Some(map) = root.as_map_mut() else {
        return Ok(());
    };
    let Some(include) = map.shift_remove("include") else {
        return Ok(());
    };
    for inc in include_entries(&include, dir)? {
        let Some((first, first_pos)) = inc.paths.first().cloned() else {
            continue;
        };
        if stack.contains(&first) {
            let chain: Vec<String> = stack
                .iter()
                .chain(std::iter::once(&first))
                .map(|p| p.display().to_string())
                .collect();
            return Err(Error::at(
                &first_pos,
                "include",
                format!("include cycle: {}", chain.join(" -> ")),
            ));
        }
        let project_dir = inc
            .project_directory
            .clone()
            .unwrap_or_else(|| first.parent().unwrap_or(Path::new("/")).to_path_buf());
        let env_files = if inc.env_files.is_empty() {
            vec![project_dir.join(".env")]
        } else {
            inc.env_files.clone()
        };
        let shell: BTreeMap<String, String> = loader.env.clone();
        let env = read_env_files(&env_files, &shell, !inc.env_files.is_empty())?;
        let mut sub = FileLoader {
            env: &env,
            interpolate: loader.interpolate,
            unset: Vec::new(),
            parsed: Vec::new(),
            read: env_files.clone(),
        };
        stack.push(first.clone());
        let mut merged: Option<Node> = None;
        for (p, _) in &inc.paths {
            let tree = load_file_tree(&mut sub, p, stack)?;
            merged = Some(fold(merged, tree)?);
        }
        stack.pop();
        loader.unset.extend(sub.unset);
        loader.read.extend(sub.read);
        if let Some(mut tree) = merged {
            crate::paths::rebase_paths(&mut tree, &project_dir);
            add_included(map, tree, &first)?;
        }
    }
    Ok(())
}

/// Adds an included project's resources to the including file's tree.
fn add_included(map: &mut crate::yaml::Map, tree: Node, from: &Path) -> Result<()> {
    let Value::Map(incoming) = tree.value else {
        return Ok(());
    };
    for (section, node) in incoming {
        let Value::Map(resources) = node.value else {
            continue;
        };
        if !matches!(
            section.name.as_str(),
            "services" | "networks" | "volumes" | "configs" | "secrets"
        ) {
            continue;
        }
        let target = map
            .entry(Key::new(section.name.clone(), section.pos.clone()))
            .or_insert_with(|| Node::new(Value::Map(Default::default()), section.pos.clone()));
        if target.is_null() {
            target.value = Value::Map(Default::default());
        }
        let Some(existing) = target.as_map_mut() else {
            continue;
        };
        for (name, def) in resources {
            if let Some((k, old)) = existing.get_key_value(name.name.as_str()) {
                if old.to_json() != def.to_json() {
                    return Err(Error::at(
                        &k.pos,
                        format!("{}.{}", section.name, name.name),
                        format!(
                            "imported resource {} defined in {} conflicts with another resource defined in {}",
                            name.name,
                            from.display(),
                            k.pos.file
                        ),
                    ));
                }
                continue;
            }
            existing.insert(name, def);
        }
    }
    Ok(())
}

/// Reads all files of a project and merges them into one tree, with the project name settled.
/// Merges `tree` over what is folded so far; the first tree only loses its merge tags.
fn fold(acc: Option<Node>, mut tree: Node) -> Result<Node> {
    match acc {
        None => {
            merge::strip_tags(&mut tree);
            Ok(tree)
        }
        Some(base) => merge::merge(base, tree),
    }
}

pub fn load_merged(opts: &Options) -> Result<Merged> {
    let mut sources = sources(opts)?;
    let parsed = sources
        .files
        .iter()
        .map(|f| Ok((f.clone(), parse_file(f, opts.stdin.as_deref())?)))
        .collect::<Result<Vec<_>>>()?;
    // The name is known before interpolation, which may use COMPOSE_PROJECT_NAME.
    let name = project_name(opts, &sources, &parsed)?;
    sources
        .env
        .entry("COMPOSE_PROJECT_NAME".to_string())
        .or_insert_with(|| name.clone());
    let mut loader = FileLoader {
        env: &sources.env,
        interpolate: !opts.no_interpolate,
        unset: Vec::new(),
        parsed,
        read: Vec::new(),
    };
    let mut root: Option<Node> = None;
    for f in &sources.files {
        let mut stack = vec![f.clone()];
        let tree = load_file_tree(&mut loader, f, &mut stack)?;
        root = Some(fold(root, tree)?);
    }
    let mut unset = std::mem::take(&mut loader.unset);
    let mut seen = BTreeSet::new();
    unset.retain(|v| seen.insert(v.clone()));
    let root = root.ok_or_else(|| Error::Other("no configuration file provided".into()))?;
    let read = std::mem::take(&mut loader.read);
    Ok(Merged {
        root,
        sources,
        name,
        unset,
        read,
    })
}

/// `-p`, then `COMPOSE_PROJECT_NAME` (shell or `.env`), then `name:`, then the directory.
fn project_name(opts: &Options, sources: &Sources, files: &[(PathBuf, Node)]) -> Result<String> {
    let explicit = |name: &str, from: &str, pos: Option<&Pos>| -> Result<String> {
        if is_valid_project_name(name) {
            return Ok(name.to_string());
        }
        let msg = format!(
            "{from} {name:?} is not a valid project name: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
        );
        Err(match pos {
            Some(p) => Error::at(p, "name", msg),
            None => Error::Other(msg),
        })
    };
    if let Some(p) = opts.project_name.as_deref().filter(|s| !s.is_empty()) {
        return explicit(p, "project name", None);
    }
    if let Some(p) = sources
        .env
        .get("COMPOSE_PROJECT_NAME")
        .filter(|s| !s.is_empty())
    {
        return explicit(p, "COMPOSE_PROJECT_NAME", None);
    }
    // The last file that sets `name:` wins, as in a merge; its value is interpolated and
    // normalized (Docker Compose quietly normalizes this one).
    if let Some(n) = files.iter().rev().find_map(|(_, root)| root.get("name"))
        && let Some(raw) = n.scalar_string().filter(|s| !s.is_empty())
    {
        let env = &sources.env;
        let value = if opts.no_interpolate {
            raw
        } else {
            interpolate::substitute(&raw, &|k: &str| env.get(k).cloned())
                .map_err(|e| Error::at(&n.pos, "name", e.to_string()))?
                .value
        };
        let normalized = normalize_project_name(&value);
        if !normalized.is_empty() {
            return explicit(&normalized, "name", Some(&n.pos));
        }
    }
    let base = sources
        .project_dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if name.is_empty() {
        return Err(Error::Other(format!(
            "project name can't be derived from directory {:?}: use -p or `name:`",
            sources.project_dir
        )));
    }
    Ok(name)
}

/// A loaded project: the typed model and its printable form, with what it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The project name.
    pub name: String,
    /// The typed, normalized model (`None` with `--no-interpolate`, where values may still
    /// hold `${...}` that no type accepts).
    pub model: Option<crate::model::Project>,
    /// The project as `config --format json` prints it (before `$` escaping).
    pub json: serde_json::Value,
    /// Files, project directory and interpolation environment.
    pub sources: Sources,
    /// Every profile some service names, sorted.
    pub profiles: BTreeSet<String>,
    /// What to tell the user (unset variables, several default files ...).
    pub warnings: Vec<String>,
    /// The merged tree the model was read from, with every node's file position.
    pub tree: Node,
    /// Every file the project was read from or looked for: compose files, overrides,
    /// included and `extends` files, `.env` files, `env_file`s and `label_file`s (sorted,
    /// absolute; `-` for stdin). What the reload loop watches.
    pub inputs: Vec<PathBuf>,
}

/// The profiles a loader enables: `--profile` and `COMPOSE_PROFILES`.
fn enabled_profiles(opts: &Options, env: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if opts.profiles.is_empty()
        && let Some(p) = env.get("COMPOSE_PROFILES")
    {
        set.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    set
}

/// Removes the services whose profiles are all disabled. Returns every profile named and the
/// services removed.
fn apply_profiles(
    root: &mut Node,
    enabled: &BTreeSet<String>,
    named: &[String],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut disabled = BTreeSet::new();
    let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Node::as_map_mut)
    else {
        return (all, disabled);
    };
    services.retain(|k, svc| {
        let profiles: Vec<String> = svc
            .get("profiles")
            .and_then(Node::as_seq)
            .map(|s| s.iter().filter_map(Node::scalar_string).collect())
            .unwrap_or_default();
        all.extend(profiles.iter().cloned());
        let on = profiles.is_empty()
            || enabled.contains("*")
            || profiles.iter().any(|p| enabled.contains(p))
            || named.contains(&k.name);
        if !on {
            disabled.insert(k.name.clone());
        }
        on
    });
    (all, disabled)
}

/// Keeps only `selected` and what they depend on, in the typed model.
fn select_model_services(model: &mut crate::model::Project, selected: &[String]) -> Result<()> {
    let graph =
        crate::graph::Graph::from_project(model).map_err(|c| Error::Other(c.to_string()))?;
    let names: Vec<&str> = selected.iter().map(String::as_str).collect();
    if let Some(n) = names.iter().find(|n| !model.services.contains_key(**n)) {
        return Err(Error::Other(format!("no such service: {n}")));
    }
    let keep: BTreeSet<String> = graph
        .with_dependencies(&names)
        .into_iter()
        .map(String::from)
        .collect();
    model.services.retain(|k, _| keep.contains(k));
    Ok(())
}

/// Keeps only `selected` and what they depend on.
fn select_services(json: &mut serde_json::Value, selected: &[String]) -> Result<()> {
    if selected.is_empty() {
        return Ok(());
    }
    let graph = json_graph(json)?;
    let names: Vec<&str> = selected.iter().map(String::as_str).collect();
    for n in &names {
        if !graph.services().contains(n) {
            return Err(Error::Other(format!("no such service: {n}")));
        }
    }
    let keep: BTreeSet<String> = graph
        .with_dependencies(&names)
        .into_iter()
        .map(String::from)
        .collect();
    if let Some(services) = json.get_mut("services").and_then(|s| s.as_object_mut()) {
        services.retain(|k, _| keep.contains(k));
    }
    Ok(())
}

/// The dependency graph of the printable project (explicit and implied `depends_on`).
fn json_graph(json: &serde_json::Value) -> Result<crate::graph::Graph> {
    use crate::graph::{Condition, Dependency, Graph};
    let empty = serde_json::Map::new();
    let services = json
        .get("services")
        .and_then(|s| s.as_object())
        .unwrap_or(&empty);
    let mut edges = Vec::new();
    for (name, svc) in services {
        let Some(deps) = svc.get("depends_on").and_then(|d| d.as_object()) else {
            continue;
        };
        for (dep, how) in deps {
            let d = Dependency {
                condition: how
                    .get("condition")
                    .and_then(|c| c.as_str())
                    .and_then(Condition::parse)
                    .unwrap_or(Condition::Started),
                required: how
                    .get("required")
                    .and_then(|r| r.as_bool())
                    .unwrap_or(true),
                restart: how
                    .get("restart")
                    .and_then(|r| r.as_bool())
                    .unwrap_or(false),
            };
            edges.push((name.clone(), dep.clone(), d));
        }
    }
    Graph::new(services.keys().cloned(), edges).map_err(|c| Error::Other(c.to_string()))
}

impl Loaded {
    /// Service names, each after its dependencies.
    pub fn service_order(&self) -> Vec<String> {
        match json_graph(&self.json) {
            Ok(g) => g.dependency_order().into_iter().map(String::from).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The image of each service: `image:`, else `<project>-<service>` for built ones.
    pub fn images(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(services) = self.json.get("services").and_then(|s| s.as_object()) {
            for (name, svc) in services {
                match svc.get("image").and_then(|i| i.as_str()) {
                    Some(i) => out.push(i.to_string()),
                    None => out.push(format!("{}-{name}", self.name)),
                }
            }
        }
        out
    }

    /// The hash of a service's configuration that decides whether its containers must be
    /// recreated. What doesn't change a running container (build, pull policy, scale,
    /// `depends_on`, profiles) is left out, as Docker Compose does.
    pub fn config_hash(&self, service: &str) -> Option<String> {
        let mut svc = self.json.get("services")?.get(service)?.clone();
        if let Some(o) = svc.as_object_mut() {
            // shift_remove keeps the other keys in order: the hash is over the text.
            for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
                o.shift_remove(k);
            }
            if let Some(d) = o.get_mut("deploy").and_then(|d| d.as_object_mut()) {
                d.shift_remove("replicas");
            }
        }
        let text = go_json(&serde_json::to_string(&svc).ok()?);
        use sha2::Digest;
        Some(hex::encode(sha2::Sha256::digest(text.as_bytes())))
    }
}

/// Escapes compact JSON text as Go's `encoding/json` does (`<`, `>`, `&`, U+2028, U+2029), so
/// that hashes over it equal Docker Compose's `com.docker.compose.config-hash`.
fn go_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Below this many services the typed stages run on one thread: a thread costs more than it
/// saves.
const PARALLEL_MIN_SERVICES: usize = 64;

/// The typed stages one after another: deserialize, validate, normalize (with `ctx`) and
/// print to JSON.
fn typed_sequential(
    root: &Node,
    scope: &crate::validate::Scope<'_>,
    name: &str,
    ctx: Option<&crate::normalize::Context>,
) -> Result<(crate::model::Project, serde_json::Value)> {
    let mut model: crate::model::Project = crate::de::from_node(root, "")?;
    Error::collect(crate::validate::validate(scope))?;
    model.name = name.to_string();
    if let Some(ctx) = ctx {
        crate::normalize::normalize(&mut model, ctx)?;
    }
    let json = serde_json::to_value(&model).map_err(|e| Error::Other(e.to_string()))?;
    Ok((model, json))
}

/// Some of a project's services through the typed stages.
struct TypedServices {
    services: Vec<(String, crate::model::Service)>,
    json: Vec<(String, serde_json::Value)>,
    uses_default_network: bool,
}

/// Deserializes, normalizes (with `ctx`) and prints `part`'s services; `None` at the first
/// problem, which the sequential path then reports.
fn typed_services(
    part: &[(&Key, &Node)],
    ctx: Option<&crate::normalize::Context>,
) -> Option<TypedServices> {
    let mut out = TypedServices {
        services: Vec::with_capacity(part.len()),
        json: Vec::with_capacity(part.len()),
        uses_default_network: false,
    };
    for (key, node) in part {
        let mut service: crate::model::Service = crate::de::from_node(node, "").ok()?;
        if let Some(ctx) = ctx {
            let (error, default_network) =
                crate::normalize::normalize_one_service(&key.name, &mut service, ctx);
            if error.is_some() {
                return None;
            }
            out.uses_default_network |= default_network;
        }
        out.json
            .push((key.name.clone(), serde_json::to_value(&service).ok()?));
        out.services.push((key.name.clone(), service));
    }
    Some(out)
}

/// What [`typed_sequential`] gives, with a big project's services taken through the typed
/// stages in two halves, one on a second thread, while this one also reads the rest of the
/// project and validates the tree. Any error (or a services section that is not a plain
/// mapping) makes it run [`typed_sequential`] instead, so that errors, which one comes first,
/// their positions and paths, are exactly the sequential ones.
fn typed(
    root: &Node,
    scope: &crate::validate::Scope<'_>,
    name: &str,
    ctx: Option<&crate::normalize::Context>,
) -> Result<(crate::model::Project, serde_json::Value)> {
    let services = root
        .get("services")
        .filter(|s| s.tag.is_none())
        .and_then(Node::as_map)
        .filter(|m| m.len() >= PARALLEL_MIN_SERVICES);
    let (Some(services), Value::Map(top)) = (services, &root.value) else {
        return typed_sequential(root, scope, name, ctx);
    };
    // The project without its services.
    let rest = Node {
        value: Value::Map(
            top.iter()
                .map(|(k, v)| {
                    let v = if k.name == "services" {
                        Node::new(Value::Map(Default::default()), v.pos.clone())
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        pos: root.pos.clone(),
        tag: root.tag,
    };
    let entries: Vec<(&Key, &Node)> = services.iter().collect();
    // This thread also validates (about a tenth of the services' typed work): it takes a
    // little less than half of them.
    let (head, tail) = entries.split_at(entries.len() * 9 / 20);
    let ((project, first, errors), second) = crate::par::join(
        || {
            (
                crate::de::from_node::<crate::model::Project>(&rest, ""),
                typed_services(head, ctx),
                crate::validate::validate(scope),
            )
        },
        || typed_services(tail, ctx),
    );
    let (Ok(mut project), true, Some(first), Some(second)) =
        (project, errors.is_empty(), first, second)
    else {
        return typed_sequential(root, scope, name, ctx);
    };
    project.name = name.to_string();
    if let Some(ctx) = ctx {
        crate::normalize::normalize_project_start(&mut project, ctx);
    }
    project.services = first.services.into_iter().chain(second.services).collect();
    if let Some(ctx) = ctx {
        crate::normalize::normalize_project_end(
            &mut project,
            ctx,
            first.uses_default_network || second.uses_default_network,
        )?;
    }
    // Printed as the model's `Serialize` prints it: the services sorted by name.
    let services = std::mem::take(&mut project.services);
    let mut json = serde_json::to_value(&project).map_err(|e| Error::Other(e.to_string()))?;
    project.services = services;
    let mut printed: Vec<(String, serde_json::Value)> =
        first.json.into_iter().chain(second.json).collect();
    printed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    match json.get_mut("services") {
        Some(slot) => *slot = serde_json::Value::Object(printed.into_iter().collect()),
        None => return typed_sequential(root, scope, name, ctx),
    }
    Ok((project, json))
}

/// Gives errors that know their model path but not their position (normalization works on
/// the typed model) the position of that path in the tree.
fn place(err: Error, root: &Node) -> Error {
    match err {
        Error::At { pos, path, message } if pos.line == 0 => Error::At {
            pos: root.locate(&path).clone(),
            path,
            message,
        },
        Error::Many(errors) => Error::Many(errors.into_iter().map(|e| place(e, root)).collect()),
        other => other,
    }
}

/// Loads a project: the whole pipeline. `normalize: false` is `config --no-normalize`.
pub fn load(opts: &Options, normalize: bool) -> Result<Loaded> {
    let Merged {
        mut root,
        sources,
        name,
        unset,
        read,
    } = load_merged(opts)?;
    let mut inputs: BTreeSet<PathBuf> = read.into_iter().collect();
    inputs.extend(sources.files.iter().cloned());
    inputs.extend(sources.env_files.iter().cloned());
    let mut warnings = sources.warnings.clone();
    for v in &unset {
        warnings.push(format!(
            "The {v:?} variable is not set. Defaulting to a blank string."
        ));
    }
    let enabled = enabled_profiles(opts, &sources.env);
    let (profiles, disabled) = apply_profiles(&mut root, &enabled, &opts.services);
    warnings.extend(crate::support::warnings(&root));
    let extensions: serde_json::Map<String, serde_json::Value> = root
        .as_map()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.name.starts_with("x-"))
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect()
        })
        .unwrap_or_default();
    let (model, mut json) = if opts.no_interpolate {
        let mut json = root.to_json();
        if let Some(o) = json.as_object_mut() {
            o.insert("name".into(), serde_json::Value::String(name.clone()));
        }
        (None, json)
    } else {
        let ctx = normalize.then(|| {
            crate::normalize::Context::new(
                name.clone(),
                sources.project_dir.clone(),
                sources.env.clone(),
            )
        });
        let scope = crate::validate::Scope {
            root: &root,
            disabled: &disabled,
            project_dir: &sources.project_dir,
        };
        crate::validate::top_level_keys(&root)?;
        let (mut model, mut json) =
            typed(&root, &scope, &name, ctx.as_ref()).map_err(|e| place(e, &root))?;
        inputs.extend(ctx.iter().flat_map(|c| c.files_read()));
        if !opts.services.is_empty() {
            select_model_services(&mut model, &opts.services)?;
            crate::normalize::remove_unused_resources(&mut model);
            json = serde_json::to_value(&model).map_err(|e| Error::Other(e.to_string()))?;
        }
        if let Some(o) = json.as_object_mut() {
            o.extend(extensions);
        }
        (Some(model), json)
    };
    if model.is_none() {
        select_services(&mut json, &opts.services)?;
    }
    Ok(Loaded {
        name,
        model,
        json,
        sources,
        profiles,
        warnings,
        tree: root,
        inputs: inputs.into_iter().collect(),
    })
}

/// The variables the project's files use, for `config --variables`.
pub fn variables(opts: &Options) -> Result<Vec<interpolate::Variable>> {
    let raw = Options {
        no_interpolate: true,
        ..opts.clone()
    };
    Ok(interpolate::variables(&load_merged(&raw)?.root))
}

/// Loads a project from one file's text, with no environment and a fixed directory: what the
/// fuzzer and quick checks call.
pub fn load_from_str(text: &str) -> Result<Loaded> {
    let opts = Options {
        files: vec![PathBuf::from("-")],
        project_name: Some("fuzz".into()),
        workdir: PathBuf::from("/nonexistent-compose-project"),
        stdin: Some(text.to_string()),
        environ: BTreeMap::from([("COMPOSE_DISABLE_ENV_FILE".to_string(), "1".to_string())]),
        ..Options::default()
    };
    load(&opts, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project big enough for the two-thread path: its output and its first error must be
    /// those of the one-thread path.
    fn big(bad: &[usize]) -> String {
        let mut s = String::from("services:\n");
        for i in 0..150 {
            s.push_str(&format!(
                "  s{i}:\n    image: img{i}\n    environment: [A=$$x]\n"
            ));
            if bad.contains(&i) {
                s.push_str(&format!("    ports: [\"{i}x\"]\n"));
            }
        }
        s.push_str("volumes:\n  v: {}\n");
        s
    }

    #[test]
    fn big_projects_load_as_small_ones_do() {
        let loaded = load_from_str(&big(&[])).unwrap();
        let services = loaded.json["services"].as_object().unwrap();
        assert_eq!(services.len(), 150);
        let names: Vec<&String> = services.keys().collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(loaded.json["services"]["s120"]["image"], "img120");
        assert_eq!(loaded.model.unwrap().services.len(), 150);
        let keys: Vec<&String> = loaded.json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "networks", "services"]);

        let first = load_from_str(&big(&[140, 100])).unwrap_err().to_string();
        assert!(first.contains("services.s100.ports"), "{first}");
        let later = load_from_str(&big(&[10, 140])).unwrap_err().to_string();
        assert!(later.contains("services.s10.ports"), "{later}");
    }

    #[test]
    fn project_names_normalize_like_compose() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__x-Y"), "x-y");
        assert_eq!(normalize_project_name("..."), "");
        assert!(is_valid_project_name("a-b_1"));
        assert!(!is_valid_project_name("_a"));
        assert!(!is_valid_project_name("A"));
        assert!(!is_valid_project_name(""));
    }

    #[test]
    fn absolute_cleans_dots() {
        assert_eq!(
            absolute(Path::new("/srv/p"), Path::new("./a/../b")),
            PathBuf::from("/srv/p/b")
        );
        assert_eq!(
            absolute(Path::new("/srv/p"), Path::new("/x/./y")),
            PathBuf::from("/x/y")
        );
    }

    #[test]
    fn default_files_are_found_in_parents_with_override() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(d.path().join("docker-compose.yml"), "services: {}\n").unwrap();
        std::fs::write(d.path().join("compose.override.yaml"), "services: {}\n").unwrap();
        let sub = d.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let (files, warnings) = find_default_files(&sub).unwrap();
        assert_eq!(
            files,
            vec![
                d.path().join("compose.yaml"),
                d.path().join("compose.override.yaml")
            ]
        );
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn inputs_name_every_file_the_project_was_read_from() {
        let d = tempfile::tempdir().unwrap();
        let w = |name: &str, text: &str| {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        };
        w(
            "compose.yaml",
            "include: [inc/other.yaml]\nservices:\n  web:\n    extends: {file: base.yaml, service: b}\n    env_file: [web.env, {path: opt.env, required: false}]\n",
        );
        w("compose.override.yaml", "services: {web: {image: x}}\n");
        w(
            "base.yaml",
            "services: {b: {image: busybox, label_file: l.txt}}\n",
        );
        w("l.txt", "A=1\n");
        w("web.env", "X=1\n");
        w("inc/other.yaml", "services: {db: {image: busybox}}\n");
        let opts = Options {
            workdir: d.path().to_path_buf(),
            ..Options::default()
        };
        let loaded = load(&opts, true).unwrap();
        let want: Vec<PathBuf> = [
            ".env",
            "base.yaml",
            "compose.override.yaml",
            "compose.yaml",
            "inc/.env",
            "inc/other.yaml",
            "l.txt",
            "opt.env",
            "web.env",
        ]
        .iter()
        .map(|n| d.path().join(n))
        .collect();
        assert_eq!(loaded.inputs, want);
    }
}

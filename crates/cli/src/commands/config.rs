//! `compose config`: the resolved project, as Docker Compose v2 prints it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use compose::load::{self, Loaded, Options};
use serde_json::Value;

use crate::Global;
use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Only these services (and what they depend on).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Format the output.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    /// Print the service names, one per line.
    #[arg(long = "services")]
    pub list_services: bool,
    /// Print the volume names, one per line.
    #[arg(long = "volumes")]
    pub list_volumes: bool,
    /// Print the network names, one per line.
    #[arg(long = "networks")]
    pub list_networks: bool,
    /// Print the image names, one per line.
    #[arg(long = "images")]
    pub list_images: bool,
    /// Print the profile names, one per line.
    #[arg(long = "profiles")]
    pub list_profiles: bool,
    /// Print the service config hash, one per line (`*` for all, or a comma-separated list).
    #[arg(long, value_name = "SERVICE")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables.
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize the compose model.
    #[arg(long)]
    pub no_normalize: bool,
    /// Print the environment used for interpolation.
    #[arg(long)]
    pub environment: bool,
    /// Print the model's variables and their default values.
    #[arg(long)]
    pub variables: bool,
    /// Only validate the configuration, don't print anything.
    #[arg(short, long)]
    pub quiet: bool,
    /// Save to a file (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The load options the global flags and the environment give.
pub fn options(
    global: &Global,
    services: &[String],
    no_interpolate: bool,
) -> anyhow::Result<Options> {
    let mut opts = Options::from_process()?;
    opts.files = global.files.clone();
    opts.project_directory = global.project_directory.clone();
    opts.project_name = global.project_name.clone();
    opts.env_files = global.env_files.clone();
    opts.profiles = global.profiles.clone();
    opts.services = services.to_vec();
    opts.no_interpolate = no_interpolate;
    if opts.files.iter().any(|f| f.as_os_str() == "-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the compose file from standard input")?;
        opts.stdin = Some(text);
    }
    Ok(opts)
}

pub fn run(global: &Global, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let opts = options(global, &args.services, args.no_interpolate)?;
    if args.variables {
        let vars = load::variables(&opts)?;
        return emit(args, &variables_table(&vars));
    }
    let mut loaded = load::load(&opts, !args.no_normalize)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if args.quiet {
        // As below: no point freeing the project one node at a time at exit.
        std::mem::forget(loaded);
        return Ok(ExitCode::SUCCESS);
    }
    let text = render(args, &mut loaded)?;
    let code = emit(args, &text);
    // The process ends here: freeing a big project's trees one node at a time would only
    // cost time.
    std::mem::forget(loaded);
    std::mem::forget(text);
    code
}

fn emit(args: &ConfigArgs, text: &str) -> anyhow::Result<ExitCode> {
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn lines<I: IntoIterator<Item = String>>(items: I) -> String {
    items.into_iter().map(|s| s + "\n").collect()
}

fn render(args: &ConfigArgs, loaded: &mut Loaded) -> anyhow::Result<String> {
    let json = &loaded.json;
    let keys = |section: &str| -> Vec<String> {
        json.get(section)
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    if args.list_services {
        return Ok(lines(loaded.service_order()));
    }
    if args.list_volumes {
        return Ok(lines(keys("volumes")));
    }
    if args.list_networks {
        return Ok(lines(keys("networks")));
    }
    if args.list_images {
        return Ok(lines(loaded.images()));
    }
    if args.list_profiles {
        return Ok(lines(loaded.profiles.iter().cloned()));
    }
    if args.environment {
        return Ok(lines(
            loaded.sources.env.iter().map(|(k, v)| format!("{k}={v}")),
        ));
    }
    if let Some(which) = &args.hash {
        return hashes(loaded, which);
    }
    // Extensions are free-form maps, which Go prints with sorted keys.
    if let Some(top) = loaded.json.as_object_mut() {
        for (_, v) in top.iter_mut().filter(|(k, _)| k.starts_with("x-")) {
            output::sort_keys(v);
        }
    }
    // Like Docker Compose, JSON ends without a newline.
    match args.format {
        Format::Json => {
            if !args.no_interpolate {
                output::escape_dollars(&mut loaded.json);
            }
            output::json(&loaded.json)
        }
        Format::Yaml => {
            if loaded.model.is_some() {
                service_extensions(&mut loaded.json, &loaded.tree);
            }
            Ok(output::yaml_escaped(&mut loaded.json, !args.no_interpolate))
        }
    }
}

/// A service's own `x-` keys, last in its entry: Docker Compose's YAML keeps them (its JSON
/// does not).
fn service_extensions(json: &mut Value, tree: &compose::yaml::Node) {
    let Some(services) = json.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, svc) in services.iter_mut() {
        let (Some(entry), Some(node)) = (
            svc.as_object_mut(),
            tree.get("services")
                .and_then(|s| s.get(name))
                .and_then(|n| n.as_map()),
        ) else {
            continue;
        };
        for (k, v) in node.iter().filter(|(k, _)| k.name.starts_with("x-")) {
            let mut v = v.to_json();
            output::sort_keys(&mut v);
            entry.insert(k.name.clone(), v);
        }
    }
}

fn hashes(loaded: &Loaded, which: &str) -> anyhow::Result<String> {
    let names: Vec<String> = if which.trim() == "*" {
        loaded.service_order()
    } else {
        which.split(',').map(|s| s.trim().to_string()).collect()
    };
    let mut out = String::new();
    for name in names {
        let Some(hash) = loaded.config_hash(&name) else {
            bail!("no such service: {name}");
        };
        out.push_str(&format!("{name} {hash}\n"));
    }
    Ok(out)
}

fn variables_table(vars: &[compose::interpolate::Variable]) -> String {
    let mut out = format!(
        "{:<20}{:<20}{:<20}{}\n",
        "NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"
    );
    for v in vars {
        out.push_str(&format!(
            "{:<20}{:<20}{:<20}{}\n",
            v.name,
            v.required,
            v.default.as_deref().unwrap_or(""),
            v.alternate.as_deref().unwrap_or("")
        ));
    }
    out
}

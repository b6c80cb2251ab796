//! `compose image`: the local image store (`ls`, `load`, `save`, `rm`, `prune`, `inspect`)
//! and registries (`pull`, `push`), as `docker image` prints them.

use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use compose_image::archive::{self, LoadOptions};
use compose_image::registry::{self, Client, ClientOptions, Credentials};
use compose_image::store::Platform;
use compose_image::{ImageRecord, Reference, Store};
use serde_json::{Value, json};

use super::pull::{Printer, Style};
use crate::Global;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Load images from a tar archive (docker-archive or OCI archive) or STDIN.
    Load(LoadArgs),
    /// Save images to a tar archive.
    Save(SaveArgs),
    /// Remove (untag) images.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove content no image uses.
    Prune(PruneArgs),
    /// Display detailed information on images.
    Inspect(InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

/// How to reach a registry: credentials and plain-HTTP hosts.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Registry user name (the password is read from STDIN with --password-stdin). Without
    /// it, the docker config file's `auths` entry is used.
    #[arg(short = 'u', long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the registry password (or token) from STDIN.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Talk plain HTTP to this registry (`host[:port]`; repeatable). Loopback registries
    /// always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE")]
    pub target: String,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Image to pull (`name[:tag]` or `name@digest`).
    #[arg(value_name = "NAME")]
    pub image: String,
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`); default: this host.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress verbose output: print only the image name.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Image to push (`name[:tag]`).
    #[arg(value_name = "NAME")]
    pub image: String,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Format the output.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Read from a tar archive file (plain, gzip or zstd), or an OCI layout directory,
    /// instead of STDIN.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
}

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
    pub format: SaveFormat,
    /// Images to save.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Images to remove.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Remove even when containers use the image (it is only untagged; content goes at
    /// prune).
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation (there is no prompt; accepted for compatibility).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Images to inspect.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub fn run(global: &Global, args: &ImageArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&global.data_root)?;
    match &args.command {
        ImageCommand::Ls(a) => ls(&store, a),
        ImageCommand::Load(a) => load(&store, a),
        ImageCommand::Save(a) => save(&store, a),
        ImageCommand::Rm(a) => rm(&store, a, &global.data_root),
        ImageCommand::Prune(a) => prune(&store, a),
        ImageCommand::Inspect(a) => inspect(&store, a),
        ImageCommand::Tag(a) => tag(&store, a),
        ImageCommand::Pull(a) => pull(global, &store, a),
        ImageCommand::Push(a) => push(global, &store, a),
    }
}

fn tag(store: &Store, args: &TagArgs) -> anyhow::Result<ExitCode> {
    let rec = find(store, &args.source)?;
    let target = Reference::parse(&args.target)?;
    if target.digest.is_some() {
        bail!(
            "refusing to create a tag with a digest reference: {}",
            args.target
        );
    }
    store.put_image(&ImageRecord {
        reference: target.to_string(),
        ..rec
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Client options from the flags: credentials from STDIN when asked.
pub fn client_options(args: &RegistryArgs) -> anyhow::Result<ClientOptions> {
    let mut opts = ClientOptions {
        insecure_registries: args.insecure.clone(),
        // As a load: without root, files keep the caller's ownership.
        unpack: load_options().unpack,
        // `pull` fetches and verifies, as `skopeo copy` does; the layers are unpacked when a
        // container or a build first needs them (`up`'s own pulls unpack as they download).
        defer_unpack: true,
        ..ClientOptions::default()
    };
    if let Some(user) = &args.username {
        let password = if args.password_stdin {
            let mut p = String::new();
            std::io::stdin()
                .read_line(&mut p)
                .context("cannot read the password from stdin")?;
            p.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            bail!(
                "--username needs --password-stdin (a password on the command line would show in ps)"
            );
        };
        opts.credentials = Some(Credentials {
            username: user.clone(),
            password,
        });
    }
    Ok(opts)
}

/// `linux/arm64/v8`.
fn parse_platform(s: &str) -> anyhow::Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: (*os).to_owned(),
            architecture: (*arch).to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        }),
        _ => bail!("invalid platform {s:?}: expected os/arch[/variant], like linux/amd64"),
    }
}

fn pull(global: &Global, store: &Store, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.image)?;
    let mut opts = client_options(&args.registry)?;
    if let Some(p) = &args.platform {
        opts.platform = Some(parse_platform(p)?);
    }
    let style = Style::pick(global.progress, args.quiet);
    let printer = Printer::new(style, false);
    let pulled = pull_one(store, &reference, opts, &printer);
    printer.finish();
    let pulled = pulled?;
    let name = reference.familiar();
    if matches!(style, Style::Plain | Style::Bars) {
        printer.line(&format!("Digest: {}", pulled.digest));
        let status = if pulled.downloaded == 0 {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        printer.line(&format!("Status: {status} {name}"));
    }
    if style != Style::Json {
        println!("{}", reference);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pulls one image; the error names the reference.
pub fn pull_one(
    store: &Store,
    reference: &Reference,
    opts: ClientOptions,
    progress: &dyn registry::Progress,
) -> anyhow::Result<registry::Pulled> {
    let client = Client::new(&reference.registry, opts)?;
    registry::pull(store, &client, reference, progress)
        .with_context(|| format!("cannot pull {}", reference.familiar()))
}

fn push(global: &Global, store: &Store, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.image)?;
    let rec = find(store, &args.image)?;
    let opts = client_options(&args.registry)?;
    let style = Style::pick(global.progress, args.quiet);
    let printer = Printer::new(style, true);
    let pushed = push_one(store, &rec.reference, &reference, opts, &printer);
    printer.finish();
    let pushed = pushed?;
    if matches!(style, Style::Plain | Style::Bars) {
        let tag = reference.tag.as_deref().unwrap_or("<none>");
        printer.line(&format!(
            "{tag}: digest: {} size: {}",
            pushed.digest, pushed.size
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes the store's image `local` as `target`; the error names the target.
pub fn push_one(
    store: &Store,
    local: &str,
    target: &Reference,
    opts: ClientOptions,
    progress: &dyn registry::Progress,
) -> anyhow::Result<registry::Pushed> {
    let client = Client::new(&target.registry, opts)?;
    registry::push(store, &client, local, target, progress)
        .with_context(|| format!("cannot push {}", target.familiar()))
}

fn open_store(root: &Path) -> anyhow::Result<Store> {
    Store::open(root).with_context(|| format!("cannot open the image store at {}", root.display()))
}

/// `(repository, tag)` as `docker image ls` shows them: familiar names, `<none>` for an image
/// without a name.
pub(crate) fn repo_tag(rec: &ImageRecord) -> (String, String) {
    match Reference::parse(&rec.reference) {
        Ok(r) if !rec.reference.starts_with("sha256:") => {
            let familiar = Reference {
                tag: None,
                digest: None,
                ..r.clone()
            }
            .familiar();
            (familiar, r.tag.unwrap_or_else(|| "<none>".into()))
        }
        _ => ("<none>".into(), "<none>".into()),
    }
}

/// The familiar `name:tag` of a record, or `None` for an unnamed one.
fn familiar(rec: &ImageRecord) -> Option<String> {
    if rec.reference.starts_with("sha256:") {
        return None;
    }
    Reference::parse(&rec.reference).ok().map(|r| r.familiar())
}

pub(crate) fn short_id(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn ls(store: &Store, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let mut images = store.list_images()?;
    // Newest first, as Docker lists them; then by name.
    images.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.reference.cmp(&b.reference))
    });
    let mut out = std::io::stdout().lock();
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for rec in &images {
            let id = short_id(&rec.config_digest);
            if seen.insert(id.to_owned()) {
                writeln!(out, "{id}")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        ListFormat::Json => {
            // One object per line, as `docker image ls --format json` prints.
            for rec in &images {
                let (repo, tag) = repo_tag(rec);
                let v = json!({
                    "Containers": "N/A",
                    "CreatedAt": rec.created.clone().unwrap_or_default(),
                    "CreatedSince": since(rec.created.as_deref()),
                    "Digest": rec.manifest_digest,
                    "ID": short_id(&rec.config_digest),
                    "Repository": repo,
                    "Size": human_size(rec.size),
                    "Tag": tag,
                    "VirtualSize": human_size(rec.size),
                });
                writeln!(out, "{}", serde_json::to_string(&v)?)?;
            }
        }
        ListFormat::Table => {
            let rows: Vec<[String; 5]> = images
                .iter()
                .map(|rec| {
                    let (repo, tag) = repo_tag(rec);
                    [
                        repo,
                        tag,
                        short_id(&rec.config_digest).to_owned(),
                        since(rec.created.as_deref()),
                        human_size(rec.size),
                    ]
                })
                .collect();
            let head = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
            let mut widths = head.map(str::len);
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            let line = |cells: [&str; 5]| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    if i == 4 {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{c:<w$}   ", w = widths[i]));
                    }
                }
                s
            };
            writeln!(out, "{}", line(head))?;
            for r in &rows {
                writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_options() -> LoadOptions {
    let mut opts = LoadOptions::default();
    // Without root, files keep the caller's ownership.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    opts.unpack.preserve_ownership = root;
    opts
}

fn load(store: &Store, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let opts = load_options();
    let keys = match &args.input {
        // The store's errors name the archive.
        Some(path) => archive::load(store, path, &opts)?,
        None => {
            let stdin = std::io::stdin();
            if std::io::IsTerminal::is_terminal(&stdin) {
                bail!("requested load from stdin, but stdin is empty (use -i FILE)");
            }
            archive::load_reader(store, stdin.lock(), &opts)
                .context("cannot load the archive from stdin")?
        }
    };
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        for key in keys {
            if key.starts_with("sha256:") {
                let id = store
                    .get_image(&key)?
                    .map_or(key.clone(), |r| r.config_digest);
                writeln!(out, "Loaded image ID: {id}")?;
            } else {
                let name = Reference::parse(&key).map_or(key.clone(), |r| r.familiar());
                writeln!(out, "Loaded image: {name}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record of `name`, or an error naming it.
fn find(store: &Store, name: &str) -> anyhow::Result<ImageRecord> {
    match store.get_image(name) {
        Ok(Some(rec)) => Ok(rec),
        Ok(None) => bail!("No such image: {name}"),
        Err(e) => Err(anyhow::Error::new(e).context(format!("invalid image reference {name:?}"))),
    }
}

fn save(store: &Store, args: &SaveArgs) -> anyhow::Result<ExitCode> {
    for name in &args.images {
        find(store, name)?;
    }
    let refs: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let format = match args.format {
        SaveFormat::DockerArchive => archive::Format::DockerArchive,
        SaveFormat::OciArchive => archive::Format::OciArchive,
    };
    match &args.output {
        Some(path) => {
            // Written beside the target, renamed into place when complete.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
            archive::save(store, &refs, format, BufWriter::new(tmp.as_file()))
                .with_context(|| format!("cannot save to {}", path.display()))?;
            tmp.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if std::io::IsTerminal::is_terminal(&stdout) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            archive::save(store, &refs, format, BufWriter::new(stdout.lock()))
                .context("cannot save to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(store: &Store, args: &RmArgs, data_root: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    // Images that containers were made from stay until those containers go (or -f).
    let in_use = if args.force {
        Default::default()
    } else {
        compose_engine::Engine::open(data_root)?.images_in_use()?
    };
    for name in &args.images {
        let rec = match find(store, name) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error response: {}", output::error_text(&e));
                failed = true;
                continue;
            }
        };
        if in_use.contains(&rec.reference) {
            eprintln!(
                "Error response: conflict: unable to remove {name}: the image is in use by a container (remove it first, or use -f)"
            );
            failed = true;
            continue;
        }
        if store.remove_image(&rec.reference)? {
            match familiar(&rec) {
                Some(n) => writeln!(out, "Untagged: {n}")?,
                None => writeln!(out, "Deleted: {}", rec.manifest_digest)?,
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn prune(store: &Store, _args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let report = store.prune()?;
    let mut out = std::io::stdout().lock();
    if !report.blobs.is_empty() || !report.snapshots.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for b in &report.blobs {
            writeln!(out, "deleted: {b}")?;
        }
        for s in &report.snapshots {
            writeln!(out, "deleted snapshot: {s}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human_size(report.bytes))?;
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    let mut failed = false;
    let images = store.list_images()?;
    for name in &args.images {
        let rec = match find(store, name) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {}", output::error_text(&e));
                failed = true;
                continue;
            }
        };
        let raw = store
            .blobs()
            .read_small(&rec.config_digest, 16 << 20)
            .with_context(|| format!("cannot read the config of {name}"))?;
        let config: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("the config of {name} is not valid JSON"))?;
        // Every name of the same image, as Docker lists its RepoTags.
        let mut tags: Vec<String> = images
            .iter()
            .filter(|r| r.config_digest == rec.config_digest)
            .filter_map(familiar)
            .collect();
        tags.sort();
        tags.dedup();
        let mut digests: Vec<String> = images
            .iter()
            .filter(|r| r.config_digest == rec.config_digest)
            .filter_map(|r| {
                let name = Reference::parse(&r.reference).ok()?;
                let bare = Reference {
                    tag: None,
                    digest: None,
                    ..name
                };
                Some(format!("{}@{}", bare.familiar(), r.manifest_digest))
            })
            .collect();
        digests.sort();
        digests.dedup();
        let mut v = serde_json::Map::new();
        v.insert("Id".into(), json!(rec.config_digest));
        v.insert("RepoTags".into(), json!(tags));
        v.insert("RepoDigests".into(), json!(digests));
        v.insert(
            "Created".into(),
            json!(config.get("created").cloned().unwrap_or(Value::Null)),
        );
        v.insert("Size".into(), json!(rec.size));
        v.insert("Architecture".into(), json!(rec.platform.architecture));
        if let Some(var) = &rec.platform.variant {
            v.insert("Variant".into(), json!(var));
        }
        v.insert("Os".into(), json!(rec.platform.os));
        v.insert(
            "Config".into(),
            config.get("config").cloned().unwrap_or(json!({})),
        );
        v.insert(
            "RootFS".into(),
            json!({
                "Type": "layers",
                "Layers": rec.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            }),
        );
        v.insert(
            "Metadata".into(),
            json!({"ManifestDigest": rec.manifest_digest, "MediaType": rec.media_type}),
        );
        all.push(Value::Object(v));
    }
    let text = output::json(&Value::Array(all))?;
    println!("{text}");
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Sizes as Docker prints them: decimal units, three significant digits (`4.26MB`).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = if v >= 100.0 || i == 0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, offsets honored).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (proleptic Gregorian).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = days * 86_400 + h * 3600 + mi * 60 + se;
    let rest = &s[19..];
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
        let oh = rest.get(1..3)?.parse::<i64>().ok()?;
        let om = rest.get(4..6)?.parse::<i64>().ok()?;
        let off = oh * 3600 + om * 60;
        t += if sign == '+' { -off } else { off };
    }
    Some(t)
}

/// `2 weeks ago`, as Docker's CREATED column.
fn since(created: Option<&str>) -> String {
    let Some(t) = created.and_then(parse_rfc3339) else {
        return "N/A".into();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let secs = (now - t).max(0);
    let (n, unit) = match secs {
        s if s < 1 => return "Less than a second ago".into(),
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 2 * 86_400 => (s / 3600, "hour"),
        s if s < 14 * 86_400 => (s / 86_400, "day"),
        s if s < 60 * 86_400 => (s / (7 * 86_400), "week"),
        s if s < 365 * 2 * 86_400 => (s / (30 * 86_400), "month"),
        s => (s / (365 * 86_400), "year"),
    };
    match (n, unit) {
        (1, "hour") => "About an hour ago".into(),
        (1, u) => format!("1 {u} ago"),
        (n, u) => format!("{n} {u}s ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        // Catches clashes with global flags (like `-f`), which clap only checks at parse time.
        <crate::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn platforms_parse() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        assert_eq!(parse_platform("linux/amd64").unwrap().variant, None);
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(parse_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_decimal_with_three_digits() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), Some(0));
        assert_eq!(parse_rfc3339("nope"), None);
    }
}

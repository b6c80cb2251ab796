//! Pull and push output: a progress bar per layer on a terminal (`--progress tty`, or
//! `auto` there), per-layer lines as Docker prints them elsewhere (`--progress plain`), one
//! JSON object per event (`--progress json`), or nothing (`--progress quiet`, `-q`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use compose_image::registry::{Event, Outcome, Progress, short_digest};
use serde_json::json;

use crate::Progress as Mode;

/// Which way progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bars,
    Plain,
    Json,
    Quiet,
}

impl Style {
    /// From the global `--progress` and a command's `-q`; `auto` draws bars when stdout is
    /// a terminal.
    pub fn pick(mode: Mode, quiet: bool) -> Style {
        match (quiet, mode) {
            (true, _) | (_, Mode::Quiet) => Style::Quiet,
            (_, Mode::Json) => Style::Json,
            (_, Mode::Tty) => Style::Bars,
            (_, Mode::Auto) if std::io::stdout().is_terminal() => Style::Bars,
            (_, Mode::Plain | Mode::Auto) => Style::Plain,
        }
    }
}

/// One bar per blob, under the lines printed above them.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, digest: &str, size: u64) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(digest.to_owned())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "{prefix}: {msg:<18} [{bar:30}] {bytes}/{total_bytes}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let b = self.multi.add(ProgressBar::new(size).with_style(style));
                b.set_prefix(short_digest(digest).to_owned());
                b
            })
            .clone()
    }

    fn event(&self, e: &Event<'_>, push: bool, line: Option<String>) {
        match e {
            Event::Start { digest, size } => {
                let b = self.bar(digest, *size);
                b.set_message(if push { "Pushing" } else { "Downloading" });
            }
            Event::Bytes {
                digest,
                done,
                total,
            } => self.bar(digest, *total).set_position(*done),
            Event::Retry { digest, .. } => self.bar(digest, 0).set_message("Retrying"),
            Event::Unpacking { digest } => self.bar(digest, 0).set_message("Extracting"),
            Event::Done { digest, .. } => {
                let known = self
                    .bars
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(*digest)
                    .cloned();
                match (known, line) {
                    (Some(b), Some(l)) => {
                        let status = l.split_once(": ").map_or(l.clone(), |(_, s)| s.to_owned());
                        b.set_message(status);
                        b.tick();
                    }
                    (None, Some(l)) => self.println(&l),
                    _ => {}
                }
            }
            Event::Resolved { .. } => {
                if let Some(l) = line {
                    self.println(&l);
                }
            }
        }
    }

    fn println(&self, text: &str) {
        // Hidden when stdout is not a terminal after all: then print plainly.
        if self.multi.println(text).is_err() || self.multi.is_hidden() {
            println!("{text}");
        }
    }

    fn finish(&self) {
        for b in self.bars.lock().unwrap_or_else(|p| p.into_inner()).values() {
            if b.message() == "Extracting" {
                b.set_message("Pull complete");
            }
            b.abandon();
        }
    }
}

/// Prints events to stdout; `push` words them for a push.
pub struct Printer {
    style: Style,
    push: bool,
    bars: Option<Bars>,
    out: Mutex<Box<dyn Write + Send>>,
    /// Last percentage printed per blob (plain lines every 25%).
    steps: Mutex<std::collections::HashMap<String, u64>>,
}

impl Printer {
    pub fn new(style: Style, push: bool) -> Printer {
        Self::to(style, push, Box::new(std::io::stdout()))
    }

    pub fn to(style: Style, push: bool, out: Box<dyn Write + Send>) -> Printer {
        Printer {
            style,
            push,
            bars: (style == Style::Bars).then(Bars::new),
            out: Mutex::new(out),
            steps: Mutex::new(Default::default()),
        }
    }

    /// One line of text (plain and bar styles).
    pub fn line(&self, text: &str) {
        match (&self.bars, self.style) {
            (Some(b), _) => b.println(text),
            (None, Style::Plain) => self.write(text),
            _ => {}
        }
    }

    /// Leaves the bars drawn as they are: call when the transfer is over.
    pub fn finish(&self) {
        if let Some(b) = &self.bars {
            b.finish();
        }
    }

    fn write(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout must not fail the pull.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// The plain line for an event, if it gets one.
    pub fn plain(&self, e: &Event<'_>) -> Option<String> {
        let (id, status) = match e {
            Event::Resolved {
                reference, digest, ..
            } => {
                let verb = if self.push { "Pushing" } else { "Pulling" };
                return Some(format!("{verb} {reference} ({digest})"));
            }
            Event::Start { digest, size } => {
                let verb = if self.push {
                    "Preparing"
                } else {
                    "Downloading"
                };
                (*digest, format!("{verb} ({} bytes)", size))
            }
            Event::Bytes {
                digest,
                done,
                total,
            } => {
                let pct = (done * 100).checked_div(*total).unwrap_or(100);
                let step = pct / 25 * 25;
                let mut steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
                let last = steps.entry(digest.to_string()).or_insert(0);
                if step == *last || step == 0 {
                    return None;
                }
                *last = step;
                let verb = if self.push { "Pushing" } else { "Downloading" };
                (*digest, format!("{verb} {step}% ({done}/{total} bytes)"))
            }
            Event::Retry {
                digest,
                attempt,
                error,
            } => (*digest, format!("Retrying (attempt {attempt}): {error}")),
            Event::Done { digest, outcome } => {
                let s = match (outcome, self.push) {
                    (Outcome::Exists, false) => "Already exists",
                    (Outcome::Exists, true) => "Layer already exists",
                    (Outcome::Downloaded, _) => "Download complete",
                    (Outcome::Pushed, _) => "Pushed",
                    (Outcome::Mounted, _) => "Mounted from another repository",
                };
                (*digest, s.to_owned())
            }
            Event::Unpacking { digest } => (*digest, "Extracting".to_owned()),
        };
        Some(format!("{}: {status}", short_digest(id)))
    }

    /// The JSON object for an event, as Docker's progress messages name fields.
    pub fn json(&self, e: &Event<'_>) -> serde_json::Value {
        match e {
            Event::Resolved {
                reference,
                digest,
                layers,
            } => json!({"status": "Resolved", "id": reference, "digest": digest, "layers": layers}),
            Event::Start { digest, size } => {
                json!({"status": "Start", "id": short_digest(digest), "digest": digest, "total": size})
            }
            Event::Bytes {
                digest,
                done,
                total,
            } => json!({
                "status": if self.push { "Pushing" } else { "Downloading" },
                "id": short_digest(digest),
                "progressDetail": {"current": done, "total": total},
            }),
            Event::Retry {
                digest,
                attempt,
                error,
            } => {
                json!({"status": "Retrying", "id": short_digest(digest), "attempt": attempt, "error": error})
            }
            Event::Done { digest, outcome } => json!({
                "status": format!("{outcome:?}"),
                "id": short_digest(digest),
                "digest": digest,
            }),
            Event::Unpacking { digest } => {
                json!({"status": "Extracting", "id": short_digest(digest)})
            }
        }
    }
}

impl Printer {
    /// The plain line of the events that bars print as lines or statuses.
    fn plain_line(&self, e: &Event<'_>) -> Option<String> {
        match e {
            Event::Resolved { .. } | Event::Done { .. } => self.plain(e),
            _ => None,
        }
    }
}

impl Progress for Printer {
    fn event(&self, e: &Event<'_>) {
        match self.style {
            Style::Quiet => {}
            Style::Bars => {
                if let Some(b) = &self.bars {
                    b.event(e, self.push, self.plain_line(e));
                }
            }
            Style::Plain => {
                if let Some(l) = self.plain(e) {
                    self.write(&l);
                }
            }
            Style::Json => self.write(&self.json(e).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn plain_lines_name_the_short_digest_and_step_by_quarters() {
        let p = Printer::to(Style::Plain, false, Box::new(std::io::sink()));
        let bytes = |done| Event::Bytes {
            digest: D,
            done,
            total: 100,
        };
        assert_eq!(p.plain(&bytes(10)), None);
        assert_eq!(
            p.plain(&bytes(30)).unwrap(),
            "0123456789ab: Downloading 25% (30/100 bytes)"
        );
        assert_eq!(p.plain(&bytes(40)), None);
        assert!(p.plain(&bytes(100)).unwrap().contains("100%"));
        let done = Event::Done {
            digest: D,
            outcome: Outcome::Exists,
        };
        assert_eq!(p.plain(&done).unwrap(), "0123456789ab: Already exists");
        let push = Printer::to(Style::Plain, true, Box::new(std::io::sink()));
        assert_eq!(
            push.plain(&done).unwrap(),
            "0123456789ab: Layer already exists"
        );
        let j = p.json(&bytes(50));
        assert_eq!(j["progressDetail"]["current"], 50);
        assert_eq!(j["id"], "0123456789ab");
    }

    #[test]
    fn quiet_wins() {
        assert_eq!(Style::pick(Mode::Json, true), Style::Quiet);
        assert_eq!(Style::pick(Mode::Json, false), Style::Json);
        assert_eq!(Style::pick(Mode::Auto, false), Style::Plain);
    }
}

/// `compose pull`: the images of the project's services.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Only these services.
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Apply pull policy ("missing"|"always").
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,
    /// Pull what it can and ignores images with pull failures.
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Ignore images that can be built.
    #[arg(long)]
    pub ignore_buildable: bool,
    /// Pull without printing progress information.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: super::image::RegistryArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    Missing,
    Always,
}

/// One service's image and what its file says about pulling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    pub service: String,
    pub image: String,
    pub pull_policy: String,
    pub buildable: bool,
}

/// The services (all, or those named) that name an image, in file order.
pub fn service_images(
    json: &serde_json::Value,
    only: &[String],
) -> anyhow::Result<Vec<ServiceImage>> {
    let Some(services) = json.get("services").and_then(|s| s.as_object()) else {
        return Ok(Vec::new());
    };
    for s in only {
        if !services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    let mut out = Vec::new();
    for (name, svc) in services {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let Some(image) = svc.get("image").and_then(|i| i.as_str()) else {
            continue;
        };
        out.push(ServiceImage {
            service: name.clone(),
            image: image.to_owned(),
            pull_policy: svc
                .get("pull_policy")
                .and_then(|p| p.as_str())
                .unwrap_or_default()
                .to_owned(),
            buildable: svc.get("build").is_some(),
        });
    }
    Ok(out)
}

/// Whether `compose pull` pulls this service's image, given the flag and what is stored.
pub fn wants_pull(
    s: &ServiceImage,
    policy: Option<Policy>,
    ignore_buildable: bool,
    present: bool,
) -> bool {
    if ignore_buildable && s.buildable {
        return false;
    }
    match s.pull_policy.as_str() {
        "never" | "build" => return false,
        "missing" | "if_not_present" if present => return false,
        _ => {}
    }
    !(policy == Some(Policy::Missing) && present)
}

pub fn run(global: &crate::Global, args: &PullArgs) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context as _;
    let opts = super::config::options(global, &args.services, false)?;
    let loaded = compose::load::load(&opts, true)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let store = compose_image::Store::open(&global.data_root).with_context(|| {
        format!(
            "cannot open the image store at {}",
            global.data_root.display()
        )
    })?;
    let client_opts = super::image::client_options(&args.registry)?;
    let style = Style::pick(global.progress, args.quiet);
    let printer = Printer::new(style, false);
    let mut done = std::collections::HashSet::new();
    let mut failed = false;
    for s in service_images(&loaded.json, &args.services)? {
        let reference = compose_image::Reference::parse(&s.image)
            .with_context(|| format!("service {:?}: image {:?}", s.service, s.image))?;
        let present = store.get_image(&reference.to_string())?.is_some();
        if !wants_pull(&s, args.policy, args.ignore_buildable, present)
            || !done.insert(reference.to_string())
        {
            continue;
        }
        printer.line(&format!("{} Pulling", s.service));
        let pulled = super::image::pull_one(&store, &reference, client_opts.clone(), &printer);
        printer.finish();
        match pulled {
            Ok(_) => printer.line(&format!("{} Pulled", s.service)),
            // An image that can be built may well not be in any registry yet.
            Err(e) => {
                failed |= report_failure(&s.service, &e, s.buildable || args.ignore_pull_failures)
            }
        }
    }
    Ok(exit_code(failed))
}

/// Prints a service's failed pull or push: a warning when it is `tolerated`, else an error.
/// Returns whether it counts as a failure.
pub(crate) fn report_failure(service: &str, e: &anyhow::Error, tolerated: bool) -> bool {
    let text = crate::output::error_text(e);
    if tolerated {
        eprintln!("WARN[0000] service {service}: {text}");
    } else {
        eprintln!("service {service}: {text}");
    }
    !tolerated
}

/// 1 when any service failed, as Docker Compose exits.
pub(crate) fn exit_code(failed: bool) -> std::process::ExitCode {
    if failed {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod project_tests {
    use super::*;

    #[test]
    fn policies_decide_what_is_pulled() {
        let json = serde_json::json!({"services": {
            "web": {"image": "nginx"},
            "app": {"image": "me/app", "build": {"context": "."}},
            "db": {"image": "postgres", "pull_policy": "missing"},
            "never": {"image": "x", "pull_policy": "never"},
            "built": {"build": {"context": "."}},
        }});
        let all = service_images(&json, &[]).unwrap();
        let names: Vec<&str> = all.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["web", "app", "db", "never"]);
        let by = |n: &str| all.iter().find(|s| s.service == n).unwrap();
        assert!(wants_pull(by("web"), None, false, true));
        assert!(!wants_pull(by("web"), Some(Policy::Missing), false, true));
        assert!(wants_pull(by("web"), Some(Policy::Missing), false, false));
        assert!(!wants_pull(by("app"), None, true, false));
        assert!(!wants_pull(by("db"), None, false, true));
        assert!(wants_pull(by("db"), None, false, false));
        assert!(!wants_pull(by("never"), Some(Policy::Always), false, false));
        assert!(service_images(&json, &["nope".into()]).is_err());
        assert_eq!(service_images(&json, &["db".into()]).unwrap().len(), 1);
    }
}

//! Running a Dockerfile: the stages the target needs, in order; each filesystem step (RUN,
//! COPY, ADD, a WORKDIR that makes its dir) on an overlay of the layers so far, its change
//! stored as a layer, and reused from the cache when its parent, its instruction, its
//! variables and (for COPY/ADD) the content of its sources are unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::Sender;

use compose_image::Store;
use compose_image::store::ImageRecord;
use sha2::{Digest, Sha256};

use crate::cache::{Cache, Cached};
use crate::config::{ConfigError, StageState, join_workdir};
use crate::context::{Context, ContextError};
use crate::copy::{CopyError, CopySpec, copy};
use crate::dockerfile::{AddCopy, Command, Dockerfile, Heredoc, Kind, ParseError, Run, Stage};
use crate::ignore::{Ignore, IgnoreError};
use crate::image::{ImageError, WorkImage, store_layer};
use crate::mount::{MountError, Overlay, in_private_namespace_with};
use crate::pull::{PullError, pull_bases};
use crate::run_mount::{MountKind, MountSpec, StepMount};

/// Why a build failed. Step errors name the step as Docker does (`[stage 2/5] RUN ...`).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}: {message}")]
    Step { step: String, message: String },
    #[error("target stage {0:?} not found in the Dockerfile")]
    NoTarget(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Pull(#[from] PullError),
}

type Result<T> = std::result::Result<T, BuildError>;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// Relative to the context (default `Dockerfile`), or absolute.
    pub dockerfile: Option<PathBuf>,
    /// The Dockerfile's text itself (compose's `dockerfile_inline`).
    pub dockerfile_inline: Option<String>,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// Names to record the result under (none: by its digest only).
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `network:` of the build; RUN steps get no network unless it says `host`.
    pub network: Option<String>,
    /// Named contexts (compose's `additional_contexts`) for `FROM <name>`,
    /// `COPY --from=<name>` and `RUN --mount=from=<name>`; they win over stage and image
    /// names, as BuildKit's do.
    pub additional_contexts: BTreeMap<String, NamedContext>,
    /// Pull the base images (FROM) from their registry first, even when present.
    pub pull: bool,
}

/// What a named build context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory (absolute).
    Dir(PathBuf),
    /// An image of the store, by reference.
    Image(String),
}

/// A RUN step for the runner: its process, on a rootfs mounted in the caller's (private)
/// mount namespace.
pub struct RunRequest<'a> {
    pub rootfs: &'a Path,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: Option<&'a str>,
    pub network: Option<&'a str>,
    /// `RUN --mount`s, resolved to host paths.
    pub mounts: &'a [StepMount],
    /// Called with the step's output as it comes, when the caller shows it live.
    pub on_output: Option<&'a (dyn Fn(&str) + Sync)>,
}

/// What a RUN step did.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub exit_code: i32,
    /// stdout and stderr, interleaved as written.
    pub output: Vec<u8>,
    /// The output went to `on_output` already.
    pub streamed: bool,
}

/// Runs RUN steps in containers: the runtime's side of a build.
pub trait RunStep: Sync {
    fn run(&self, req: &RunRequest<'_>) -> std::result::Result<RunOutcome, String>;
}

/// What happened to each step, for progress output and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEvent {
    /// `[stage n/total] INSTRUCTION` started.
    Start { step: String },
    /// Taken from the cache.
    Cached { step: String },
    /// Run (or applied) for real.
    Done { step: String },
    /// Output of a RUN.
    Output { step: String, text: String },
}

/// The built image.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub image: ImageRecord,
    pub events: Vec<StepEvent>,
}

/// Builds images into one store.
pub struct Builder<'a> {
    pub store: &'a Store,
    pub runner: Option<&'a dyn RunStep>,
    /// Scratch space for steps (upper dirs, mount points) and the cache index; on the same
    /// filesystem as the store.
    pub work_dir: PathBuf,
}

impl Builder<'_> {
    /// Builds per `opts`, calling `on_event` as steps go.
    pub fn build(
        &self,
        opts: &BuildOptions,
        on_event: &mut dyn FnMut(&StepEvent),
    ) -> Result<BuildResult> {
        let (file_name, text) = read_dockerfile(opts)?;
        let df = Dockerfile::parse(&file_name, &text)?;
        let dockerfile_path = opts
            .dockerfile
            .as_ref()
            .map(|p| opts.context.join(p))
            .filter(|_| opts.dockerfile_inline.is_none());
        let ignore = Ignore::for_build(&opts.context, dockerfile_path.as_deref())?;
        let ctx = Context::open(&opts.context, ignore).map_err(|e| BuildError::Step {
            step: "context".into(),
            message: e.to_string(),
        })?;
        let target = match &opts.target {
            Some(t) => {
                df.stage(t)
                    .ok_or_else(|| BuildError::NoTarget(t.clone()))?
                    .0
            }
            None => df.stages.len() - 1,
        };
        let needed = needed_stages(&df, target, opts);
        let global = global_args(&df, &opts.build_args)?;
        if opts.pull {
            // Before the content lock: a pull takes it itself.
            pull_bases(self.store, &external_bases(&df, &needed, &global, opts))?;
        }
        let cache = Cache::open(&self.work_dir.join("cache")).map_err(|e| BuildError::Read {
            file: self.work_dir.display().to_string(),
            source: e,
        })?;
        let _lock = self.store.content_lock().map_err(ImageError::from)?;
        let mut events = Vec::new();
        let mut emit = |e: StepEvent| {
            on_event(&e);
            events.push(e);
        };
        let mut built: BTreeMap<usize, WorkImage> = BTreeMap::new();
        for &i in &needed {
            let stage = &df.stages[i];
            let mut run = StageRun {
                builder: self,
                df: &df,
                index: i,
                stage,
                ctx: &ctx,
                cache: &cache,
                opts,
                built: &built,
                emit: &mut emit,
            };
            let image = run.run(&global)?;
            built.insert(i, image);
        }
        let mut image = built.remove(&target).unwrap_or_else(WorkImage::scratch);
        for (k, v) in &opts.labels {
            image
                .config
                .config
                .labels
                .get_or_insert_default()
                .insert(k.clone(), v.clone());
        }
        let record = image.commit(self.store, &opts.tags)?;
        Ok(BuildResult {
            image: record,
            events,
        })
    }
}

fn read_dockerfile(opts: &BuildOptions) -> Result<(String, String)> {
    if let Some(inline) = &opts.dockerfile_inline {
        return Ok(("dockerfile_inline".into(), inline.clone()));
    }
    let path = opts.context.join(
        opts.dockerfile
            .clone()
            .unwrap_or_else(|| PathBuf::from("Dockerfile")),
    );
    let text = std::fs::read_to_string(&path).map_err(|source| BuildError::Read {
        file: path.display().to_string(),
        source,
    })?;
    Ok((path.display().to_string(), text))
}

/// ARGs before the first FROM with their values.
fn global_args(
    df: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<(String, Option<String>)>> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let words = df.words();
    for a in &df.global_args {
        let value = match (build_args.get(&a.name), &a.default) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(d)) => {
                let lookup = |n: &str| {
                    out.iter()
                        .rev()
                        .find(|(k, _)| k == n)
                        .and_then(|(_, v)| v.clone())
                };
                Some(words.expand(d, &lookup).map_err(|e| BuildError::Step {
                    step: format!("ARG {}", a.name),
                    message: e.to_string(),
                })?)
            }
            (None, None) => None,
        };
        out.push((a.name.clone(), value));
    }
    Ok(out)
}

fn expand_global(df: &Dockerfile, text: &str, global: &[(String, Option<String>)]) -> String {
    let lookup = |n: &str| {
        global
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .and_then(|(_, v)| v.clone())
    };
    df.words()
        .expand(text, &lookup)
        .unwrap_or_else(|_| text.to_string())
}

/// The stages `target` depends on (FROM another stage, COPY --from, RUN --mount from=),
/// itself included, in file order: a stage the target does not need is never built. A
/// named context hides a stage of its name.
fn needed_stages(df: &Dockerfile, target: usize, opts: &BuildOptions) -> Vec<usize> {
    let global: Vec<(String, Option<String>)> = df
        .global_args
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                opts.build_args.get(&a.name).cloned().or(a.default.clone()),
            )
        })
        .collect();
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        let stage = &df.stages[i];
        let base = expand_global(df, &stage.base, &global);
        let mut refs = vec![base];
        for ins in &stage.instructions {
            match &ins.kind {
                Kind::Copy(c) => refs.extend(c.flag("from").map(str::to_string)),
                Kind::Run(r) => refs.extend(mount_froms(r)),
                _ => {}
            }
        }
        for r in refs {
            if opts.additional_contexts.contains_key(&r) {
                continue;
            }
            if let Some((j, _)) = df.stage(&r)
                && j < i
            {
                todo.push(j);
            }
        }
    }
    need.into_iter().collect()
}

/// The `from=` of a RUN's `--mount` flags.
fn mount_froms(r: &Run) -> Vec<String> {
    r.flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| f.value.as_deref())
        .flat_map(|v| v.split(','))
        .filter_map(|kv| kv.trim().strip_prefix("from="))
        .map(str::to_string)
        .collect()
}

/// The base images of `needed` stages that come from a registry (not scratch, a stage or
/// a named context).
fn external_bases(
    df: &Dockerfile,
    needed: &[usize],
    global: &[(String, Option<String>)],
    opts: &BuildOptions,
) -> Vec<String> {
    needed
        .iter()
        .map(|&i| (i, expand_global(df, &df.stages[i].base, global)))
        .filter(|(i, base)| {
            !base.eq_ignore_ascii_case("scratch")
                && !opts.additional_contexts.contains_key(base)
                && df.stage(base).is_none_or(|(j, _)| j >= *i)
        })
        .map(|(_, base)| base)
        .collect()
}

/// Where `--from=` / `from=` takes its files.
enum FromSource {
    Image(Box<WorkImage>),
    Dir(PathBuf),
}

struct StageRun<'a, 'b> {
    builder: &'a Builder<'a>,
    df: &'a Dockerfile,
    index: usize,
    stage: &'a Stage,
    ctx: &'a Context,
    cache: &'a Cache,
    opts: &'a BuildOptions,
    built: &'a BTreeMap<usize, WorkImage>,
    emit: &'b mut dyn FnMut(StepEvent),
}

impl StageRun<'_, '_> {
    fn name(&self) -> String {
        self.stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }

    /// `[name n/total] TEXT`, as BuildKit names steps (no name in a one-stage file).
    fn step_name(&self, n: usize, text: &str) -> String {
        let total = self.stage.instructions.len() + 1;
        if self.df.stages.len() == 1 && self.stage.name.is_none() {
            return format!("[{n}/{total}] {text}");
        }
        format!("[{} {n}/{total}] {text}", self.name())
    }

    fn fail(&self, step: &str, message: impl std::fmt::Display) -> BuildError {
        BuildError::Step {
            step: step.to_string(),
            message: message.to_string(),
        }
    }

    fn base(&mut self, global: &[(String, Option<String>)]) -> Result<WorkImage> {
        let base = expand_global(self.df, &self.stage.base, global);
        let step = self.step_name(1, &format!("FROM {base}"));
        (self.emit)(StepEvent::Start { step: step.clone() });
        let image = match self.opts.additional_contexts.get(&base) {
            Some(NamedContext::Dir(_)) => self.dir_base(&step, &base)?,
            Some(NamedContext::Image(r)) => self.store_image(&step, r)?,
            None if base.eq_ignore_ascii_case("scratch") => WorkImage::scratch(),
            None => match self.df.stage(&base).filter(|(j, _)| *j < self.index) {
                Some((j, _)) => self
                    .built
                    .get(&j)
                    .cloned()
                    .ok_or_else(|| self.fail(&step, format!("stage {base} was not built")))?,
                None => self.store_image(&step, &base)?,
            },
        };
        (self.emit)(StepEvent::Done { step });
        Ok(image)
    }

    fn store_image(&self, step: &str, reference: &str) -> Result<WorkImage> {
        WorkImage::from_store(self.builder.store, reference)?.ok_or_else(|| {
            self.fail(
                step,
                format!("image {reference:?} is not in the store: pull or load it first"),
            )
        })
    }

    /// `FROM <named local context>`: an image of one layer holding that directory.
    fn dir_base(&mut self, step: &str, name: &str) -> Result<WorkImage> {
        let mut image = WorkImage::scratch();
        let copy = AddCopy {
            flags: vec![crate::dockerfile::Flag {
                name: "from".into(),
                value: Some(name.to_string()),
            }],
            sources: vec![".".into()],
            dest: "/".into(),
            heredocs: Vec::new(),
            json: true,
        };
        let st = StageState::new(Default::default(), self.df.words());
        self.fs_step(step, &mut image, &st, FsOp::Copy(&copy, false))?;
        Ok(image)
    }

    fn run(&mut self, global: &[(String, Option<String>)]) -> Result<WorkImage> {
        let mut image = self.base(global)?;
        let mut st = StageState::new(image.config.config.clone(), self.df.words());
        // Base image triggers run first, as Docker runs them.
        let triggers = image.config.config.on_build.take().unwrap_or_default();
        st.config.on_build = None;
        let mut instructions: Vec<(String, Kind)> = Vec::new();
        for t in triggers {
            let parsed = Dockerfile::parse("ONBUILD", &format!("FROM scratch\n{t}\n"))?;
            for ins in parsed.stages.into_iter().flat_map(|s| s.instructions) {
                instructions.push((format!("ONBUILD {t}"), ins.kind));
            }
        }
        for ins in &self.stage.instructions {
            instructions.push((squeeze(&ins.text), ins.kind.clone()));
        }
        for (n, (text, kind)) in instructions.iter().enumerate() {
            let step = self.step_name(n + 2, text);
            (self.emit)(StepEvent::Start { step: step.clone() });
            match kind {
                Kind::Arg(decls) => {
                    st.declare_args(decls, &self.opts.build_args, global)
                        .map_err(|e| self.fail(&step, e))?;
                    image.push_empty(format!("ARG {}", arg_text(decls)));
                }
                Kind::Run(r) => self.fs_step(&step, &mut image, &st, FsOp::Run(r))?,
                Kind::Copy(c) => self.fs_step(&step, &mut image, &st, FsOp::Copy(c, false))?,
                Kind::Add(c) => self.fs_step(&step, &mut image, &st, FsOp::Copy(c, true))?,
                Kind::Workdir(_) => {
                    st.apply(kind).map_err(|e| self.fail(&step, e))?;
                    let dir = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
                    self.fs_step(&step, &mut image, &st, FsOp::Mkdir(dir))?;
                }
                other => {
                    st.apply(other)
                        .map_err(|e: ConfigError| self.fail(&step, e))?;
                    image.push_empty(st.last_history.clone().unwrap_or_default());
                }
            }
            (self.emit)(StepEvent::Done { step });
        }
        image.config.config = st.config;
        Ok(image)
    }

    /// A step that may change the filesystem: from the cache, or run on an overlay.
    fn fs_step(
        &mut self,
        step: &str,
        image: &mut WorkImage,
        st: &StageState,
        op: FsOp<'_>,
    ) -> Result<()> {
        let key = self.cache_key(step, image, st, &op)?;
        image.last_key = Some(key.clone());
        if !self.opts.no_cache
            && let Some(hit) = self.cache.get(&key, self.builder.store)
        {
            match hit {
                Cached::Layer(layer) => image.push_layer(layer, history_of(&op, st)),
                Cached::Empty => image.push_empty(history_of(&op, st)),
            }
            (self.emit)(StepEvent::Cached {
                step: step.to_string(),
            });
            return Ok(());
        }
        let tmp = tempfile::Builder::new()
            .prefix("step-")
            .tempdir_in(&self.builder.work_dir)
            .map_err(|e| self.fail(step, format!("scratch dir: {e}")))?;
        let dirs = ["upper", "work", "merged", "from-upper", "from-work", "from"]
            .map(|d| tmp.path().join(d));
        for d in &dirs {
            std::fs::create_dir(d).map_err(|e| self.fail(step, format!("{}: {e}", d.display())))?;
        }
        let overlay = Overlay {
            lowers: image.snapshot_dirs(self.builder.store)?,
            upper: dirs[0].clone(),
            work: dirs[1].clone(),
        };
        let from = match copy_from(&op) {
            Some(name) => Some(self.resolve_from(step, name)?),
            None => None,
        };
        let from_overlay = match &from {
            Some(FromSource::Image(img)) => Some(Overlay {
                lowers: img.snapshot_dirs(self.builder.store)?,
                upper: dirs[3].clone(),
                work: dirs[4].clone(),
            }),
            _ => None,
        };
        // With whether its .dockerignore applies (a named directory's does).
        let from_dir = match &from {
            Some(FromSource::Dir(d)) => Some((d.clone(), true)),
            Some(FromSource::Image(_)) => Some((dirs[5].clone(), false)),
            None => None,
        };
        let mounts = self.prepare_mounts(step, &op, st, tmp.path())?;
        let merged = &dirs[2];
        let from_root = &dirs[5];
        let env = OpEnv {
            ctx: self.ctx,
            runner: self.builder.runner,
            network: self.opts.network.as_deref(),
        };
        let emit = &mut *self.emit;
        let on_text = |text: String| {
            emit(StepEvent::Output {
                step: step.to_string(),
                text,
            })
        };
        let outcome = in_private_namespace_with(
            |tx: Sender<String>| -> std::result::Result<Option<RunOutcome>, StepFailure> {
                let tx = Mutex::new(tx);
                let on_output = move |text: &str| {
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send(text.to_string());
                    }
                };
                overlay.mount(merged)?;
                if let Some(o) = &from_overlay {
                    o.mount(from_root)?;
                }
                let step_mounts = mounts
                    .iter()
                    .map(|m| m.mount())
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                apply_op(
                    &env,
                    &op,
                    st,
                    merged,
                    from_dir.as_ref().map(|(d, i)| (d.as_path(), *i)),
                    &step_mounts,
                    &on_output,
                )
            },
            on_text,
        )
        .map_err(|e| self.fail(step, e))?;
        if let Some(out) = outcome {
            let text = String::from_utf8_lossy(&out.output).into_owned();
            if !text.is_empty() && !out.streamed {
                (self.emit)(StepEvent::Output {
                    step: step.to_string(),
                    text: text.clone(),
                });
            }
            if out.exit_code != 0 {
                return Err(self.fail(
                    step,
                    format!(
                        "the command returned a non-zero code: {}\n{}",
                        out.exit_code,
                        tail(&text, 20)
                    ),
                ));
            }
        }
        let changed = std::fs::read_dir(&dirs[0])
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if changed {
            let layer = store_layer(self.builder.store, &dirs[0], image.top_chain())?;
            self.cache.put(&key, &Cached::Layer(layer.clone()));
            image.push_layer(layer, history_of(&op, st));
        } else {
            self.cache.put(&key, &Cached::Empty);
            image.push_empty(history_of(&op, st));
        }
        Ok(())
    }

    /// What `--from=<name>` names: a named context, an earlier stage, or an image of the
    /// store, in that order.
    fn resolve_from(&self, step: &str, from: &str) -> Result<FromSource> {
        match self.opts.additional_contexts.get(from) {
            Some(NamedContext::Dir(d)) => return Ok(FromSource::Dir(d.clone())),
            Some(NamedContext::Image(r)) => {
                return Ok(FromSource::Image(Box::new(self.store_image(step, r)?)));
            }
            None => {}
        }
        if let Some((j, _)) = self.df.stage(from).filter(|(j, _)| *j < self.index) {
            return self
                .built
                .get(&j)
                .cloned()
                .map(|i| FromSource::Image(Box::new(i)))
                .ok_or_else(|| self.fail(step, format!("stage {from} was not built")));
        }
        WorkImage::from_store(self.builder.store, from)?
            .map(|i| FromSource::Image(Box::new(i)))
            .ok_or_else(|| {
                self.fail(
                    step,
                    format!("--from={from}: no such stage or named context, and the image is not in the store"),
                )
            })
    }

    /// A RUN's `--mount`s, parsed and given what they need before the mount namespace.
    fn prepare_mounts(
        &self,
        step: &str,
        op: &FsOp<'_>,
        st: &StageState,
        scratch: &Path,
    ) -> Result<Vec<PreparedMount>> {
        let FsOp::Run(r) = op else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (n, spec) in self.mount_specs(step, r, st)?.into_iter().enumerate() {
            let dir = scratch.join(format!("mount-{n}"));
            std::fs::create_dir(&dir)
                .map_err(|e| self.fail(step, format!("{}: {e}", dir.display())))?;
            let source = match &spec.kind {
                MountKind::Bind { from: Some(f), .. } => match self.resolve_from(step, f)? {
                    FromSource::Dir(d) => MountRoot::Dir(d),
                    FromSource::Image(img) => {
                        MountRoot::Image(img.snapshot_dirs(self.builder.store)?)
                    }
                },
                MountKind::Bind { from: None, .. } => MountRoot::Dir(self.ctx.dir().to_path_buf()),
                MountKind::Cache { .. } => {
                    MountRoot::Cache(self.builder.work_dir.join("mount-cache"))
                }
                MountKind::Tmpfs { .. } => MountRoot::None,
            };
            out.push(PreparedMount {
                spec,
                root: source,
                scratch: dir,
                step: step.to_string(),
            });
        }
        Ok(out)
    }

    fn mount_specs(&self, step: &str, r: &Run, st: &StageState) -> Result<Vec<MountSpec>> {
        r.flags
            .iter()
            .filter(|f| f.name == "mount")
            .map(|f| {
                let value = f.value.as_deref().unwrap_or_default();
                let value = st.expand(value).map_err(|e| self.fail(step, e))?;
                crate::run_mount::parse(&value, st.config.working_dir.as_deref())
                    .map_err(|e| self.fail(step, e))
            })
            .collect()
    }

    fn cache_key(
        &self,
        step: &str,
        image: &WorkImage,
        st: &StageState,
        op: &FsOp<'_>,
    ) -> Result<String> {
        let mut h = Sha256::new();
        h.update(image.top_chain().unwrap_or("scratch"));
        h.update([0]);
        h.update(image.last_key.as_deref().unwrap_or(""));
        h.update([0]);
        match op {
            FsOp::Mkdir(dir) => h.update(format!("mkdir {dir}")),
            FsOp::Run(r) => {
                for a in run_args(r, st) {
                    h.update(a);
                    h.update([0]);
                }
                for e in st.run_env() {
                    h.update(e);
                    h.update([0]);
                }
                h.update(format!(
                    "{:?} {:?} {:?} {:?}",
                    st.config.user, st.config.working_dir, r.flags, self.opts.network
                ));
                // What bind mounts show the step is part of its input.
                for m in self.mount_specs(step, r, st)? {
                    if let MountKind::Bind { from, source, .. } = &m.kind {
                        let digest = match from {
                            Some(f) => self.source_digest(step, f, &[source])?,
                            None => self
                                .ctx
                                .digest(&[source])
                                .map_err(|e: ContextError| self.fail(step, e))?,
                        };
                        h.update(digest);
                    }
                }
            }
            FsOp::Copy(c, add) => {
                let spec = copy_spec(c, st, *add).map_err(|m| self.fail(step, m))?;
                h.update(format!(
                    "{add} {:?} {:?} {:?} {:?}",
                    spec.sources, spec.dest, c.flags, spec.chmod
                ));
                for d in &spec.heredocs {
                    h.update(&d.content);
                }
                if let Some(from) = c.flag("from") {
                    let sources: Vec<&String> = spec.sources.iter().collect();
                    h.update(format!("from {from} "));
                    h.update(self.source_digest(step, from, &sources)?);
                } else {
                    let sources: Vec<&String> = spec
                        .sources
                        .iter()
                        .filter(|s| !s.starts_with("<<"))
                        .collect();
                    let digest = self
                        .ctx
                        .digest(&sources)
                        .map_err(|e: ContextError| self.fail(step, e))?;
                    h.update(digest);
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }
}

impl StageRun<'_, '_> {
    /// The cache key part of files taken `--from` somewhere: an image's top layer, or a
    /// named directory's content.
    fn source_digest<S: AsRef<str>>(
        &self,
        step: &str,
        from: &str,
        sources: &[S],
    ) -> Result<String> {
        match self.resolve_from(step, from)? {
            FromSource::Image(img) => Ok(img.top_chain().unwrap_or("scratch").to_string()),
            FromSource::Dir(d) => {
                let ignore = Ignore::for_build(&d, None)?;
                let ctx = Context::open(&d, ignore).map_err(|e| self.fail(step, e))?;
                let sources: Vec<&str> = sources
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|s| !s.starts_with("<<"))
                    .collect();
                ctx.digest(&sources).map_err(|e| self.fail(step, e))
            }
        }
    }
}

/// The source of a `--from` on a COPY.
fn copy_from<'o>(op: &'o FsOp<'_>) -> Option<&'o str> {
    match op {
        FsOp::Copy(c, _) => c.flag("from"),
        _ => None,
    }
}

/// Where a mount's files come from, before the mount namespace.
enum MountRoot {
    Dir(PathBuf),
    Image(Vec<PathBuf>),
    Cache(PathBuf),
    None,
}

/// A `RUN --mount` ready to be made inside the step's mount namespace.
struct PreparedMount {
    spec: MountSpec,
    root: MountRoot,
    /// Empty, the mount's own, removed with the step's scratch dir.
    scratch: PathBuf,
    step: String,
}

impl PreparedMount {
    /// Makes what the runner binds (call inside the step's mount namespace).
    fn mount(&self) -> std::result::Result<StepMount, StepFailure> {
        let target = self.spec.target.clone();
        match (&self.spec.kind, &self.root) {
            (MountKind::Tmpfs { size }, _) => Ok(StepMount::Tmpfs {
                target,
                size: *size,
            }),
            (
                MountKind::Cache {
                    id,
                    rw,
                    mode,
                    uid,
                    gid,
                },
                MountRoot::Cache(root),
            ) => {
                let dir = crate::run_mount::cache_dir(root, id);
                make_cache_dir(&dir, *mode, (*uid, *gid))?;
                Ok(StepMount::Bind {
                    source: dir,
                    target,
                    readonly: !rw,
                })
            }
            (MountKind::Bind { source, rw, .. }, root) => {
                let base = self.bind_root(root)?;
                let ignore = match root {
                    MountRoot::Dir(d) => {
                        Ignore::for_build(d, None).map_err(|e| StepFailure::Msg(e.to_string()))?
                    }
                    _ => Ignore::default(),
                };
                let ctx = Context::open(&base, ignore)?;
                let found = ctx.resolve(source)?;
                let [one] = found.as_slice() else {
                    return Err(StepFailure::Msg(format!(
                        "--mount source {source:?} names {} paths, not one",
                        found.len()
                    )));
                };
                // The kernel's name for what the walk inside the root reached.
                let real = std::fs::read_link(one.path())?;
                Ok(StepMount::Bind {
                    source: real,
                    target,
                    readonly: !rw,
                })
            }
            _ => Err(StepFailure::Msg(format!(
                "{}: mount not prepared",
                self.step
            ))),
        }
    }

    /// The root a bind mount takes its source in: a scratch overlay over the directory or
    /// image, so that `rw` writes land in the scratch dir and are dropped with it.
    fn bind_root(&self, root: &MountRoot) -> std::result::Result<PathBuf, StepFailure> {
        let lowers = match root {
            MountRoot::Dir(d) => vec![d.clone()],
            MountRoot::Image(l) if !l.is_empty() => l.clone(),
            _ => return Ok(self.scratch.clone()),
        };
        let [upper, work, merged] = ["upper", "work", "merged"].map(|d| self.scratch.join(d));
        for d in [&upper, &work, &merged] {
            std::fs::create_dir(d)?;
        }
        Overlay {
            lowers,
            upper,
            work,
        }
        .mount(&merged)?;
        Ok(merged)
    }
}

/// A cache mount's directory: made with the mount's mode and owner the first time.
fn make_cache_dir(
    dir: &Path,
    mode: u32,
    owner: (u32, u32),
) -> std::result::Result<(), StepFailure> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::chown(dir, Some(owner.0), Some(owner.1))?;
    Ok(())
}

/// What a step needs inside its mount namespace thread.
struct OpEnv<'a> {
    ctx: &'a Context,
    runner: Option<&'a dyn RunStep>,
    network: Option<&'a str>,
}

fn apply_op(
    env: &OpEnv<'_>,
    op: &FsOp<'_>,
    st: &StageState,
    root: &Path,
    from_root: Option<(&Path, bool)>,
    mounts: &[StepMount],
    on_output: &(dyn Fn(&str) + Sync),
) -> std::result::Result<Option<RunOutcome>, StepFailure> {
    match op {
        FsOp::Mkdir(dir) => {
            let owner = (0, 0);
            make_dir_in(root, dir, owner)?;
            Ok(None)
        }
        FsOp::Copy(c, add) => {
            let spec = copy_spec(c, st, *add).map_err(StepFailure::Msg)?;
            let from_ctx;
            let ctx = match from_root {
                Some((r, honor_ignore)) => {
                    // A named local context honors its own .dockerignore; an image's
                    // root has none.
                    let ignore = if honor_ignore {
                        Ignore::for_build(r, None).map_err(|e| StepFailure::Msg(e.to_string()))?
                    } else {
                        Ignore::default()
                    };
                    from_ctx = Context::open(r, ignore)?;
                    &from_ctx
                }
                None => env.ctx,
            };
            let owner = match c.flag("chown") {
                Some(chown) => {
                    let chown = st
                        .expand(chown)
                        .map_err(|e| StepFailure::Msg(e.to_string()))?;
                    crate::user::resolve_owner(root, &chown).map_err(StepFailure::Msg)?
                }
                None => (0, 0),
            };
            copy(
                ctx,
                &CopySpec {
                    sources: &spec.sources,
                    dest: &spec.dest,
                    owner,
                    chmod: spec.chmod,
                    add: *add,
                    heredocs: &spec.heredocs,
                },
                root,
            )?;
            Ok(None)
        }
        FsOp::Run(r) => {
            let runner = env.runner.ok_or_else(|| {
                StepFailure::Msg(
                    "RUN needs the container runtime, which this build was not given".into(),
                )
            })?;
            let network = r.flag("network").or(env.network);
            let args = run_args(r, st);
            let env = st.run_env();
            let cwd = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
            let out = runner
                .run(&RunRequest {
                    rootfs: root,
                    args: &args,
                    env: &env,
                    cwd: &cwd,
                    user: st.config.user.as_deref(),
                    network,
                    mounts,
                    on_output: Some(on_output),
                })
                .map_err(StepFailure::Msg)?;
            Ok(Some(out))
        }
    }
}

/// A step's failure inside the mount namespace.
#[derive(Debug, thiserror::Error)]
enum StepFailure {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("{0}")]
    Msg(String),
}

impl From<std::io::Error> for StepFailure {
    fn from(e: std::io::Error) -> Self {
        StepFailure::Msg(e.to_string())
    }
}

enum FsOp<'a> {
    Run(&'a Run),
    Copy(&'a AddCopy, bool),
    Mkdir(String),
}

struct ExpandedCopy {
    sources: Vec<String>,
    dest: String,
    chmod: Option<u32>,
    heredocs: Vec<Heredoc>,
}

fn copy_spec(c: &AddCopy, st: &StageState, add: bool) -> std::result::Result<ExpandedCopy, String> {
    let expand = |s: &str| -> std::result::Result<String, String> {
        if c.json {
            Ok(s.to_string())
        } else {
            st.expand(s).map_err(|e| e.to_string())
        }
    };
    let sources = c
        .sources
        .iter()
        .map(|s| {
            if s.starts_with("<<") {
                Ok(s.clone())
            } else {
                expand(s)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let raw_dest = expand(&c.dest)?;
    let mut dest = join_workdir(st.config.working_dir.as_deref(), &raw_dest);
    if (raw_dest.ends_with('/') || raw_dest == ".") && !dest.ends_with('/') {
        dest.push('/');
    }
    let chmod = match c.flag("chmod") {
        Some(m) => Some(
            u32::from_str_radix(m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| format!("--chmod={m}: not an octal mode"))?,
        ),
        None => None,
    };
    let heredocs = c
        .heredocs
        .iter()
        .map(|d| {
            Ok(Heredoc {
                content: if d.expand {
                    st.expand(&d.content).map_err(|e| e.to_string())?
                } else {
                    d.content.clone()
                },
                ..d.clone()
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    if add && let Some(url) = sources.iter().find(|s| is_remote(s)) {
        // Before the cache key, which would look for it in the context.
        return Err(crate::copy::CopyError::Remote(url.clone()).to_string());
    }
    if add && let Some(sum) = c.flag("checksum") {
        check_checksum(sum)?;
        // BuildKit verifies a checksum only for what it downloads.
        return Err(format!(
            "ADD --checksum={sum}: a checksum is only checked for URL sources, and URLs are not fetched on this machine"
        ));
    }
    Ok(ExpandedCopy {
        sources,
        dest,
        chmod,
        heredocs,
    })
}

fn is_remote(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

/// `--checksum=sha256:<64 hex>` (or sha384/sha512 with their lengths).
fn check_checksum(sum: &str) -> std::result::Result<(), String> {
    let ok = sum.split_once(':').is_some_and(|(algo, hex)| {
        let len = match algo {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "ADD --checksum={sum}: not a digest (want sha256:<64 hex digits>)"
        ))
    }
}

/// The process of a RUN: exec form as is; shell form through the stage's shell, with
/// here-documents handed to the shell in its own syntax.
fn run_args(r: &Run, st: &StageState) -> Vec<String> {
    match &r.command {
        Command::Exec(v) => v.clone(),
        Command::Shell(text) => {
            let only_heredoc = r.heredocs.len() == 1 && text.trim_start().starts_with("<<");
            let script = if only_heredoc {
                r.heredocs[0].content.clone()
            } else {
                let mut s = text.clone();
                for d in &r.heredocs {
                    s.push('\n');
                    s.push_str(&d.content);
                    s.push_str(&d.name);
                }
                s
            };
            st.command_line(&Command::Shell(script))
        }
    }
}

fn history_of(op: &FsOp<'_>, st: &StageState) -> String {
    match op {
        FsOp::Run(r) => format!("RUN {}", run_args(r, st).join(" ")),
        FsOp::Copy(c, add) => format!(
            "{} {} {}",
            if *add { "ADD" } else { "COPY" },
            c.sources.join(" "),
            c.dest
        ),
        FsOp::Mkdir(d) => format!("WORKDIR {d}"),
    }
}

/// An instruction's text on one line, runs of whitespace as one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn arg_text(decls: &[crate::dockerfile::ArgDecl]) -> String {
    decls
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `mkdir -p` inside the rootfs, resolving the path inside it.
fn make_dir_in(root: &Path, dir: &str, owner: (u32, u32)) -> std::result::Result<(), StepFailure> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, mkdirat, openat2};
    let rootfd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| StepFailure::Msg(format!("open rootfs: {e}")))?;
    let mut cur = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = openat2(
            &rootfd,
            if cur.is_empty() { "." } else { cur.as_str() },
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
        .map_err(|e| StepFailure::Msg(format!("WORKDIR {dir}: {cur}: {e}")))?;
        let parent = rustix::fs::openat(
            &parent,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .map_err(|e| StepFailure::Msg(format!("WORKDIR {dir}: {e}")))?;
        match mkdirat(&parent, part, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                rustix::fs::chownat(
                    &parent,
                    part,
                    Some(rustix::fs::Uid::from_raw(owner.0)),
                    Some(rustix::fs::Gid::from_raw(owner.1)),
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| StepFailure::Msg(format!("WORKDIR {dir}: chown: {e}")))?;
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(StepFailure::Msg(format!(
                    "WORKDIR {dir}: mkdir {part}: {e}"
                )));
            }
        }
        if !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(part);
    }
    Ok(())
}

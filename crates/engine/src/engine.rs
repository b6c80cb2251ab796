//! The engine of one data root: its state store, image store and runtime, and what every
//! verb shares (the project it acts on, progress events, live status).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use compose::model::Project as Model;

use crate::error::{Error, Result};
use crate::runner::{Live, Runner};
use crate::store::{ContainerRow, ProjectLock, RecordedState, Store};

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Volume,
    Network,
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "Container",
            Kind::Volume => "Volume",
            Kind::Network => "Network",
            Kind::Image => "Image",
        }
    }
}

/// Where progress goes (the CLI prints it as Docker Compose's plain progress).
pub trait Progress: Sync {
    /// `kind` `name` reached `status` (`Creating`, `Created`, `Started`...).
    fn event(&self, kind: Kind, name: &str, status: &str);
    /// Something the user should know that does not stop the command.
    fn warn(&self, message: &str);
    /// How builds the command runs print their steps; `None`: live on a terminal, plain
    /// otherwise.
    fn build_mode(&self) -> Option<compose_build::progress::Mode> {
        None
    }
}

/// A project to act on: its name, model and the hash of each service's config.
#[derive(Debug, Clone)]
pub struct Project<'a> {
    pub name: &'a str,
    pub model: &'a Model,
    /// `com.docker.compose.config-hash` of each service.
    pub hashes: BTreeMap<String, String>,
    pub working_dir: String,
    /// The compose files, comma-separated (the label's form).
    pub config_files: String,
}

impl Project<'_> {
    pub fn service(&self, name: &str) -> Result<&compose::model::service::Service> {
        self.model
            .services
            .get(name)
            .ok_or_else(|| Error::NoSuchService(name.to_string()))
    }

    pub fn hash(&self, service: &str) -> String {
        self.hashes.get(service).cloned().unwrap_or_default()
    }
}

/// The engine of one data root.
#[derive(Debug)]
pub struct Engine {
    pub(crate) root: PathBuf,
    pub(crate) store: Store,
    pub(crate) images: compose_image::Store,
    pub(crate) runner: Runner,
}

impl Engine {
    /// Opens the engine of the data root `root` (made if missing).
    pub fn open(root: &Path) -> Result<Engine> {
        let images = compose_image::Store::open(root)
            .map_err(|e| Error::Other(format!("image store {}: {e}", root.display())))?;
        Ok(Engine {
            root: root.to_owned(),
            store: Store::open(root)?,
            images,
            runner: Runner::new(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The runtime of the data root.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Runs containers' shims as `exe` rather than the current binary (see
    /// [`Runner::set_shim_exe`]).
    pub fn set_shim_exe(&mut self, exe: PathBuf) {
        self.runner.set_shim_exe(exe);
    }

    /// Serializes commands on one project.
    pub fn lock(&self, project: &str) -> Result<ProjectLock> {
        Ok(ProjectLock::acquire(&self.root, project)?)
    }

    /// The log file of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{id}.log"))
    }

    /// The dir of a container's writable layer (its overlay's upper and work dirs), kept
    /// while the container exists so that a restart keeps its files.
    pub fn rw_dir(&self, id: &str) -> PathBuf {
        self.root.join("rw").join(id)
    }

    /// The container's status now, from the runtime and the record.
    pub fn live(&self, row: &ContainerRow) -> Live {
        if row.state == RecordedState::Creating {
            return Live::Missing;
        }
        match self.runner.status(&row.id) {
            Live::Exited(None) => Live::Exited(row.exit_code),
            other => other,
        }
    }

    /// The images (normalized references) that containers of any project use: `image rm`
    /// and `prune` must keep them.
    pub fn images_in_use(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(self
            .store
            .images_in_use()?
            .into_iter()
            .filter_map(|r| compose_image::store::normalize(&r).ok())
            .collect())
    }

    /// The project's containers (not one-off ones) with their live status.
    pub fn containers(&self, project: &str) -> Result<Vec<(ContainerRow, Live)>> {
        let rows = self.store.containers(project)?;
        Ok(rows
            .into_iter()
            .filter(|r| !r.oneoff)
            .map(|mut r| {
                let l = self.live(&r);
                if let Live::Exited(Some(code)) = l {
                    // The shim recorded the exit: it is the truth, whoever stopped it.
                    r.exit_code = Some(code);
                    if let Some(t) = self.runner.finished_at(&r.id) {
                        r.finished_at = Some(t);
                    }
                }
                (r, l)
            })
            .collect())
    }
}

pub(crate) fn emit(p: &dyn Progress, kind: Kind, name: &str, status: &str) {
    p.event(kind, name, status);
}

pub(crate) fn warn(p: &dyn Progress, message: &str) {
    p.warn(message);
}

/// A new 64-hex-digit id, as Docker's.
pub(crate) fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::Other(format!("read /dev/urandom: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

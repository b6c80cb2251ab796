//! One reload: load the project again, compare it with what runs, apply the difference
//! through `up`, and report each service's change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, mpsc};

use compose::load::{Loaded, Options};

use super::changes::{self, Side};
use super::watch::{Msg, Watcher};
use super::{Event, ReloadError, ReloadOptions, Sink};
use crate::ops::up::UpOptions;
use crate::{Engine, Kind, Progress, Project};

/// The loop's state: the last project that loaded.
pub(super) struct Reloader {
    pub(super) engine: Arc<Engine>,
    pub(super) opts: ReloadOptions,
    pub(super) out: Sink,
    pub(super) current: Loaded,
}

/// Loads the project as `up` does (normalized, with a model).
pub(super) fn load(opts: &Options) -> Result<Loaded, ReloadError> {
    let loaded = compose::load::load(opts, true)?;
    if loaded.model.is_none() {
        return Err(ReloadError::NoModel(loaded.name));
    }
    Ok(loaded)
}

/// The engine's progress, forwarded as events.
struct Forward<'a>(&'a Sink);

impl Progress for Forward<'_> {
    fn event(&self, kind: Kind, name: &str, status: &str) {
        (self.0)(Event::Progress {
            kind,
            name: name.to_string(),
            status: status.to_string(),
        });
    }

    fn warn(&self, message: &str) {
        (self.0)(Event::Warning(message.to_string()));
    }
}

fn side(l: &Loaded) -> Side {
    let services = l
        .json
        .get("services")
        .and_then(|s| s.as_object())
        .map(|m| {
            m.iter()
                .map(|(name, v)| {
                    let hash = l.config_hash(name).unwrap_or_default();
                    (name.clone(), (v.clone(), hash))
                })
                .collect()
        })
        .unwrap_or_default();
    Side { services }
}

impl Reloader {
    /// Reloads on every change until told to stop.
    pub(super) fn run(&mut self, watcher: &mut Watcher, rx: &mpsc::Receiver<Msg>) {
        while let Some(files) = watcher.next_change(rx, self.opts.debounce) {
            (self.out)(Event::Reloading { files });
            let before = self.current.inputs.clone();
            if !self.reload() || self.current.inputs == before {
                continue;
            }
            if let Err(e) = watcher.follow(&self.current.inputs) {
                (self.out)(Event::Warning(e.to_string()));
            }
            (self.out)(Event::Watching {
                files: self.current.inputs.clone(),
            });
        }
    }

    /// One reload; false when the project did not load (nothing changed then).
    fn reload(&mut self) -> bool {
        let new = match load(&self.opts.load) {
            Ok(l) => l,
            Err(e) => {
                (self.out)(Event::Invalid {
                    error: e.to_string(),
                });
                return false;
            }
        };
        for w in &new.warnings {
            (self.out)(Event::Warning(w.clone()));
        }
        if let Err(e) = self.apply(&new) {
            (self.out)(Event::Failed {
                error: e.to_string(),
            });
        }
        self.current = new;
        true
    }

    /// Compares `new` with what runs, reports each change and applies them all with one
    /// `up` (which decides by the same config hashes).
    fn apply(&self, new: &Loaded) -> crate::Result<()> {
        let mut running = self.running(&new.name)?;
        let mut wanted = side(new);
        if let Some(selected) = self.selection(new) {
            // Services outside the selection are neither started nor judged; ones gone
            // from the file still are (`up` removes orphans).
            running.retain(|s, _| selected.contains(s) || !wanted.services.contains_key(s));
            wanted.services.retain(|s, _| selected.contains(s));
        }
        let list = changes::changes(&side(&self.current), &wanted, &running);
        if list.is_empty() {
            (self.out)(Event::Unchanged);
            return Ok(());
        }
        for c in list {
            (self.out)(Event::Service(c));
        }
        let Some(model) = &new.model else {
            return Ok(());
        };
        let project = project(new, model);
        let opts = UpOptions {
            remove_orphans: true,
            wait: false,
            no_start: false,
            ..self.opts.up.clone()
        };
        let attached = self.engine.up(&project, &opts, &Forward(&self.out))?;
        (self.out)(Event::Applied {
            containers: attached.containers,
        });
        Ok(())
    }

    /// With `up SERVICE...`: those services and their dependencies, the ones `up` acts on
    /// (`None`: all).
    fn selection(&self, new: &Loaded) -> Option<BTreeSet<String>> {
        let names: Vec<&str> = self.opts.up.services.iter().map(String::as_str).collect();
        if names.is_empty() {
            return None;
        }
        let model = new.model.as_ref()?;
        let g = compose::graph::Graph::from_project(model).ok()?;
        Some(
            g.with_dependencies(&names)
                .into_iter()
                .map(String::from)
                .collect(),
        )
    }

    /// The config hashes of each service's recorded containers.
    fn running(&self, project: &str) -> crate::Result<BTreeMap<String, BTreeSet<String>>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (row, _) in self.engine.containers(project)? {
            out.entry(row.service).or_default().insert(row.config_hash);
        }
        Ok(out)
    }
}

/// The engine's view of a loaded project.
fn project<'a>(l: &'a Loaded, model: &'a compose::model::Project) -> Project<'a> {
    let files: Vec<String> = l
        .sources
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    Project {
        name: &l.name,
        model,
        hashes: model
            .services
            .keys()
            .filter_map(|s| Some((s.clone(), l.config_hash(s)?)))
            .collect(),
        working_dir: l.sources.project_dir.display().to_string(),
        config_files: files.join(","),
    }
}

//! `ls`: every project of the data root with its containers' states.

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::error::Result;

/// A project as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEntry {
    pub name: String,
    /// `running(2), exited(1)`: how many containers are in each state.
    pub status: String,
    pub config_files: String,
    /// Whether any container runs.
    pub running: bool,
}

impl Engine {
    /// The projects (all when `all`, else those with a running container).
    pub fn ls(&self, all: bool) -> Result<Vec<ProjectEntry>> {
        let mut out = Vec::new();
        for p in self.store.projects()? {
            let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
            let rows = self.containers(&p.name)?;
            for (row, live) in rows {
                *counts.entry(self.ps_entry(row, live).state()).or_default() += 1;
            }
            let running = counts.contains_key("running");
            if !all && !running {
                continue;
            }
            // Docker lists running first, then the other states by name.
            let mut parts: Vec<String> = Vec::new();
            if let Some(n) = counts.remove("running") {
                parts.push(format!("running({n})"));
            }
            parts.extend(counts.iter().map(|(s, n)| format!("{s}({n})")));
            out.push(ProjectEntry {
                name: p.name,
                status: parts.join(", "),
                config_files: p.config_files,
                running,
            });
        }
        Ok(out)
    }
}

impl Engine {
    /// The image record of `reference` in the local store, if there.
    pub fn image_record(&self, reference: &str) -> Option<compose_image::store::ImageRecord> {
        self.images.get_image(reference).ok().flatten()
    }
}

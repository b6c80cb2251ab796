//! What the OCI state needs beyond the runtime's record: the bundle and creation time, in
//! `oci.json` beside the runtime's own state (removed with it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

const FILE: &str = "oci.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Meta {
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(FILE);
        let text = serde_json::to_string(self)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// The container's meta; empty fields for a container made by another tool.
    pub fn load(dir: &Path) -> Meta {
        std::fs::read_to_string(dir.join(FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Meta {
                bundle: PathBuf::new(),
                rootfs: PathBuf::new(),
                created: String::new(),
                annotations: Default::default(),
            })
    }
}

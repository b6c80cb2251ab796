//! The build cache: step key → the layer that step made (or that it changed nothing), one
//! small JSON file a key, written atomically. An entry whose blob or snapshot the store no
//! longer has (pruned) is a miss.

use std::io;
use std::path::{Path, PathBuf};

use compose_image::Store;
use compose_image::store::LayerRecord;
use serde::{Deserialize, Serialize};

/// What a cached step made.
#[derive(Debug, Clone)]
pub enum Cached {
    Layer(LayerRecord),
    Empty,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    empty: bool,
    digest: String,
    media_type: String,
    size: u64,
    diff_id: String,
    chain_id: String,
}

/// The cache index in a directory.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open(dir: &Path) -> io::Result<Cache> {
        std::fs::create_dir_all(dir)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry of `key` if its content is still in `store`.
    pub fn get(&self, key: &str, store: &Store) -> Option<Cached> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        if e.empty {
            return Some(Cached::Empty);
        }
        let present =
            store.blobs().has(&e.digest).ok()? && store.snapshot_path(&e.chain_id).ok()?.is_dir();
        present.then_some({
            Cached::Layer(LayerRecord {
                digest: e.digest,
                media_type: e.media_type,
                size: e.size,
                diff_id: e.diff_id,
                chain_id: e.chain_id,
            })
        })
    }

    /// Records `key`; a failure to write only costs a future cache hit.
    pub fn put(&self, key: &str, value: &Cached) {
        let e = match value {
            Cached::Empty => Entry {
                empty: true,
                digest: String::new(),
                media_type: String::new(),
                size: 0,
                diff_id: String::new(),
                chain_id: String::new(),
            },
            Cached::Layer(l) => Entry {
                empty: false,
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
                diff_id: l.diff_id.clone(),
                chain_id: l.chain_id.clone(),
            },
        };
        let Ok(bytes) = serde_json::to_vec(&e) else {
            return;
        };
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, self.path(key)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

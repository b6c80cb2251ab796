//! Images as the builder handles them: a chain of layers (each in the store as a blob and
//! a snapshot) and a config file; read from the store for a base, written to it for a
//! result.

use std::io::{self, Write};

use compose_image::Store;
use compose_image::store::{ImageRecord, LayerRecord, Platform};
use compose_image::unpack::{Compression, UnpackOptions, chain_id, unpack_snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::RunConfig;

/// Why reading or writing an image failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image store: {0}")]
    Store(#[from] compose_image::StoreError),
    #[error("{0}")]
    Unpack(#[from] compose_image::unpack::UnpackError),
    #[error("image {reference}: {reason}")]
    Bad { reference: String, reason: String },
    #[error("writing a layer: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Diff(#[from] crate::diff::DiffError),
}

type Result<T> = std::result::Result<T, ImageError>;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An image config file (what the config blob holds), Docker's fields kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image being built: its layers (bottom first) and its config.
#[derive(Debug, Clone, Default)]
pub struct WorkImage {
    pub layers: Vec<LayerRecord>,
    pub config: ConfigFile,
    /// The cache key of the last filesystem step of this stage: the next step's key
    /// includes it, so a miss invalidates every later step (as Docker's cache does), even
    /// one after a step that changed no file.
    pub last_key: Option<String>,
}

impl WorkImage {
    /// `scratch`: no layer, the host's platform.
    pub fn scratch() -> WorkImage {
        WorkImage {
            layers: Vec::new(),
            config: ConfigFile {
                architecture: host_arch().into(),
                os: "linux".into(),
                ..ConfigFile::default()
            },
            last_key: None,
        }
    }

    /// An image of the store, by reference.
    pub fn from_store(store: &Store, reference: &str) -> Result<Option<WorkImage>> {
        let Some(rec) = store.get_image(reference)? else {
            return Ok(None);
        };
        let bytes = store.blobs().read_small(&rec.config_digest, 8 << 20)?;
        let config: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| ImageError::Bad {
            reference: reference.into(),
            reason: format!("config {}: {e}", rec.config_digest),
        })?;
        // Snapshots not made yet (a deferred pull) or lost are made from the stored blobs.
        store.ensure_snapshots(&rec, &compose_image::unpack::UnpackOptions::default(), true)?;
        Ok(Some(WorkImage {
            layers: rec.layers,
            config,
            last_key: None,
        }))
    }

    /// The ChainID of the top layer, None for scratch.
    pub fn top_chain(&self) -> Option<&str> {
        self.layers.last().map(|l| l.chain_id.as_str())
    }

    /// The snapshot dirs, bottom first.
    pub fn snapshot_dirs(&self, store: &Store) -> Result<Vec<std::path::PathBuf>> {
        self.layers
            .iter()
            .map(|l| Ok(store.snapshot_path(&l.chain_id)?))
            .collect()
    }

    /// Adds a layer (already in the store) and its history entry.
    pub fn push_layer(&mut self, layer: LayerRecord, created_by: String) {
        self.config.rootfs.diff_ids.push(layer.diff_id.clone());
        self.layers.push(layer);
        self.config.history.push(History {
            created: Some(now_rfc3339()),
            created_by: Some(created_by),
            comment: Some("compose build".into()),
            empty_layer: false,
        });
    }

    /// A history entry of a step that changed only the config.
    pub fn push_empty(&mut self, created_by: String) {
        self.config.history.push(History {
            created: Some(now_rfc3339()),
            created_by: Some(created_by),
            comment: Some("compose build".into()),
            empty_layer: true,
        });
    }

    /// Writes config and manifest blobs and records the image under each reference.
    pub fn commit(&mut self, store: &Store, references: &[String]) -> Result<ImageRecord> {
        self.config.created = Some(now_rfc3339());
        self.config.rootfs.diff_ids = self.layers.iter().map(|l| l.diff_id.clone()).collect();
        let config_bytes = serde_json::to_vec(&self.config).map_err(io::Error::other)?;
        let config = store.blobs().write_bytes(&config_bytes, "image config")?;
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": l.media_type,
                    "digest": l.digest,
                    "size": l.size,
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let m = store
            .blobs()
            .write_bytes(&manifest_bytes, "image manifest")?;
        let size = m.size + config.size + self.layers.iter().map(|l| l.size).sum::<u64>();
        let mut rec = ImageRecord {
            reference: m.digest.clone(),
            manifest_digest: m.digest.clone(),
            manifest_size: m.size,
            media_type: OCI_MANIFEST.into(),
            config_digest: config.digest,
            config_size: config.size,
            platform: Platform {
                os: self.config.os.clone(),
                architecture: self.config.architecture.clone(),
                variant: self.config.variant.clone(),
            },
            created: self.config.created.clone(),
            size,
            layers: self.layers.clone(),
        };
        if references.is_empty() {
            store.put_image(&rec)?;
        }
        for r in references {
            rec.reference = r.clone();
            store.put_image(&rec)?;
        }
        Ok(rec)
    }
}

/// Stores the change in `upper` as a gzip layer blob and its snapshot on top of `parent`.
pub fn store_layer(
    store: &Store,
    upper: &std::path::Path,
    parent: Option<&str>,
) -> Result<LayerRecord> {
    let (reader, writer) = io::pipe()?;
    let (diff_id, written) = std::thread::scope(|s| {
        let producer = s.spawn(move || -> Result<String> {
            let mut hashing = HashingWriter {
                inner: flate2::write::GzEncoder::new(writer, flate2::Compression::fast()),
                hash: Sha256::new(),
            };
            crate::diff::write_layer(upper, &mut hashing)?;
            hashing.inner.finish()?;
            Ok(format!("sha256:{}", hex::encode(hashing.hash.finalize())))
        });
        let written = store.blobs().write(reader, None, None, "layer");
        let diff_id = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the layer writer panicked").into()));
        (diff_id, written)
    });
    let diff_id = diff_id?;
    let written = written?;
    let blob = store.blobs().open_blob(&written.digest)?;
    let snap = unpack_snapshot(
        &store.snapshots_dir(),
        parent,
        &diff_id,
        blob,
        Compression::Gzip,
        &UnpackOptions::default(),
        false,
    )?;
    debug_assert_eq!(
        Some(&snap.chain_id),
        chain_id(parent, &diff_id).ok().as_ref()
    );
    Ok(LayerRecord {
        digest: written.digest,
        media_type: OCI_LAYER_GZIP.into(),
        size: written.size,
        diff_id,
        chain_id: snap.chain_id,
    })
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The OCI name of this machine's architecture.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

/// Now in RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn config_file_keeps_unknown_fields() {
        let c: ConfigFile = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"x"}"#,
        )
        .unwrap();
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["docker_version"], "x");
        assert_eq!(back["config"]["Env"][0], "A=1");
    }
}

//! Bringing one image from a [`Source`] into the store: its blobs (verified against their
//! descriptors), its layers unpacked into snapshots (each DiffID verified), its record.
//!
//! An [`Importer`] remembers what it added; when a load fails it rolls those back, so a
//! failed load leaves neither a record nor content that only it brought.

use std::io::Read;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::source::Source;
use crate::store::{
    ImageRecord, LayerRecord, Platform, Result, Store, StoreError, Written, digest_hex,
};
use crate::unpack::{self, Compression, UnpackOptions};

/// Largest manifest, index or config accepted.
pub(crate) const MAX_JSON: u64 = 8 << 20;

/// Manifest media types.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Imports images from one source into one store.
pub(crate) struct Importer<'a> {
    pub(crate) store: &'a Store,
    pub(crate) src: &'a dyn Source,
    pub(crate) opts: UnpackOptions,
    pub(crate) sync: bool,
    /// Record layers without unpacking them (a deferred pull): their snapshots are made
    /// on first use by [`Store::ensure_snapshots`].
    pub(crate) defer_unpack: bool,
    new_blobs: Vec<String>,
    new_snapshots: Vec<String>,
}

/// A manifest in the store, read and checked.
pub(crate) struct Manifest {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    pub(crate) manifest: ImageManifest,
}

impl<'a> Importer<'a> {
    pub(crate) fn new(store: &'a Store, src: &'a dyn Source) -> Importer<'a> {
        Importer {
            store,
            src,
            opts: UnpackOptions::default(),
            sync: true,
            defer_unpack: false,
            new_blobs: Vec::new(),
            new_snapshots: Vec::new(),
        }
    }

    /// The snapshots this importer made (for a caller that rolls back itself).
    pub(crate) fn new_snapshots(&self) -> &[String] {
        &self.new_snapshots
    }

    /// Removes what this importer added that no record uses (after a failed load).
    pub(crate) fn roll_back(&self) -> Result<()> {
        self.store.roll_back(&self.new_blobs, &self.new_snapshots)
    }

    /// Stores the member as a blob. `expected`: its digest when known (verified); `size`:
    /// its size when a descriptor says it (checked before and while reading).
    pub(crate) fn blob(
        &mut self,
        member: &str,
        expected: Option<&str>,
        size: Option<u64>,
    ) -> Result<Written> {
        if let Some(d) = expected
            && self.store.blobs().has(d)?
        {
            let have = self.store.blobs().size(d)?;
            return Ok(Written {
                digest: d.to_owned(),
                size: have,
                created: false,
            });
        }
        let (reader, member_size) = self.src.open(member)?;
        let what = format!("{} member {member}", self.src.name().display());
        if let Some(want) = size.filter(|w| *w != member_size) {
            return Err(StoreError::SizeMismatch {
                what,
                expected: want,
                actual: member_size,
            });
        }
        let w = self
            .store
            .blobs()
            .write(reader, expected, Some(member_size), &what)?;
        if w.created {
            self.new_blobs.push(w.digest.clone());
        }
        Ok(w)
    }

    /// Stores a blob given by an OCI descriptor, from `blobs/<alg>/<hex>`.
    pub(crate) fn descriptor_blob(&mut self, digest: &str, size: u64) -> Result<Written> {
        let hex = digest_hex(digest)?;
        self.blob(&format!("blobs/sha256/{hex}"), Some(digest), Some(size))
    }

    /// Stores bytes made here (a synthesized manifest).
    pub(crate) fn bytes(&mut self, bytes: &[u8], what: &str) -> Result<Written> {
        let w = self.store.blobs().write_bytes(bytes, what)?;
        if w.created {
            self.new_blobs.push(w.digest.clone());
        }
        Ok(w)
    }

    /// Reads the manifest (or index) `digest` from the store and resolves an index to the
    /// host platform's manifest, storing the chosen blobs from the source.
    pub(crate) fn resolve_manifest(
        &mut self,
        digest: &str,
        media_type: &str,
        depth: usize,
    ) -> Result<Manifest> {
        let bytes = self.store.blobs().read_small(digest, MAX_JSON)?;
        let kind = sniff_media_type(&bytes, media_type, digest)?;
        if kind == OCI_INDEX || kind == DOCKER_LIST {
            if depth > 2 {
                return Err(bad_image(digest, "indexes nested too deep"));
            }
            let index: ImageIndex = parse_json(&bytes, &format!("index {digest}"))?;
            // An archive may hold one platform's manifest of a multi-platform index.
            let present = |d: &oci_spec::image::Descriptor| {
                d.as_digest_sha256()
                    .is_some_and(|h| self.src.exists(&format!("blobs/sha256/{h}")))
            };
            let chosen = pick_platform(&index, present)
                .ok_or_else(|| bad_image(digest, "no manifest for this platform"))?;
            let d = chosen.digest().to_string();
            self.descriptor_blob(&d, chosen.size())?;
            let mt = chosen.media_type().to_string();
            return self.resolve_manifest(&d, &mt, depth + 1);
        }
        if kind != OCI_MANIFEST && kind != DOCKER_MANIFEST {
            return Err(StoreError::UnsupportedMediaType {
                what: format!("manifest {digest}"),
                media_type: kind,
            });
        }
        let manifest: ImageManifest = parse_json(&bytes, &format!("manifest {digest}"))?;
        Ok(Manifest {
            digest: digest.to_owned(),
            size: bytes.len() as u64,
            media_type: kind,
            manifest,
        })
    }

    /// Stores the config and layers of a manifest whose own blob is stored, unpacks the
    /// layers, and records the image under each name (under its digest when it has none).
    /// Returns the record keys.
    pub(crate) fn image(&mut self, m: &Manifest, names: &[String]) -> Result<Vec<String>> {
        let cfg_desc = m.manifest.config();
        let cfg_digest = cfg_desc.digest().to_string();
        self.descriptor_blob(&cfg_digest, cfg_desc.size())?;
        let cfg_bytes = self.store.blobs().read_small(&cfg_digest, MAX_JSON)?;
        let config: ImageConfiguration = parse_json(&cfg_bytes, &format!("config {cfg_digest}"))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != m.manifest.layers().len() {
            return Err(bad_image(
                &m.digest,
                &format!(
                    "the manifest has {} layers, the config {} DiffIDs",
                    m.manifest.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        let mut parent: Option<String> = None;
        for (desc, diff_id) in m.manifest.layers().iter().zip(diff_ids) {
            let digest = desc.digest().to_string();
            let w = self.descriptor_blob(&digest, desc.size())?;
            let media_type = desc.media_type().to_string();
            let chain =
                self.snapshot(&digest, &media_type, parent.as_deref(), diff_id, w.created)?;
            layers.push(LayerRecord {
                digest,
                media_type,
                size: desc.size(),
                diff_id: diff_id.clone(),
                chain_id: chain.clone(),
            });
            parent = Some(chain);
        }
        let size = m.size + cfg_desc.size() + layers.iter().map(|l| l.size).sum::<u64>();
        let mut rec = ImageRecord {
            reference: String::new(),
            manifest_digest: m.digest.clone(),
            manifest_size: m.size,
            media_type: m.media_type.clone(),
            config_digest: cfg_digest,
            config_size: cfg_desc.size(),
            platform: Platform {
                os: config.os().to_string(),
                architecture: config.architecture().to_string(),
                variant: config.variant().clone(),
            },
            created: config.created().clone(),
            size,
            layers,
        };
        let keys = if names.is_empty() {
            vec![m.digest.clone()]
        } else {
            names.to_vec()
        };
        for k in &keys {
            rec.reference = k.clone();
            if self.defer_unpack {
                self.store.put_deferred_image_locked(&rec)?;
            } else {
                self.store.put_image_locked(&rec)?;
            }
        }
        Ok(keys)
    }

    /// Unpacks a stored layer blob into its snapshot; returns the chain id. When the
    /// snapshot exists already but the blob is new, the blob's DiffID is still verified.
    fn snapshot(
        &mut self,
        digest: &str,
        media_type: &str,
        parent: Option<&str>,
        diff_id: &str,
        blob_is_new: bool,
    ) -> Result<String> {
        let unpack_err = |source| StoreError::Unpack {
            digest: digest.to_owned(),
            source,
        };
        let compression = Compression::from_media_type(media_type).map_err(|_| {
            StoreError::UnsupportedMediaType {
                what: format!("layer {digest}"),
                media_type: media_type.to_owned(),
            }
        })?;
        let chain = unpack::chain_id(parent, diff_id).map_err(unpack_err)?;
        if self.defer_unpack {
            return Ok(chain);
        }
        let path = self.store.snapshot_path(&chain)?;
        let blob = self.store.blobs().open_blob(digest)?;
        if path.is_dir() {
            if blob_is_new {
                self.verify_diff_id(digest, diff_id, blob)?;
            }
            return Ok(chain);
        }
        let snap = unpack::unpack_snapshot(
            &self.store.snapshots_dir(),
            parent,
            diff_id,
            blob,
            compression,
            &self.opts,
            self.sync,
        )
        .map_err(unpack_err)?;
        if snap.unpacked.is_some() {
            self.new_snapshots.push(snap.chain_id.clone());
        }
        Ok(snap.chain_id)
    }

    fn verify_diff_id(&self, digest: &str, diff_id: &str, blob: impl Read) -> Result<()> {
        let path = self.store.blobs().path(digest)?;
        let (actual, _) =
            unpack::diff_id_of(blob).map_err(crate::store::io_err(path, "decompress layer"))?;
        if actual != diff_id {
            return Err(StoreError::DigestMismatch {
                what: format!("DiffID of layer {digest}"),
                expected: diff_id.to_owned(),
                actual,
            });
        }
        Ok(())
    }
}

/// The manifest's media type: its own `mediaType` field, else the descriptor's, else by
/// shape (an index has `manifests`).
fn sniff_media_type(bytes: &[u8], declared: &str, digest: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let head: Head = parse_json(bytes, &format!("manifest {digest}"))?;
    Ok(match head.media_type {
        Some(m) => m,
        None if !declared.is_empty() => declared.to_owned(),
        None if head.manifests.is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    })
}

/// The index entry for this host (linux and our architecture), else the only entry, among
/// those `present` in the source.
fn pick_platform(
    index: &ImageIndex,
    present: impl Fn(&oci_spec::image::Descriptor) -> bool,
) -> Option<&oci_spec::image::Descriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let all: Vec<&oci_spec::image::Descriptor> =
        index.manifests().iter().filter(|d| present(d)).collect();
    all.iter()
        .copied()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .or_else(|| (all.len() == 1).then(|| all[0]))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Json {
        what: what.to_owned(),
        source,
    })
}

pub(crate) fn bad_image(manifest: &str, reason: &str) -> StoreError {
    StoreError::BadImage {
        manifest: manifest.to_owned(),
        reason: reason.to_owned(),
    }
}

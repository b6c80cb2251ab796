//! `docker save` archives: `manifest.json` (Config, RepoTags, Layers) and the files it
//! names. Docker 25 and later also put an OCI layout in the same tar; when an entry's config
//! is found under a manifest of that index, the image is loaded by that exact manifest,
//! else a manifest is made for it (the same bytes for the same content, every time).

use std::io::Read;

use oci_spec::image::ImageIndex;
use serde::Deserialize;
use serde_json::json;

use super::import::{Importer, MAX_JSON, Manifest, OCI_MANIFEST, parse_json};
use super::oci;
use crate::reference::Reference;
use crate::store::{Result, StoreError, digest_hex};
use crate::unpack::Compression;

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct Entry {
    #[serde(rename = "Config")]
    pub(crate) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub(crate) layers: Vec<String>,
}

/// Whether the source is a docker-archive.
pub(crate) fn is_docker(imp: &Importer<'_>) -> bool {
    imp.src.exists("manifest.json")
}

/// Loads every image of `manifest.json`.
pub(crate) fn load(imp: &mut Importer<'_>) -> Result<Vec<String>> {
    let what = format!("{} manifest.json", imp.src.name().display());
    let entries: Vec<Entry> = parse_json(&imp.src.read_small("manifest.json", MAX_JSON)?, &what)?;
    let index = if oci::is_layout(imp) {
        Some(oci::read_index(imp)?)
    } else {
        None
    };
    let mut keys = Vec::new();
    for e in &entries {
        let mut names = Vec::new();
        for t in e.repo_tags.iter().flatten() {
            names.push(Reference::parse(t)?.to_string());
        }
        let cfg_expected = digest_from_member(&e.config);
        let cfg = imp.blob(&e.config, cfg_expected.as_deref(), None)?;
        let found = index
            .as_ref()
            .and_then(|i| find_in_index(imp, i, &cfg.digest));
        let m = match found {
            Some(m) if m.manifest.layers().len() == e.layers.len() => m,
            _ => synthesize(imp, e, &cfg.digest, cfg.size)?,
        };
        keys.extend(imp.image(&m, &names)?);
    }
    Ok(keys)
}

/// The manifest of the archive's OCI index whose config is `config`. An entry that cannot
/// be read is passed over: `manifest.json` alone is enough to load the image.
fn find_in_index(imp: &mut Importer<'_>, index: &ImageIndex, config: &str) -> Option<Manifest> {
    for desc in index.manifests() {
        let digest = desc.digest().to_string();
        let found = imp
            .descriptor_blob(&digest, desc.size())
            .and_then(|_| imp.resolve_manifest(&digest, desc.media_type().as_ref(), 0));
        match found {
            Ok(m) if m.manifest.config().digest().to_string() == config => return Some(m),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(%err, %digest, "passing over an index entry of a docker-archive")
            }
        }
    }
    None
}

/// Makes an OCI manifest for an entry: its layers stored as they are, their media type by
/// their compression.
fn synthesize(
    imp: &mut Importer<'_>,
    e: &Entry,
    config: &str,
    config_size: u64,
) -> Result<Manifest> {
    let mut layers = Vec::new();
    for member in &e.layers {
        let expected = digest_from_member(member);
        let w = imp.blob(member, expected.as_deref(), None)?;
        let mut head = [0u8; 4];
        let mut blob = imp.store.blobs().open_blob(&w.digest)?;
        let n = read_head(&mut blob, &mut head);
        let media_type = match Compression::sniff(&head[..n]) {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        };
        layers.push(json!({"mediaType": media_type, "digest": w.digest, "size": w.size}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": config_size,
        },
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|source| StoreError::Json {
        what: "synthesized manifest".into(),
        source,
    })?;
    let w = imp.bytes(&bytes, "synthesized manifest")?;
    imp.resolve_manifest(&w.digest, OCI_MANIFEST, 0)
}

fn read_head(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// The digest a member's name gives: `blobs/sha256/<hex>` (Docker 25+), `<hex>.json` (a
/// legacy config). Legacy `<id>/layer.tar` names give none: the layer is hashed as read and
/// its DiffID verified when unpacked.
fn digest_from_member(member: &str) -> Option<String> {
    let hex = member
        .strip_prefix("blobs/sha256/")
        .or_else(|| member.strip_suffix(".json"))?;
    let d = format!("sha256:{hex}");
    digest_hex(&d).is_ok().then_some(d)
}

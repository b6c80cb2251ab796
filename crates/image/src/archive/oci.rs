//! OCI image layouts (a directory with `oci-layout`, `index.json`, `blobs/`) and OCI
//! archives (a tar of one): loading.

use std::collections::HashMap;

use oci_spec::image::ImageIndex;

use super::LoadOptions;
use super::import::{Importer, MAX_JSON, parse_json};
use crate::reference::Reference;
use crate::store::{Result, StoreError};

/// Annotation with the image's name on index entries (OCI image-spec).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The full name containerd and Docker write beside it.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Whether the source is an OCI layout (has `oci-layout` and `index.json`).
pub(crate) fn is_layout(imp: &Importer<'_>) -> bool {
    imp.src.exists("oci-layout") && imp.src.exists("index.json")
}

/// Checks the `oci-layout` file and reads `index.json`.
pub(crate) fn read_index(imp: &Importer<'_>) -> Result<ImageIndex> {
    #[derive(serde::Deserialize)]
    struct Layout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let what = |f: &str| format!("{} {f}", imp.src.name().display());
    let layout: Layout = parse_json(
        &imp.src.read_small("oci-layout", 4096)?,
        &what("oci-layout"),
    )?;
    if !layout.version.starts_with("1.") {
        return Err(StoreError::BadArchive {
            archive: imp.src.name().to_owned(),
            reason: format!("unsupported imageLayoutVersion {:?}", layout.version),
        });
    }
    parse_json(
        &imp.src.read_small("index.json", MAX_JSON)?,
        &what("index.json"),
    )
}

/// Loads every image the layout's index names.
pub(crate) fn load(imp: &mut Importer<'_>, opts: &LoadOptions) -> Result<Vec<String>> {
    let index = read_index(imp)?;
    let mut keys = Vec::new();
    for desc in index.manifests() {
        let names = names(desc.annotations().as_ref(), opts)?;
        let digest = desc.digest().to_string();
        imp.descriptor_blob(&digest, desc.size())?;
        let m = imp.resolve_manifest(&digest, desc.media_type().as_ref(), 0)?;
        keys.extend(imp.image(&m, &names)?);
    }
    Ok(keys)
}

/// The name of an index entry: containerd's full name, else `ref.name` when it is a full
/// reference (has `/`, `:` or `@`), else `ref.name` as a tag of [`LoadOptions::repository`];
/// none otherwise.
fn names(ann: Option<&HashMap<String, String>>, opts: &LoadOptions) -> Result<Vec<String>> {
    let Some(ann) = ann else {
        return Ok(Vec::new());
    };
    if let Some(full) = ann.get(CONTAINERD_NAME) {
        return Ok(vec![Reference::parse(full)?.to_string()]);
    }
    let Some(r) = ann.get(REF_NAME) else {
        return Ok(Vec::new());
    };
    if r.contains(['/', ':', '@']) {
        return Ok(vec![Reference::parse(r)?.to_string()]);
    }
    // A bare tag (`latest`, `1.0`) names no repository: as containerd does, the image goes
    // in without a name unless the caller gives one.
    match &opts.repository {
        Some(repo) => Ok(vec![Reference::parse(&format!("{repo}:{r}"))?.to_string()]),
        None => Ok(Vec::new()),
    }
}

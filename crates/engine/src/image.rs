//! A service's image from the local image store: its config and the snapshot dirs its
//! rootfs is an overlay of.

use std::path::PathBuf;

use compose_image::Store;

use crate::image_config::ImageConfig;

/// Why a service's image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "service {service}: image {reference} is not in the local store (load it with `compose image load`)"
    )]
    NotFound { service: String, reference: String },
    #[error("service {service}: image {reference}: {source}")]
    Store {
        service: String,
        reference: String,
        #[source]
        source: Box<compose_image::StoreError>,
    },
    #[error("service {service}: image {reference}: {reason}")]
    Bad {
        service: String,
        reference: String,
        reason: String,
    },
}

/// An image ready to run.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The normalized reference.
    pub reference: String,
    /// The manifest's digest: what a container holds in the image store while it exists.
    pub manifest: String,
    pub config: ImageConfig,
    /// Snapshot dirs, topmost layer first.
    pub lowers: Vec<PathBuf>,
}

impl Resolved {
    /// A file of the image's filesystem (the topmost layer that has it), if small enough.
    pub fn read_file(&self, path: &str) -> Option<String> {
        let rel = path.trim_start_matches('/');
        for l in &self.lowers {
            let p = l.join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() && m.len() < (4 << 20) => {
                    return std::fs::read_to_string(&p).ok();
                }
                // A whiteout or anything else hides lower layers' copies.
                Ok(_) => return None,
                Err(_) => continue,
            }
        }
        None
    }
}

/// Looks `reference` up for `service`.
pub fn resolve(store: &Store, service: &str, reference: &str) -> Result<Resolved, ImageError> {
    resolve_with(store, service, reference, |s| s.get_image(reference))
}

/// The image container `id` was made from: the one it holds in the store (by digest, as
/// Docker keeps a container on its image id after the name moves), else `reference` for a
/// container made before holds existed.
pub fn resolve_existing(
    store: &Store,
    id: &str,
    service: &str,
    reference: &str,
) -> Result<Resolved, ImageError> {
    let mut r = resolve_with(store, service, reference, |s| match s.held_image(id)? {
        Some(rec) => Ok(Some(rec)),
        None => s.get_image(reference),
    })?;
    // Named as the service names it (logs, labels), whatever it was found by.
    r.reference =
        compose_image::store::normalize(reference).unwrap_or_else(|_| reference.to_string());
    Ok(r)
}

fn resolve_with(
    store: &Store,
    service: &str,
    reference: &str,
    lookup: impl FnOnce(&Store) -> Result<Option<compose_image::ImageRecord>, compose_image::StoreError>,
) -> Result<Resolved, ImageError> {
    let serr = |source| ImageError::Store {
        service: service.to_string(),
        reference: reference.to_string(),
        source: Box::new(source),
    };
    let bad = |reason: String| ImageError::Bad {
        service: service.to_string(),
        reference: reference.to_string(),
        reason,
    };
    let rec = lookup(store)
        .map_err(serr)?
        .ok_or_else(|| ImageError::NotFound {
            service: service.to_string(),
            reference: reference.to_string(),
        })?;
    let raw = store
        .blobs()
        .read_small(&rec.config_digest, 16 << 20)
        .map_err(serr)?;
    let config = ImageConfig::from_json(&raw).map_err(|e| bad(e.to_string()))?;
    // A snapshot not made yet (a pull that deferred unpacking) or lost is made now from its
    // stored, verified blob.
    let (mut lowers, _) = store
        .ensure_snapshots(&rec, &compose_image::unpack::UnpackOptions::default(), true)
        .map_err(serr)?;
    // Overlay wants the topmost first.
    lowers.reverse();
    if lowers.is_empty() {
        return Err(bad("the image has no layers".into()));
    }
    Ok(Resolved {
        reference: rec.reference,
        manifest: rec.manifest_digest,
        config,
        lowers,
    })
}

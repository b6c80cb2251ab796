//! `build --pull` / `build.pull: true`: the base images a build starts FROM are pulled from
//! their registry before it runs, even when the store has them, so a rebuild sees the
//! registry's current image (and its cache keys change with it).

use compose_image::Store;
use compose_image::reference::Reference;
use compose_image::registry::{self, Client, ClientOptions, NoProgress};

/// Why a base image could not be pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("FROM {reference}: not an image reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error("FROM {reference}: pulling the base image failed: {source}")]
    Pull {
        reference: String,
        #[source]
        source: Box<compose_image::registry::RegistryError>,
    },
}

/// Pulls each of `references` into `store` (in order, each once).
pub fn pull_bases(store: &Store, references: &[String]) -> Result<(), PullError> {
    let mut done: Vec<&str> = Vec::new();
    for r in references {
        if done.contains(&r.as_str()) {
            continue;
        }
        done.push(r);
        let reference = Reference::parse(r).map_err(|e| PullError::Reference {
            reference: r.clone(),
            reason: e.to_string(),
        })?;
        Client::new(&reference.registry, ClientOptions::default())
            .and_then(|client| registry::pull(store, &client, &reference, &NoProgress))
            .map_err(|e| PullError::Pull {
                reference: r.clone(),
                source: Box::new(e),
            })?;
    }
    Ok(())
}

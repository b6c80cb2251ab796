//! Images `up` pulls before it creates containers, by each service's `pull_policy`
//! (`missing` by default, `always`, `never`; `build` services are built instead) and the
//! `--pull` flag over it. Pulls go through the image crate's registry client.

use std::collections::BTreeSet;

use compose::model::Project as Model;
use compose_image::Reference;
use compose_image::registry::{self, Client, ClientOptions, NoProgress};

use crate::engine::{Engine, Kind, Progress};
use crate::error::{Error, Result};

/// `up --pull`: over each service's `pull_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Each service's own `pull_policy` (default `missing`).
    #[default]
    Service,
    Always,
    Missing,
    Never,
}

impl PullPolicy {
    pub fn parse(s: &str) -> Option<PullPolicy> {
        match s {
            "always" => Some(PullPolicy::Always),
            "missing" | "if_not_present" => Some(PullPolicy::Missing),
            "never" => Some(PullPolicy::Never),
            _ => None,
        }
    }
}

impl Engine {
    /// Pulls the images of `selected` services that their policy asks for.
    pub fn pull_for_up(
        &self,
        project: &str,
        model: &Model,
        selected: &BTreeSet<String>,
        policy: PullPolicy,
        progress: &dyn Progress,
    ) -> Result<()> {
        for (name, svc) in &model.services {
            if !selected.contains(name) || svc.image.is_empty() {
                continue;
            }
            let own = svc.pull_policy.as_str();
            if svc.build.is_some()
                && (own.is_empty() || own == "build")
                && policy != PullPolicy::Always
            {
                // Built by `build_for_up` when missing.
                continue;
            }
            let effective = match policy {
                PullPolicy::Service => PullPolicy::parse(own).unwrap_or(PullPolicy::Missing),
                other => other,
            };
            let present = self
                .images
                .get_image(&svc.image)
                .map_err(|e| Error::Other(format!("image store: {e}")))?
                .is_some();
            let pull = match effective {
                PullPolicy::Always => true,
                PullPolicy::Never | PullPolicy::Service => false,
                PullPolicy::Missing => !present,
            };
            if !pull {
                continue;
            }
            let _ = project;
            progress.event(Kind::Image, &svc.image, "Pulling");
            let reference = Reference::parse(&svc.image).map_err(|e| Error::Service {
                service: name.clone(),
                message: format!("image {}: {e}", svc.image),
            })?;
            let pulled = Client::new(&reference.registry, ClientOptions::default())
                .and_then(|client| registry::pull(&self.images, &client, &reference, &NoProgress));
            match pulled {
                Ok(_) => progress.event(Kind::Image, &svc.image, "Pulled"),
                // An image that is there is still usable when `always` could not refresh it.
                Err(e) if present => progress.warn(&format!(
                    "{name}: pull of {} failed, using the local image: {e}",
                    svc.image
                )),
                Err(e) => {
                    return Err(Error::Service {
                        service: name.clone(),
                        message: format!(
                            "image {} is not in the local store and pulling it failed: {e}",
                            svc.image
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

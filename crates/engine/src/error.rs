//! The engine's error: one clear message naming the project, service or container.

use crate::image::ImageError;
use crate::runner::RunError;
use crate::spec::SpecError;
use crate::store::StoreError;
use crate::volumes::VolumeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error("container runtime: {0}")]
    Runtime(#[from] compose_runtime::Error),
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
    #[error("service \"{service}\" didn't complete successfully: exit {code}")]
    NotCompleted { service: String, code: i32 },
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("{0}")]
    Other(String),
    /// Several steps failed (teardown goes on after a failure and reports them all).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<Error>),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Collects the errors of steps that all run.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<Error>);

impl Errors {
    pub fn note<T>(&mut self, r: std::result::Result<T, impl Into<Error>>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e.into());
                None
            }
        }
    }

    pub fn into_result(mut self) -> Result<()> {
        // Parallel steps failing for one cause (two dependents of one unhealthy service)
        // report it once.
        let mut seen = std::collections::HashSet::new();
        self.0.retain(|e| seen.insert(e.to_string()));
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(Error::Many(self.0)),
        }
    }
}

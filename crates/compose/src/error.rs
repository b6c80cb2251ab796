//! The one error type of the crate: every variant says where (file:line:col and the path in
//! the model, like `services.web.ports[1]`) when it can.

use std::fmt;
use std::path::PathBuf;

use crate::yaml::{Pos, YamlError};

/// Everything that can go wrong while loading a project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The YAML itself does not parse.
    #[error("{0}")]
    Yaml(#[from] YamlError),
    /// A value in a file is wrong. `path` is the dotted path in the model (`services.web.image`).
    #[error("{}", At(pos, path, message))]
    At {
        pos: Pos,
        path: String,
        message: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Several independent errors, reported together.
    #[error("{}", Joined(.0))]
    Many(Vec<Error>),
    /// An error that no file position belongs to (a command-line value, say).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An error at a node of a file.
    pub fn at(pos: &Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::At {
            pos: pos.clone(),
            path: path.into(),
            message: message.into(),
        }
    }

    /// Folds a list of errors into one (none → `Ok`).
    pub fn collect(mut errors: Vec<Error>) -> Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

struct At<'a>(&'a Pos, &'a String, &'a String);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pos, path, message) = (self.0, self.1, self.2);
        match (pos.file.is_empty(), path.is_empty()) {
            (true, true) => write!(f, "{message}"),
            (true, false) => write!(f, "{path}: {message}"),
            (false, true) => write!(f, "{pos}: {message}"),
            (false, false) => write!(f, "{pos}: {path}: {message}"),
        }
    }
}

struct Joined<'a>(&'a [Error]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! What the reload loop reports, and its one-line text.

use std::fmt;
use std::path::PathBuf;

use super::changes::ServiceChange;
use crate::Kind;
use crate::store::ContainerRow;

/// One report of the loop.
#[derive(Debug, Clone)]
pub enum Event {
    /// The loop watches these files (sent once it is ready, and after each reload that
    /// changed the set).
    Watching { files: Vec<PathBuf> },
    /// These files changed: a reload begins.
    Reloading { files: Vec<PathBuf> },
    /// One service's change and what was done to it.
    Service(ServiceChange),
    /// The project loaded as before: nothing to do.
    Unchanged,
    /// The project no longer loads (the message names file and line): nothing was changed.
    Invalid { error: String },
    /// Applying the change failed part way; the next save tries again.
    Failed { error: String },
    /// The change is applied; these are the project's containers now, in start order
    /// (an attached `up` follows the new ones).
    Applied { containers: Vec<ContainerRow> },
    /// A step of the apply (` Container p-web-1  Recreated`).
    Progress {
        kind: Kind,
        name: String,
        status: String,
    },
    /// Something the user should know that did not stop the apply.
    Warning(String),
}

fn names(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Watching { files } => write!(f, "reload: watching {}", names(files)),
            Event::Reloading { files } => write!(f, "reload: {} changed", names(files)),
            Event::Service(c) => write!(f, "reload: {c}"),
            Event::Unchanged => write!(f, "reload: no service changed"),
            Event::Invalid { error } => {
                write!(
                    f,
                    "reload: the project does not load, nothing changed: {error}"
                )
            }
            Event::Failed { error } => write!(f, "reload: applying failed: {error}"),
            Event::Applied { containers } => {
                write!(f, "reload: applied ({} containers)", containers.len())
            }
            Event::Progress { kind, name, status } => {
                write!(f, " {} {name}  {status}", kind.as_str())
            }
            Event::Warning(w) => write!(f, "WARN[0000] {w}"),
        }
    }
}

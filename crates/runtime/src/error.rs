//! The runtime's one error type.

use std::path::PathBuf;

use crate::sys::Errno;

/// What went wrong, with the syscall or path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use 1-64 of [A-Za-z0-9_.-], not starting with . or -")]
    InvalidId(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("invalid spec: {0}")]
    Invalid(String),
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error(
        "cannot grant {0}: not in the host's capability bounding set (the runtime can't give \
         a container what it doesn't have)"
    )]
    CapabilityUnavailable(String),
    #[error(
        "rlimit {name} {soft}:{hard}: above this host's hard limit {host_hard}, and raising it \
         needs CAP_SYS_RESOURCE, which this host's root lacks"
    )]
    RlimitAboveHard {
        name: String,
        soft: u64,
        hard: u64,
        host_hard: u64,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{syscall}: {errno}")]
    Sys { syscall: String, errno: Errno },
    #[error("container init failed at {step}: {errno}")]
    Init { step: String, errno: Errno },
    #[error("exec in the container failed at {step}: {errno}")]
    Exec { step: String, errno: Errno },
    #[error("container init exited during setup without saying why")]
    InitDied,
    #[error("container {id:?} is {status}, it must be {expected}")]
    BadState {
        id: String,
        status: String,
        expected: &'static str,
    },
    #[error("the exit status of container {0:?} is known only to the process that created it")]
    NotParent(String),
    #[error("container {id:?}: {message}")]
    Shim { id: String, message: String },
    #[error("starting container {id:?}: {message}")]
    Start { id: String, message: String },
    #[error("log {path}: not a CRI log line: {line:?}")]
    BadLogLine { path: PathBuf, line: String },
    #[error("cgroup {path}: {message}")]
    Cgroup { path: PathBuf, message: String },
    #[error("state of container {id:?}: {message}")]
    State { id: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: &str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.to_string(),
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(syscall: impl Into<String>, errno: Errno) -> Error {
        Error::Sys {
            syscall: syscall.into(),
            errno,
        }
    }
}

impl std::error::Error for Errno {}

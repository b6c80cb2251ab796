//! Progress of pulls and pushes, per blob, for the CLI to draw.

/// How a blob's transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Pulled from the registry.
    Downloaded,
    /// Already in the local store (pull) or the registry (push): nothing sent.
    Exists,
    /// Uploaded.
    Pushed,
    /// Mounted from another repository of the registry: nothing sent.
    Mounted,
}

/// One step of a pull or push.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The manifest is known: its digest (an index's when the reference names one) and the
    /// blobs to transfer.
    Resolved {
        reference: &'a str,
        digest: &'a str,
        layers: usize,
    },
    /// A blob's transfer begins.
    Start { digest: &'a str, size: u64 },
    /// Bytes of a blob transferred so far.
    Bytes {
        digest: &'a str,
        done: u64,
        total: u64,
    },
    /// A transfer broke and is tried again.
    Retry {
        digest: &'a str,
        attempt: u32,
        error: &'a str,
    },
    /// A blob is done.
    Done { digest: &'a str, outcome: Outcome },
    /// A layer is being unpacked into its snapshot (pulls).
    Unpacking { digest: &'a str },
}

/// Receives the events of a pull or push, from the transfer threads.
pub trait Progress: Sync {
    fn event(&self, event: &Event<'_>);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: &Event<'_>) {}
}

/// The short form of a digest that Docker shows: 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

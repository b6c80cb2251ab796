//! Images: references, the content store, registry pull and push, archives, layer unpacking
//! and the Dockerfile builder. Knows nothing of compose files.

pub mod archive;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use reference::{Reference, ReferenceError};
pub use store::{ImageRecord, Store, StoreError};

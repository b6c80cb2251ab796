//! `delete`: a stopped container removed (--force: killed first; a missing one is fine).

use anyhow::Context;
use compose_runtime::{Error, Runtime};

pub fn delete(rt: &Runtime, id: &str, force: bool) -> anyhow::Result<()> {
    let c = match rt.load(id) {
        Ok(c) => c,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    c.delete(force).with_context(|| format!("delete {id}"))
}

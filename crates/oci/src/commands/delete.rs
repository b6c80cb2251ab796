//! `delete`: a stopped container removed. As runc: a created one (never started) is removed
//! too; a running one needs --force; with --force a missing one is no error.

use anyhow::Context;
use compose_runtime::{Error, Runtime, Status};

pub fn delete(rt: &Runtime, id: &str, force: bool) -> anyhow::Result<()> {
    let c = match rt.load(id) {
        Ok(c) => c,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let force = force || c.status() == Status::Created;
    c.delete(force).with_context(|| format!("delete {id}"))
}

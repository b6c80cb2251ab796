//! `start`: the created container's process exec'd.

use anyhow::Context;
use compose_runtime::Runtime;

pub fn start(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let mut c = rt.load(id)?;
    c.start().with_context(|| format!("start {id}"))
}

//! `run`: create and start; in the foreground, wait, remove, and exit with its status.

use compose_runtime::Runtime;

use crate::cli::RunArgs;

pub fn run(rt: &Runtime, a: &RunArgs) -> anyhow::Result<u8> {
    let mut c = super::create::create(rt, &a.create)?;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    let status = c.wait();
    let deleted = c.delete(true);
    let status = status?;
    deleted?;
    Ok(u8::try_from(status.code).unwrap_or(255))
}

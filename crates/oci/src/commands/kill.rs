//! `kill`: a signal, by name or number, to the init (or with --all to every process).

use anyhow::Context;
use compose_runtime::Runtime;

/// `KILL`, `SIGKILL`, `sigkill`, `RTMIN+1` or `9`.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    compose_runtime::signal::parse(s).with_context(|| format!("unknown signal {s:?}"))
}

pub fn kill(rt: &Runtime, id: &str, signal: Option<&str>, all: bool) -> anyhow::Result<()> {
    let sig = parse_signal(signal.unwrap_or("TERM"))?;
    let c = rt.load(id)?;
    if !all {
        return c.kill(sig).with_context(|| format!("kill {id}"));
    }
    for pid in c.pids()? {
        // SAFETY: kill(2) with plain integers; a pid that just exited gives ESRCH.
        unsafe { libc::kill(pid, sig) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() -> anyhow::Result<()> {
        assert_eq!(parse_signal("KILL")?, 9);
        assert_eq!(parse_signal("sigterm")?, 15);
        assert_eq!(parse_signal("10")?, 10);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        Ok(())
    }
}

//! `kill`: a signal, by name or number, to the init (or with --all to every process).

use anyhow::{Context, bail};
use compose_runtime::Runtime;

const SIGNALS: [(&str, i32); 20] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("WINCH", libc::SIGWINCH),
];

/// `KILL`, `SIGKILL`, `sigkill` or `9`.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("signal {n} is out of range (1-64)");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .with_context(|| format!("unknown signal {s:?}"))
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

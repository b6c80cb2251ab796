//! Running a credential helper (`docker-credential-<name> get`) with a deadline: a helper
//! that hangs (a locked keychain waiting for a prompt nobody sees, a stuck network call)
//! must not hang the pull. Past the deadline it is killed and the caller gets an error
//! naming the helper and the timeout.
//!
//! The helper stays in our process group: a helper that asks for a passphrase on the
//! terminal (gpg's pinentry under `pass`) would be stopped by SIGTTIN in a group of its own.
//! So only the helper itself is killed; whatever it started and left holding its pipes is
//! not waited for.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a helper may take by default; Docker's own CLI has no limit, but a pull that
/// never ends is worse than an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variable overriding [`DEFAULT_TIMEOUT`], in seconds (decimals allowed).
pub const TIMEOUT_ENV: &str = "COMPOSE_CREDENTIAL_HELPER_TIMEOUT";

/// The helper timeout: [`TIMEOUT_ENV`] when set to a positive number of seconds, else the
/// default.
pub fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| parse_timeout(&v))
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// `"2"`, `"0.5"`: seconds, positive and finite; anything else is no override.
fn parse_timeout(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

/// What a helper printed and how it ended.
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

/// Runs `exe get` with `input` on stdin; an error message (without the helper's name,
/// which the caller adds) when it cannot run or outlives `timeout`.
pub(crate) fn run(exe: &Path, input: &[u8], timeout: Duration) -> Result<Output, String> {
    let mut child = Command::new(exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gives EPIPE here: its answer says why. The
        // input is a URL, far below a pipe's buffer, so this write does not block.
        let _ = stdin.write_all(input);
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = match wait_until(&mut child, Instant::now() + timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill(&mut child);
            return Err(format!(
                "gave no answer within {:?} and was killed (set {TIMEOUT_ENV} to wait longer)",
                timeout
            ));
        }
        Err(e) => {
            kill(&mut child);
            return Err(format!("waiting for {} failed: {e}", exe.display()));
        }
    };
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

/// Reads a pipe to its end on a thread of its own, so a helper filling one pipe while we
/// wait never blocks.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    let mut pipe = pipe?;
    Some(std::thread::spawn(move || {
        let mut out = Vec::new();
        // A read error leaves what was read: the exit status says the rest.
        let _ = pipe.read_to_end(&mut out);
        out
    }))
}

fn join(h: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    h.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// Polls the child's exit until `deadline` (a helper answers in milliseconds; the poll
/// interval grows to 20 ms): `None` when it is still running then.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// SIGKILLs the helper and reaps it (not yet reaped, its pid cannot have been reused). The
/// pipe readers are left to end when the last holder of the pipes exits.
fn kill(child: &mut Child) {
    if let Err(err) = child.kill() {
        tracing::debug!(?err, "killing the credential helper failed");
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout(" 0.25 "), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0"), None);
        assert_eq!(parse_timeout("-1"), None);
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("inf"), None);
    }
}

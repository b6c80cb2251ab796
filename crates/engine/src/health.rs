//! Health checks: the service's `healthcheck` (else the image's HEALTHCHECK), run in the
//! container with the container's environment, user and working dir, on Docker's schedule
//! (`start_interval` during `start_period`, whose failures don't count, then `interval`;
//! `retries` failures in a row make it unhealthy; a probe past `timeout` fails and is
//! killed). Each probe's result goes to `<root>/health/<id>.json` with the last outputs, so
//! `ps` and later commands can show the status.
//!
//! The project's supervisor runs the checks of its running containers; `up` (for
//! `service_healthy` and `--wait`) follows its records, and probes itself only when no
//! supervisor runs.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use compose::model::service::Service;
use compose_runtime::ExecStdio;
use oci_spec::runtime::{ProcessBuilder, UserBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image_config::ImageConfig;
use crate::runner::Live;
use crate::store::ContainerRow;

/// Docker's defaults.
const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(30);
const START_INTERVAL: Duration = Duration::from_secs(5);
const RETRIES: u32 = 3;
/// Kept per probe, as Docker keeps it.
const OUTPUT_LIMIT: usize = 4096;
const LOG_KEEP: usize = 5;
/// How often a waiter looks at the supervisor's record.
const WATCH_PAUSE: Duration = Duration::from_millis(50);

/// A container's health check, fixed when the container is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What runs: the test's command (`CMD-SHELL` already turned into `sh -c`).
    pub args: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub start_interval: Duration,
    /// The container process's environment, user and working dir.
    pub env: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
}

/// Where a container's health stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Healthy,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "health: starting",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub start: u64,
    pub end: u64,
    pub exit_code: i32,
    pub output: String,
}

/// What is recorded of a container's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

impl State {
    /// A container just started: no probe yet.
    pub fn starting() -> State {
        State {
            status: Status::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Takes one probe's result, as Docker: a pass makes it healthy; a failure counts
    /// (outside the start period), and `retries` of them in a row make it unhealthy.
    pub fn apply(&mut self, probe: Probe, in_start_period: bool, retries: u32) {
        let ok = probe.exit_code == 0;
        self.log.push(probe);
        if self.log.len() > LOG_KEEP {
            self.log.remove(0);
        }
        if ok {
            self.status = Status::Healthy;
            self.failing_streak = 0;
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = Status::Unhealthy;
            }
        }
    }

    /// The error for an unhealthy container, with its last probe's output.
    fn unhealthy(&self, name: &str) -> Error {
        let last = self.log.last().map(|p| p.output.trim().to_string());
        Error::Other(format!(
            "container {name} is unhealthy{}",
            last.filter(|l| !l.is_empty())
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))
    }
}

/// The check for a service: its own `healthcheck` over the image's, none when disabled.
pub fn check_for(
    svc: &Service,
    image: &ImageConfig,
    process: Option<&oci_spec::runtime::Process>,
) -> Option<Check> {
    let own = svc.healthcheck.as_ref();
    if own.is_some_and(|h| h.is_disabled()) {
        return None;
    }
    let img = image.healthcheck.as_ref();
    let test = own
        .and_then(|h| h.test.clone())
        .or_else(|| strings(img?.get("Test")?))?;
    let args = match test.split_first()? {
        (kind, rest) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        (kind, [line]) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), line.clone()]
        }
        _ => return None,
    };
    let nanos = |key: &str| {
        img.and_then(|h| h.get(key)?.as_u64())
            .filter(|n| *n > 0)
            .map(Duration::from_nanos)
    };
    let pick = |mine: Option<Duration>, key: &str, default: Duration| {
        mine.filter(|d| !d.is_zero())
            .or_else(|| nanos(key))
            .unwrap_or(default)
    };
    let p = process;
    Some(Check {
        args,
        interval: pick(
            own.and_then(|h| h.interval).map(|d| d.as_std()),
            "Interval",
            INTERVAL,
        ),
        timeout: pick(
            own.and_then(|h| h.timeout).map(|d| d.as_std()),
            "Timeout",
            TIMEOUT,
        ),
        retries: own
            .and_then(|h| h.retries)
            .map(|r| r as u32)
            .or_else(|| {
                img.and_then(|h| h.get("Retries")?.as_u64())
                    .map(|r| r as u32)
            })
            .filter(|r| *r > 0)
            .unwrap_or(RETRIES),
        start_period: pick(
            own.and_then(|h| h.start_period).map(|d| d.as_std()),
            "StartPeriod",
            Duration::ZERO,
        ),
        start_interval: pick(
            own.and_then(|h| h.start_interval).map(|d| d.as_std()),
            "StartInterval",
            START_INTERVAL,
        ),
        env: p.and_then(|p| p.env().clone()).unwrap_or_default(),
        uid: p.map(|p| p.user().uid()).unwrap_or(0),
        gid: p.map(|p| p.user().gid()).unwrap_or(0),
        cwd: p
            .map(|p| p.cwd().display().to_string())
            .unwrap_or_else(|| "/".into()),
    })
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(String::from))
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Engine {
    fn health_path(&self, id: &str) -> PathBuf {
        self.root.join("health").join(format!("{id}.json"))
    }

    /// The recorded health of a container, if it has a check that ran.
    pub fn health(&self, id: &str) -> Option<State> {
        let bytes = std::fs::read(self.health_path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn save_health(&self, id: &str, state: &State) {
        let path = self.health_path(id);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension("tmp");
        if let Ok(bytes) = serde_json::to_vec(state)
            && std::fs::write(&tmp, bytes).is_ok()
        {
            let _ = std::fs::rename(&tmp, &path);
        }
    }

    /// Forgets a removed container's health.
    pub fn forget_health(&self, id: &str) {
        let _ = std::fs::remove_file(self.health_path(id));
    }

    /// Runs the check once in the container.
    pub fn probe(&self, row: &ContainerRow, check: &Check) -> Result<Probe> {
        let start = now_secs();
        let c = self
            .runner
            .runtime()
            .load(&row.id)
            .map_err(Error::Runtime)?;
        let process = ProcessBuilder::default()
            .args(check.args.clone())
            .env(check.env.clone())
            .cwd(check.cwd.clone())
            .user(
                UserBuilder::default()
                    .uid(check.uid)
                    .gid(check.gid)
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))?,
            )
            .build()
            .map_err(|e| Error::Other(e.to_string()))?;
        let (mut r, w) = std::io::pipe().map_err(|e| Error::Other(format!("pipe: {e}")))?;
        let stdio = ExecStdio {
            stdout: Some(w.as_fd()),
            stderr: Some(w.as_fd()),
            ..ExecStdio::default()
        };
        let running = match c.spawn_exec(&process, stdio) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Probe {
                    start,
                    end: now_secs(),
                    exit_code: -1,
                    output: e.to_string(),
                });
            }
        };
        drop(w);
        let pid = running.pid();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(running.wait());
        });
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = (&mut r).take(OUTPUT_LIMIT as u64).read_to_end(&mut out);
            // Drain the rest so the probe never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            out
        });
        let (code, timed_out) = match rx.recv_timeout(check.timeout) {
            Ok(status) => (status.map(|s| s.code).unwrap_or(-1), false),
            Err(_) => {
                // SAFETY: kill on our own (unreaped) child's pid.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = rx.recv();
                (-1, true)
            }
        };
        let mut output = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
        if timed_out {
            output = format!(
                "Health check exceeded timeout ({}s)",
                check.timeout.as_secs_f64()
            );
        }
        Ok(Probe {
            start,
            end: now_secs(),
            exit_code: code,
            output,
        })
    }

    /// Checks `row` until it is healthy (Ok), unhealthy or gone (an error naming it), or
    /// `deadline` passes. When the project's supervisor runs, it probes and this watches its
    /// records (one prober per container); otherwise this probes and records.
    pub fn wait_healthy(
        &self,
        row: &ContainerRow,
        check: &Check,
        deadline: Option<Instant>,
    ) -> Result<()> {
        // Lets it see the container running now rather than at its next look.
        if crate::supervisor::poke(&self.root, &row.project).is_ok()
            && crate::supervisor::is_running(&self.root, &row.project)
        {
            return self.watch_health(row, deadline);
        }
        self.probe_until_healthy(row, check, deadline)
    }

    /// Follows the supervisor's records of `row` until healthy, unhealthy or gone.
    fn watch_health(&self, row: &ContainerRow, deadline: Option<Instant>) -> Result<()> {
        loop {
            match self.health(&row.id) {
                Some(s) if s.status == Status::Healthy => return Ok(()),
                Some(s) if s.status == Status::Unhealthy => return Err(s.unhealthy(&row.name)),
                _ => {}
            }
            if !matches!(self.live(row), Live::Running | Live::Created) {
                return Err(Error::Other(format!(
                    "container {} exited before it became healthy",
                    row.name
                )));
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(Error::Other(format!(
                    "container {} did not become healthy in time",
                    row.name
                )));
            }
            std::thread::sleep(WATCH_PAUSE);
        }
    }

    fn probe_until_healthy(
        &self,
        row: &ContainerRow,
        check: &Check,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let started = Instant::now();
        let mut state = self.health(&row.id).unwrap_or_else(State::starting);
        if state.status == Status::Healthy {
            return Ok(());
        }
        loop {
            let in_start_period = started.elapsed() < check.start_period;
            let pause = if in_start_period {
                check.start_interval
            } else {
                check.interval
            };
            let wake = Instant::now() + pause;
            if deadline.is_some_and(|d| wake > d) {
                std::thread::sleep(
                    deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now())),
                );
                return Err(Error::Other(format!(
                    "container {} did not become healthy in time",
                    row.name
                )));
            }
            std::thread::sleep(pause);
            match self.live(row) {
                Live::Running => {}
                _ => {
                    return Err(Error::Other(format!(
                        "container {} exited before it became healthy",
                        row.name
                    )));
                }
            }
            let probe = self.probe(row, check)?;
            state.apply(probe, in_start_period, check.retries);
            self.save_health(&row.id, &state);
            match state.status {
                Status::Healthy => return Ok(()),
                Status::Unhealthy => return Err(state.unhealthy(&row.name)),
                Status::Starting => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let p = compose::load::load_from_str(yaml).unwrap().model.unwrap();
        p.services["s"].clone()
    }

    #[test]
    fn service_check_over_the_image_one() {
        let img = ImageConfig {
            healthcheck: Some(serde_json::json!({
                "Test": ["CMD", "wget", "-q", "localhost"],
                "Interval": 2_000_000_000u64, "Retries": 7
            })),
            ..ImageConfig::default()
        };
        let none = service("services:\n  s:\n    image: x\n");
        let c = check_for(&none, &img, None).unwrap();
        assert_eq!(c.args, ["wget", "-q", "localhost"]);
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.retries, 7);
        assert_eq!(c.timeout, TIMEOUT);
        let own = service(
            "services:\n  s:\n    image: x\n    healthcheck:\n      test: curl -f x\n      interval: 1s\n      start_period: 5s\n",
        );
        let c = check_for(&own, &img, None).unwrap();
        assert_eq!(c.args, ["/bin/sh", "-c", "curl -f x"]);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(
            c.retries, 7,
            "what the service leaves out comes from the image"
        );
        assert_eq!(c.start_period, Duration::from_secs(5));
        let off = service("services:\n  s:\n    image: x\n    healthcheck:\n      disable: true\n");
        assert!(check_for(&off, &img, None).is_none());
        let none_test =
            service("services:\n  s:\n    image: x\n    healthcheck:\n      test: [NONE]\n");
        assert!(check_for(&none_test, &img, None).is_none());
        assert!(check_for(&none, &ImageConfig::default(), None).is_none());
    }
}

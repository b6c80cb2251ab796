//! Restart policies: what `restart:` and `deploy.restart_policy` ask for, Docker's decision
//! when a container's process exits, its backoff, and the per-container record the
//! supervisor and the commands share (`<root>/restarts/<id>.json`: restarts so far, whether
//! the user stopped it, whether a restart is due).
//!
//! The supervisor applies the policy ([`crate::supervisor`]); the commands mark what the
//! user did: a container the user stops or kills is never restarted, one the user starts
//! begins afresh.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use compose::model::service::Service;
use compose_network::endpoint::{self, EndpointSpec};
use compose_network::netlink::NetnsRef;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::runner::{Live, RunError};
use crate::store::{ContainerRow, RecordedState, now};

/// Docker's backoff: the first delay, doubled at each restart up to the cap, back to the
/// first once a run lasted [`RESET_AFTER`].
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A bad `restart:` or `deploy.restart_policy`.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    #[error("service {service}: invalid restart policy {value:?}: {why}")]
    Invalid {
        service: String,
        value: String,
        why: &'static str,
    },
}

/// When a container is restarted after its process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    No,
    Always,
    OnFailure,
    UnlessStopped,
}

/// A container's restart policy, fixed when the container is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// `on-failure:N` / `max_attempts`: at most this many restarts (0: no limit).
    #[serde(default)]
    pub max: u32,
    /// `deploy.restart_policy.delay`: a fixed wait before each restart instead of the
    /// backoff.
    #[serde(default)]
    pub delay: Option<Duration>,
    /// `deploy.restart_policy.window`: a run that lasted this long succeeded, so the
    /// attempts count from zero again.
    #[serde(default)]
    pub window: Option<Duration>,
}

impl Policy {
    /// The policy of `svc`: `deploy.restart_policy` over `restart:` (as Docker Compose maps
    /// them onto the engine's), none when neither is set.
    pub fn of(name: &str, svc: &Service) -> std::result::Result<Policy, RestartError> {
        let bad = |value: &str, why| RestartError::Invalid {
            service: name.to_string(),
            value: value.to_string(),
            why,
        };
        if let Some(rp) = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
            // The Compose spec's default condition is `any`.
            let mode = match rp.condition.as_str() {
                "" | "any" | "always" => Mode::Always,
                "none" | "no" => Mode::No,
                "on-failure" => Mode::OnFailure,
                "unless-stopped" => Mode::UnlessStopped,
                other => return Err(bad(other, "condition must be none, on-failure or any")),
            };
            let max = match rp.max_attempts {
                None => 0,
                Some(n) => {
                    u32::try_from(n).map_err(|_| bad(&n.to_string(), "too many attempts"))?
                }
            };
            return Ok(Policy {
                mode,
                max,
                delay: rp.delay.map(|d| d.as_std()).filter(|d| !d.is_zero()),
                window: rp.window.map(|d| d.as_std()).filter(|d| !d.is_zero()),
            });
        }
        Policy::parse(&svc.restart).map_err(|why| bad(&svc.restart, why))
    }

    /// `no`, `always`, `unless-stopped`, `on-failure[:max]` (empty: `no`).
    pub fn parse(text: &str) -> std::result::Result<Policy, &'static str> {
        let (name, max) = match text.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (text, None),
        };
        let mode = match name {
            "" | "no" => Mode::No,
            "always" => Mode::Always,
            "on-failure" => Mode::OnFailure,
            "unless-stopped" => Mode::UnlessStopped,
            _ => return Err("must be no, always, on-failure[:max-retries] or unless-stopped"),
        };
        let max = match max {
            None => 0,
            Some(_) if mode != Mode::OnFailure => {
                return Err("only on-failure takes a maximum retry count");
            }
            Some(m) => m
                .parse::<u32>()
                .map_err(|_| "the maximum retry count must be a whole number")?,
        };
        Ok(Policy {
            mode,
            max,
            delay: None,
            window: None,
        })
    }

    /// Docker's decision when the process exited with `code` after `ran_for`, `count`
    /// restarts so far: the attempts to count against the maximum (reset by a run longer
    /// than the window), and whether to restart. A container the user stopped never is.
    pub fn decide(
        &self,
        code: i32,
        stopped_by_user: bool,
        count: u32,
        ran_for: Duration,
    ) -> (u32, bool) {
        let count = match self.window {
            Some(w) if ran_for >= w => 0,
            _ => count,
        };
        if stopped_by_user {
            return (count, false);
        }
        let restart = match self.mode {
            Mode::No => false,
            Mode::Always | Mode::UnlessStopped => self.max == 0 || count < self.max,
            Mode::OnFailure => code != 0 && (self.max == 0 || count < self.max),
        };
        (count, restart)
    }
}

/// The wait before the next restart: 100 ms doubled at each restart, at most a minute,
/// back to 100 ms after a run of 10 s or more (as Docker's restart manager).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    /// The delay before restarting a process that ran for `ran_for`.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        let last = if ran_for >= RESET_AFTER {
            None
        } else {
            self.last
        };
        let d = match last {
            None => FIRST_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.last = Some(d);
        d
    }
}

/// What is recorded of a container's restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Restarts by the policy since the user last started it.
    #[serde(default)]
    pub count: u32,
    /// The user stopped or killed it: the policy does not apply.
    #[serde(default)]
    pub stopped: bool,
    /// The supervisor decided to restart it and has not yet.
    #[serde(default)]
    pub pending: bool,
}

impl Engine {
    fn restart_path(&self, id: &str) -> PathBuf {
        self.root.join("restarts").join(format!("{id}.json"))
    }

    /// The mark of a user's stop: an empty file beside the record. Making one costs the
    /// file system no data to write (a record renamed over the old one does: ext4 then
    /// flushes the new file's data at once), which counts on a `down` of many containers.
    fn stopped_mark(&self, id: &str) -> PathBuf {
        self.root.join("restarts").join(format!("{id}.stopped"))
    }

    /// The container's restart record (a fresh one when none was written). A user's stop
    /// mark makes it stopped, and nothing is pending then.
    pub fn restart_record(&self, id: &str) -> Record {
        let mut r: Record = std::fs::read(self.restart_path(id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if self.stopped_mark(id).exists() {
            r.stopped = true;
        }
        if r.stopped {
            r.pending = false;
        }
        r
    }

    /// Writes the record (a new file renamed over the old, so readers never see half).
    pub(crate) fn save_restart_record(&self, id: &str, r: &Record) -> Result<()> {
        let path = self.restart_path(id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Other(format!("create {}: {e}", dir.display())))?;
        }
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(r).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::Other(format!("write {}: {e}", path.display())))
    }

    /// The user stops or kills the container: its policy must not undo that. Written
    /// before the signal, so the supervisor seeing the exit already knows.
    pub(crate) fn mark_user_stopped(&self, id: &str) -> Result<()> {
        let mark = self.stopped_mark(id);
        let made = mark
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&mark));
        made.map(drop)
            .map_err(|e| Error::Other(format!("write {}: {e}", mark.display())))
    }

    /// The user starts the container: the policy applies again, counting from zero.
    /// Its health starts over too.
    pub(crate) fn mark_user_started(&self, id: &str) -> Result<()> {
        self.forget_health(id);
        self.save_restart_record(id, &Record::default())?;
        match std::fs::remove_file(self.stopped_mark(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Other(format!(
                "remove {}: {e}",
                self.stopped_mark(id).display()
            ))),
        }
    }

    /// Forgets a removed container's restarts.
    pub fn forget_restarts(&self, id: &str) {
        let _ = std::fs::remove_file(self.restart_path(id));
        let _ = std::fs::remove_file(self.stopped_mark(id));
    }

    /// Whether the project's supervisor will make this stopped container run again:
    /// a restart is due, or its exit is not handled yet and its policy asks for one. A
    /// `logs -f` keeps following such a container.
    pub fn restart_expected(&self, row: &ContainerRow) -> bool {
        if !crate::supervisor::is_running(&self.root, &row.project) {
            return false;
        }
        let Some(row) = self
            .store
            .containers(&row.project)
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.id == row.id))
        else {
            return false;
        };
        let Some(policy) = row.info.restart else {
            return false;
        };
        let r = self.restart_record(&row.id);
        if r.pending {
            return true;
        }
        if row.state != RecordedState::Running {
            return false;
        }
        // (While the supervisor makes it again, its record says pending.)
        let Live::Exited(Some(code)) = self.live(&row) else {
            return false;
        };
        policy.decide(code, r.stopped, r.count, ran_for(&row)).1
    }

    /// Makes a stopped container run again in place, for its restart policy: same id,
    /// name, writable layer, volumes, addresses and log; a new process. The caller holds
    /// the project's lock.
    pub(crate) fn rerun(&self, row: &ContainerRow) -> Result<()> {
        let rt = self.runner.runtime();
        let run_err = |source| {
            Error::Run(RunError {
                name: row.name.clone(),
                source,
            })
        };
        let mut c = rt.recreate(&row.id).map_err(run_err)?;
        self.store
            .set_state(&row.id, RecordedState::Created, None, None)?;
        self.reattach(row, c.pid())?;
        self.forget_health(&row.id);
        if let Err(e) = c.start() {
            let _ = self
                .store
                .set_state(&row.id, RecordedState::Exited, None, None);
            return Err(run_err(e));
        }
        self.store
            .set_state(&row.id, RecordedState::Running, Some(now()), None)?;
        Ok(())
    }

    /// Plugs a container made again into the networks it was on, with the addresses and
    /// MACs recorded for it; brings up `lo` in a netns of its own.
    fn reattach(&self, row: &ContainerRow, pid: i32) -> Result<()> {
        let pid = u32::try_from(pid)
            .map_err(|_| Error::Other(format!("container {}: bad init pid {pid}", row.name)))?;
        let ns = NetnsRef::Pid(pid);
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net")).map(|m| m.ino());
        let ours = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino());
        let net_err = |what: &str, e: compose_network::Error| {
            Error::Other(format!("container {}: network {what}: {e}", row.name))
        };
        // Host mode shares our netns: nothing of it is the container's to set.
        if theirs.is_ok() && theirs.ok() == ours.ok() {
            return Ok(());
        }
        endpoint::loopback_up(&ns).map_err(|e| net_err("lo", e))?;
        let mut eps: Vec<_> = self
            .store
            .endpoints(&row.project)?
            .into_iter()
            .filter(|e| e.container == row.id)
            .collect();
        eps.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        for (i, ep) in eps.iter().enumerate() {
            let info = self
                .store
                .network(&ep.network)?
                .and_then(|n| n.info)
                .ok_or_else(|| Error::Other(format!("network {} is gone", ep.network)))?;
            let mac = endpoint::parse_mac(&ep.mac).ok();
            endpoint::attach(
                &EndpointSpec {
                    container_id: &row.id,
                    network: &info,
                    ifname: &ep.ifname,
                    address: ep.address,
                    mac,
                    default_route: i == 0,
                },
                &ns,
            )
            .map_err(|e| net_err(&ep.network, e))?;
        }
        Ok(())
    }
}

/// How long the container's last process ran, from its recorded start to now.
pub(crate) fn ran_for(row: &ContainerRow) -> Duration {
    let secs = row.started_at.map(|s| now().saturating_sub(s)).unwrap_or(0);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let p = compose::load::load_from_str(yaml).unwrap().model.unwrap();
        p.services["s"].clone()
    }

    #[test]
    fn restart_values_parse_as_docker() {
        assert_eq!(Policy::parse("").unwrap().mode, Mode::No);
        assert_eq!(Policy::parse("no").unwrap().mode, Mode::No);
        assert_eq!(Policy::parse("always").unwrap().mode, Mode::Always);
        assert_eq!(
            Policy::parse("unless-stopped").unwrap().mode,
            Mode::UnlessStopped
        );
        let p = Policy::parse("on-failure:2").unwrap();
        assert_eq!((p.mode, p.max), (Mode::OnFailure, 2));
        assert_eq!(Policy::parse("on-failure").unwrap().max, 0);
        assert!(Policy::parse("sometimes").is_err());
        assert!(Policy::parse("always:3").is_err());
        assert!(Policy::parse("on-failure:x").is_err());
    }

    #[test]
    fn deploy_restart_policy_wins_over_restart() {
        let s = service(
            "services:\n  s:\n    image: x\n    restart: always\n    deploy:\n      restart_policy:\n        condition: on-failure\n        max_attempts: 3\n        delay: 2s\n        window: 1m\n",
        );
        let p = Policy::of("s", &s).unwrap();
        assert_eq!(p.mode, Mode::OnFailure);
        assert_eq!(p.max, 3);
        assert_eq!(p.delay, Some(Duration::from_secs(2)));
        assert_eq!(p.window, Some(Duration::from_secs(60)));
        let any = service("services:\n  s:\n    image: x\n    deploy:\n      restart_policy: {}\n");
        assert_eq!(Policy::of("s", &any).unwrap().mode, Mode::Always);
        let none = service(
            "services:\n  s:\n    image: x\n    deploy:\n      restart_policy:\n        condition: none\n",
        );
        assert_eq!(Policy::of("s", &none).unwrap().mode, Mode::No);
        let bad = service("services:\n  s:\n    image: x\n    restart: later\n");
        let e = Policy::of("s", &bad).unwrap_err().to_string();
        assert!(e.contains("service s") && e.contains("later"), "{e}");
    }

    #[test]
    fn decisions_follow_the_mode_the_count_and_the_user() {
        let short = Duration::from_secs(1);
        let on_failure = Policy::parse("on-failure:2").unwrap();
        assert_eq!(on_failure.decide(1, false, 0, short), (0, true));
        assert_eq!(on_failure.decide(1, false, 1, short), (1, true));
        assert_eq!(on_failure.decide(1, false, 2, short), (2, false));
        assert_eq!(on_failure.decide(0, false, 0, short), (0, false));
        let always = Policy::parse("always").unwrap();
        assert!(always.decide(0, false, 100, short).1);
        assert!(!always.decide(0, true, 0, short).1, "the user stopped it");
        assert!(
            !Policy::parse("unless-stopped")
                .unwrap()
                .decide(1, true, 0, short)
                .1
        );
        assert!(
            Policy::parse("unless-stopped")
                .unwrap()
                .decide(1, false, 0, short)
                .1
        );
        assert!(!Policy::parse("no").unwrap().decide(1, false, 0, short).1);
        let windowed = Policy {
            window: Some(Duration::from_secs(5)),
            ..on_failure
        };
        assert_eq!(
            windowed.decide(1, false, 2, Duration::from_secs(6)),
            (0, true),
            "a run past the window resets the attempts"
        );
    }

    #[test]
    fn backoff_doubles_caps_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(50);
        let waits: Vec<u128> = (0..4).map(|_| b.next(short).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800]);
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), MAX_DELAY);
        assert_eq!(b.next(Duration::from_secs(10)), FIRST_DELAY);
        assert_eq!(b.next(short), Duration::from_millis(200));
    }
}

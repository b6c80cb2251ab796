//! The supervisor's care of the project's containers: it watches each running one's shim
//! (a pidfd: the shim records the exit, then exits, so its end is the exit's notice),
//! applies the restart policy when the process exits ([`Keeper::on_exit`]), and runs the
//! health check on its schedule, recording each probe.
//!
//! It keeps nothing the store and the files under the data root do not hold: a restarted
//! supervisor finds the running containers again, and the exits it missed (a container
//! recorded running whose process is gone) or restarts it had scheduled (a pending
//! record).

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use compose_runtime::ProcRef;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::health::{self, Check, Status};
use crate::restart::{Backoff, ran_for};
use crate::runner::Live;
use crate::store::{ContainerRow, ProjectLock, RecordedState};

/// How soon a step that found the project locked (a command at work) is tried again.
const LOCKED_RETRY: Duration = Duration::from_millis(100);

/// What the keeper's tasks tell its loop.
#[derive(Debug)]
pub(super) enum Event {
    /// The shim of this container ended: its process exited.
    Exited(String),
    /// A restart of this container is due.
    Due(String),
}

/// One running container being watched: the shim, the exit watch and the health task.
struct Watch {
    shim: ProcRef,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub(super) struct Keeper {
    engine: Arc<Engine>,
    project: String,
    tx: UnboundedSender<Event>,
    watched: HashMap<String, Watch>,
    backoff: HashMap<String, Backoff>,
    /// Containers with a restart scheduled (a timer running).
    due: HashSet<String>,
    /// Containers whose exit waits for the project's lock (a retry timer running).
    waiting: HashSet<String>,
}

impl Keeper {
    pub(super) fn new(engine: Arc<Engine>, project: &str, tx: UnboundedSender<Event>) -> Keeper {
        Keeper {
            engine,
            project: project.to_string(),
            tx,
            watched: HashMap::new(),
            backoff: HashMap::new(),
            due: HashSet::new(),
            waiting: HashSet::new(),
        }
    }

    /// Matches the watches to the store: running containers watched (a new shim: new
    /// watch), exits missed handled, restarts left pending scheduled again.
    pub(super) fn reload(&mut self) {
        let rows = match self.engine.store().containers(&self.project) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("read containers: {e}");
                return;
            }
        };
        let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        self.watched.retain(|id, _| ids.contains(id.as_str()));
        self.backoff.retain(|id, _| ids.contains(id.as_str()));
        for row in &rows {
            match self.engine.live(row) {
                Live::Running | Live::Paused => self.adopt(row),
                Live::Exited(code) => {
                    self.watched.remove(&row.id);
                    if self.due.contains(&row.id) {
                        continue;
                    }
                    if self.engine.restart_record(&row.id).pending {
                        self.schedule(&row.id, Duration::ZERO);
                    } else if row.state == RecordedState::Running {
                        // Recorded running, its process gone: an exit nobody handled.
                        self.on_exit(row, code.unwrap_or(-1));
                    }
                }
                Live::Created | Live::Missing => {
                    self.watched.remove(&row.id);
                }
            }
        }
    }

    /// Watches a running container's shim (once per shim) and runs its health check.
    fn adopt(&mut self, row: &ContainerRow) {
        let Ok(h) = self.engine.runner.load(&row.id, &row.name) else {
            return;
        };
        let Some(shim) = h.container().record().shim else {
            return;
        };
        if self.watched.get(&row.id).is_some_and(|w| w.shim == shim) {
            return;
        }
        let mut tasks = vec![tokio::spawn(watch_exit(
            shim,
            row.id.clone(),
            self.tx.clone(),
        ))];
        if let Some(check) = row.info.health.clone() {
            tasks.push(tokio::spawn(keep_checking(
                self.engine.clone(),
                row.clone(),
                check,
            )));
        }
        self.watched.insert(row.id.clone(), Watch { shim, tasks });
    }

    /// Handles one event of the keeper's tasks.
    pub(super) fn handle(&mut self, ev: Event) {
        match ev {
            Event::Exited(id) => {
                self.watched.remove(&id);
                self.waiting.remove(&id);
                if let Some(row) = self.row(&id)
                    && let Live::Exited(code) = self.engine.live(&row)
                    && !self.due.contains(&id)
                {
                    self.on_exit(&row, code.unwrap_or(-1));
                }
            }
            Event::Due(id) => {
                self.due.remove(&id);
                self.restart_now(&id);
            }
        }
    }

    fn row(&self, id: &str) -> Option<ContainerRow> {
        let rows = self.engine.store().containers(&self.project).ok()?;
        rows.into_iter().find(|r| r.id == id)
    }

    /// A container's process exited with `code`: its restart policy decides, with what
    /// the user did (stopped or killed it) and how often it restarted. The one place an
    /// exit is handled.
    fn on_exit(&mut self, row: &ContainerRow, code: i32) {
        // Commands change containers under the project's lock: decide when none is at work.
        let Some(_lock) = self.try_lock() else {
            if !self.waiting.insert(row.id.clone()) {
                return;
            }
            let tx = self.tx.clone();
            let id = row.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(LOCKED_RETRY).await;
                let _ = tx.send(Event::Exited(id));
            });
            return;
        };
        // Re-read under the lock: a command may have changed it meanwhile.
        let Some(row) = self.row(&row.id) else {
            return;
        };
        if !matches!(self.engine.live(&row), Live::Exited(_)) {
            return;
        }
        let engine = &self.engine;
        // An exit no command asked for (a stop records its own `die`).
        if row.state == RecordedState::Running {
            engine.journal_event(
                &row.project,
                &crate::events::Event::container(&row, "die").with("exitCode", code),
            );
        }
        let mut rec = engine.restart_record(&row.id);
        let policy = row.info.restart.unwrap_or_default();
        let ran = ran_for(&row);
        let (count, restart) = policy.decide(code, rec.stopped, rec.count, ran);
        if row.state == RecordedState::Running
            && let Err(e) =
                engine
                    .store()
                    .set_state(&row.id, RecordedState::Exited, None, Some(code))
        {
            eprintln!("record the exit of {}: {e}", row.name);
        }
        if !restart {
            if count != rec.count {
                rec.count = count;
                let _ = engine.save_restart_record(&row.id, &rec);
            }
            return;
        }
        rec.count = count;
        rec.pending = true;
        if let Err(e) = engine.save_restart_record(&row.id, &rec) {
            eprintln!("record the restart of {}: {e}", row.name);
        }
        let delay = match policy.delay {
            Some(d) => d,
            None => self.backoff.entry(row.id.clone()).or_default().next(ran),
        };
        eprintln!(
            "container {} exited with {code}: restart {} in {} ms",
            row.name,
            count + 1,
            delay.as_millis()
        );
        self.schedule(&row.id, delay);
    }

    fn schedule(&mut self, id: &str, delay: Duration) {
        self.due.insert(id.to_string());
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Event::Due(id));
        });
    }

    /// Makes the container run again, unless the user stopped, started or removed it
    /// meanwhile.
    fn restart_now(&mut self, id: &str) {
        let Some(_lock) = self.try_lock() else {
            self.schedule(id, LOCKED_RETRY);
            return;
        };
        let Some(row) = self.row(id) else {
            return;
        };
        let engine = self.engine.clone();
        let mut rec = engine.restart_record(id);
        if !rec.pending || rec.stopped || !matches!(engine.live(&row), Live::Exited(_)) {
            return;
        }
        rec.pending = false;
        match engine.rerun(&row) {
            Ok(()) => {
                rec.count += 1;
                engine.journal(&row, "restart");
                eprintln!("container {} restarted ({})", row.name, rec.count);
            }
            Err(e) => eprintln!("restart {}: {e}", row.name),
        }
        if let Err(e) = engine.save_restart_record(id, &rec) {
            eprintln!("record the restart of {}: {e}", row.name);
        }
        if let Some(row) = self.row(id) {
            self.adopt(&row);
        }
    }

    fn try_lock(&self) -> Option<ProjectLock> {
        match ProjectLock::try_acquire(self.engine.root(), &self.project) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("project lock: {e}");
                None
            }
        }
    }
}

/// Waits for the shim to end (it records the exit first), then says so.
async fn watch_exit(shim: ProcRef, id: String, tx: UnboundedSender<Event>) {
    // SAFETY: an OwnedFd the AsyncFd takes over: it stays open and the same pidfd until
    // the AsyncFd drops it.
    let registered = shim_pidfd(shim)
        .map(|fd| unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) });
    if let Some(Ok(fd)) = registered {
        // A pidfd turns readable when its process exits.
        let _ = fd.readable().await;
    }
    let _ = tx.send(Event::Exited(id));
}

/// A pidfd of the shim while it is the same live process; `None` once it is gone.
fn shim_pidfd(shim: ProcRef) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(shim.pid)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()?;
    // Checked after opening: the pidfd pins this exact process, not a reuse of its pid.
    shim.is_alive().then_some(fd)
}

/// Runs `check` in the container on Docker's schedule for as long as this process runs
/// (the keeper aborts it when the container stops), recording each result.
async fn keep_checking(engine: Arc<Engine>, row: ContainerRow, check: Check) {
    let since_start = ran_for(&row);
    let started = Instant::now()
        .checked_sub(since_start)
        .unwrap_or_else(Instant::now);
    // A record from an earlier run of the container does not carry over (re-adopted
    // ones keep theirs).
    let begun = row.started_at.unwrap_or(0);
    let mut state = match engine.health(&row.id) {
        Some(s) if s.log.last().is_some_and(|p| p.start as i64 >= begun) => s,
        Some(s) if s.log.is_empty() && s.status == Status::Starting => s,
        _ => {
            let s = health::State::starting();
            engine.save_health(&row.id, &s);
            s
        }
    };
    loop {
        let in_start_period = started.elapsed() < check.start_period;
        let pause = if in_start_period && state.status == Status::Starting {
            check.start_interval
        } else {
            check.interval
        };
        tokio::time::sleep(pause).await;
        // A frozen container cannot answer: its probe would only time out.
        if engine.live(&row) == Live::Paused {
            continue;
        }
        let in_start_period = started.elapsed() < check.start_period;
        let (e, r, c) = (engine.clone(), row.clone(), check.clone());
        let probe = match tokio::task::spawn_blocking(move || e.probe(&r, &c)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                eprintln!("health check of {}: {e}", row.name);
                continue;
            }
            Err(_) => return,
        };
        let before = state.status;
        state.apply(probe, in_start_period, check.retries);
        engine.save_health(&row.id, &state);
        if state.status != before {
            if matches!(state.status, Status::Healthy | Status::Unhealthy) {
                engine.journal(&row, &format!("health_status: {}", state.status.as_str()));
            }
            eprintln!("container {}: {}", row.name, state.status.as_str());
        }
    }
}

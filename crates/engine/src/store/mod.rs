//! The engine's state: projects, containers, volumes, networks and IP allocations in the
//! data root's SQLite database, and the per-project lock.

mod lock;
mod net;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

pub use lock::ProjectLock;
pub use net::{EndpointRow, NetworkRow, PublishedRow};

/// File name of the state database under the data root (shared with the image store).
pub const DB_FILE: &str = "state.db";

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {}: {op}: {source}", path.display())]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database {}: schema version {found} is newer than this program's {known}", path.display())]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("state database: container {id}: bad record: {reason}")]
    BadRecord { id: String, reason: String },
}

impl StoreError {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a container is, as the store last recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordedState {
    /// Intent recorded; the runtime container may or may not exist.
    Creating,
    Created,
    Running,
    Exited,
}

impl RecordedState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordedState::Creating => "creating",
            RecordedState::Created => "created",
            RecordedState::Running => "running",
            RecordedState::Exited => "exited",
        }
    }

    fn parse(s: &str) -> Option<RecordedState> {
        Some(match s {
            "creating" => RecordedState::Creating,
            "created" => RecordedState::Created,
            "running" => RecordedState::Running,
            "exited" => RecordedState::Exited,
            _ => return None,
        })
    }
}

/// What the engine keeps of a container besides its labels, to stop, show and restart it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub command: Vec<String>,
    pub ports: Vec<String>,
    pub stop_signal: i32,
    pub stop_grace_ms: u64,
    /// The log file.
    pub log: PathBuf,
    /// Volume names the container mounts (named and anonymous).
    pub volumes: Vec<String>,
    /// Its anonymous volumes, in mount order: a recreated container takes them over.
    #[serde(default)]
    pub anonymous: Vec<String>,
    /// Its health check (the service's or the image's), if it has one.
    #[serde(default)]
    pub health: Option<crate::health::Check>,
    /// Its restart policy (`restart:` / `deploy.restart_policy`), none for one-offs.
    #[serde(default)]
    pub restart: Option<crate::restart::Policy>,
    /// A one-off container answers to its service's name and network aliases only when
    /// made with `run --use-aliases` (services' containers always do).
    #[serde(default)]
    pub use_aliases: bool,
}

/// A container row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    pub id: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub name: String,
    pub config_hash: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub state: RecordedState,
    pub info: ContainerInfo,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i32>,
}

/// A volume row. `key` is its name in the project's `volumes:` (`None`: anonymous, owned by
/// `container`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    pub name: String,
    pub project: String,
    pub key: Option<String>,
    pub container: Option<String>,
    pub external: bool,
    pub created_at: i64,
}

/// A project row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub name: String,
    pub working_dir: String,
    pub config_files: String,
    pub created_at: i64,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The state store of one data root.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const CONTAINER_COLS: &str = "id, project, service, number, oneoff, name, config_hash, image, \
     labels, state, info, created_at, started_at, finished_at, exit_code";

impl Store {
    /// Opens (making) `<root>/state.db`.
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, "create data root", e))?;
        let path = root.join(DB_FILE);
        let conn = schema::open(&path)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Db {
            path: self.path.clone(),
            op,
            source,
        }
    }

    pub fn put_project(&self, p: &ProjectRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO projects (name, working_dir, config_files, created_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name) DO UPDATE SET working_dir = ?2, config_files = ?3",
                params![p.name, p.working_dir, p.config_files, p.created_at],
            )
            .map_err(self.err("write project"))?;
        Ok(())
    }

    pub fn project(&self, name: &str) -> Result<Option<ProjectRow>> {
        self.conn()
            .query_row(
                "SELECT name, working_dir, config_files, created_at FROM projects WHERE name = ?1",
                [name],
                |r| {
                    Ok(ProjectRow {
                        name: r.get(0)?,
                        working_dir: r.get(1)?,
                        config_files: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(self.err("read project"))
    }

    /// Every project, by name.
    pub fn projects(&self) -> Result<Vec<ProjectRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT name, working_dir, config_files, created_at FROM projects ORDER BY name",
            )
            .map_err(self.err("list projects"))?;
        let rows = st
            .query_map([], |r| {
                Ok(ProjectRow {
                    name: r.get(0)?,
                    working_dir: r.get(1)?,
                    config_files: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .map_err(self.err("list projects"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err("list projects"))
    }

    pub fn remove_project(&self, name: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM projects WHERE name = ?1", [name])
            .map_err(self.err("remove project"))?;
        Ok(())
    }

    /// Records a container (the intent, before the runtime makes it).
    pub fn insert_container(&self, c: &ContainerRow) -> Result<()> {
        let labels = serde_json::to_string(&c.labels).unwrap_or_else(|_| "{}".into());
        let info = serde_json::to_string(&c.info).unwrap_or_else(|_| "{}".into());
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO containers ({CONTAINER_COLS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    c.id,
                    c.project,
                    c.service,
                    c.number,
                    c.oneoff,
                    c.name,
                    c.config_hash,
                    c.image,
                    labels,
                    c.state.as_str(),
                    info,
                    c.created_at,
                    c.started_at,
                    c.finished_at,
                    c.exit_code
                ],
            )
            .map_err(self.err("record container"))?;
        Ok(())
    }

    /// Records a container's new state; `started`/`exit` when known.
    pub fn set_state(
        &self,
        id: &str,
        state: RecordedState,
        started_at: Option<i64>,
        exit_code: Option<i32>,
    ) -> Result<()> {
        let finished = (state == RecordedState::Exited).then(now);
        self.conn()
            .execute(
                "UPDATE containers SET state = ?2,
                    started_at = COALESCE(?3, started_at),
                    finished_at = CASE WHEN ?2 = 'exited' THEN COALESCE(finished_at, ?4) ELSE NULL END,
                    exit_code = CASE WHEN ?2 = 'exited' THEN COALESCE(?5, exit_code) ELSE NULL END
                 WHERE id = ?1",
                params![id, state.as_str(), started_at, finished, exit_code],
            )
            .map_err(self.err("update container"))?;
        Ok(())
    }

    /// Replaces a container's info (e.g. its volumes once made).
    pub fn set_info(&self, id: &str, info: &ContainerInfo) -> Result<()> {
        let info = serde_json::to_string(info).unwrap_or_else(|_| "{}".into());
        self.conn()
            .execute(
                "UPDATE containers SET info = ?2 WHERE id = ?1",
                params![id, info],
            )
            .map_err(self.err("update container"))?;
        Ok(())
    }

    /// The project's containers by service and number.
    pub fn containers(&self, project: &str) -> Result<Vec<ContainerRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "SELECT {CONTAINER_COLS} FROM containers WHERE project = ?1
                 ORDER BY service, number"
            ))
            .map_err(self.err("read containers"))?;
        let rows = st
            .query_map([project], raw_container)
            .map_err(self.err("read containers"))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(container_row(r.map_err(self.err("read containers"))?)?);
        }
        Ok(out)
    }

    /// The images containers of any project were made from, as written (`busybox`).
    pub fn images_in_use(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT DISTINCT image FROM containers")
            .map_err(self.err("read containers"))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err("read containers"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err("read containers"))
    }

    /// The container of that name, in any project.
    pub fn container_by_name(&self, name: &str) -> Result<Option<ContainerRow>> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {CONTAINER_COLS} FROM containers WHERE name = ?1"),
                [name],
                raw_container,
            )
            .optional()
            .map_err(self.err("read container"))?;
        raw.map(container_row).transpose()
    }

    pub fn remove_container(&self, id: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM containers WHERE id = ?1", [id])
            .map_err(self.err("remove container"))?;
        Ok(())
    }

    /// Records a volume (before its dir is made); an existing row is kept.
    pub fn insert_volume(&self, v: &VolumeRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO volumes (name, project, key, container, external, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![v.name, v.project, v.key, v.container, v.external, v.created_at],
            )
            .map_err(self.err("record volume"))?;
        Ok(())
    }

    pub fn volumes(&self, project: &str) -> Result<Vec<VolumeRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT name, project, key, container, external, created_at FROM volumes
                 WHERE project = ?1 ORDER BY name",
            )
            .map_err(self.err("read volumes"))?;
        let rows = st
            .query_map([project], |r| {
                Ok(VolumeRow {
                    name: r.get(0)?,
                    project: r.get(1)?,
                    key: r.get(2)?,
                    container: r.get(3)?,
                    external: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })
            .map_err(self.err("read volumes"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("read volumes"))
    }

    /// Hands an anonymous volume to another container (a recreated one).
    pub fn set_volume_container(&self, name: &str, container: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE volumes SET container = ?2 WHERE name = ?1",
                params![name, container],
            )
            .map_err(self.err("update volume"))?;
        Ok(())
    }

    pub fn remove_volume(&self, name: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM volumes WHERE name = ?1", [name])
            .map_err(self.err("remove volume"))?;
        Ok(())
    }
}

type RawContainer = (ContainerRow, String, String, String);

fn raw_container(r: &Row<'_>) -> rusqlite::Result<RawContainer> {
    let row = ContainerRow {
        id: r.get(0)?,
        project: r.get(1)?,
        service: r.get(2)?,
        number: r.get(3)?,
        oneoff: r.get(4)?,
        name: r.get(5)?,
        config_hash: r.get(6)?,
        image: r.get(7)?,
        labels: BTreeMap::new(),
        state: RecordedState::Creating,
        info: ContainerInfo::default(),
        created_at: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        exit_code: r.get(14)?,
    };
    Ok((row, r.get(8)?, r.get(9)?, r.get(10)?))
}

fn container_row((mut row, labels, state, info): RawContainer) -> Result<ContainerRow> {
    let bad = |reason: String| StoreError::BadRecord {
        id: row.id.clone(),
        reason,
    };
    row.labels = serde_json::from_str(&labels).map_err(|e| bad(format!("labels: {e}")))?;
    row.info = serde_json::from_str(&info).map_err(|e| bad(format!("info: {e}")))?;
    row.state = RecordedState::parse(&state).ok_or_else(|| bad(format!("state {state:?}")))?;
    Ok(row)
}

#[cfg(test)]
mod tests;

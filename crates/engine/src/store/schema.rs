//! The engine's tables in the data root's state database (`state.db`, which the image store
//! also uses). The image store counts its migrations in `PRAGMA user_version`, so the
//! engine keeps its own count in `engine_schema` and never touches `user_version`.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError};

/// Each entry moves the engine's schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: projects and what they own. A row is written before its kernel object is made
    // (state `creating`), so that `down` after a crash finds what may exist.
    "CREATE TABLE projects (
        name        TEXT PRIMARY KEY,
        working_dir TEXT NOT NULL,
        config_files TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE containers (
        id          TEXT PRIMARY KEY,
        project     TEXT NOT NULL,
        service     TEXT NOT NULL,
        number      INTEGER NOT NULL,
        oneoff      INTEGER NOT NULL,
        name        TEXT NOT NULL UNIQUE,
        config_hash TEXT NOT NULL,
        image       TEXT NOT NULL,
        labels      TEXT NOT NULL,
        state       TEXT NOT NULL,
        info        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        finished_at INTEGER,
        exit_code   INTEGER
    );
    CREATE INDEX containers_project ON containers(project, service);
    CREATE TABLE volumes (
        name       TEXT PRIMARY KEY,
        project    TEXT NOT NULL,
        key        TEXT,
        container  TEXT,
        external   INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX volumes_project ON volumes(project);
    CREATE TABLE networks (
        name       TEXT PRIMARY KEY,
        project    TEXT NOT NULL,
        key        TEXT NOT NULL,
        bridge     TEXT,
        subnet     TEXT,
        external   INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE ip_allocations (
        network   TEXT NOT NULL REFERENCES networks(name) ON DELETE CASCADE,
        address   TEXT NOT NULL,
        container TEXT NOT NULL,
        PRIMARY KEY (network, address)
    );",
    // 2: what a network is once made (addressing as JSON; NULL while only the intent is
    // recorded), each container's endpoints (for DNS and teardown) and published ports.
    "ALTER TABLE networks ADD COLUMN info TEXT;
    CREATE TABLE endpoints (
        container TEXT NOT NULL,
        project   TEXT NOT NULL,
        network   TEXT NOT NULL,
        ifname    TEXT NOT NULL,
        address   TEXT NOT NULL,
        mac       TEXT NOT NULL,
        names     TEXT NOT NULL,
        links     TEXT NOT NULL,
        PRIMARY KEY (container, network)
    );
    CREATE INDEX endpoints_project ON endpoints(project);
    CREATE TABLE published_ports (
        container      TEXT NOT NULL,
        project        TEXT NOT NULL,
        host_ip        TEXT,
        host_port      INTEGER NOT NULL,
        proto          TEXT NOT NULL,
        container_port INTEGER NOT NULL
    );
    CREATE INDEX published_ports_project ON published_ports(project);",
];

/// The recorded engine schema version; `None` before the first migration.
fn current_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'engine_schema')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    conn.query_row("SELECT MAX(version) FROM engine_schema", [], |r| r.get(0))
}

/// The engine schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the database at `path` (WAL, waiting on other writers) and applies the engine's
/// migrations.
pub fn open(path: &Path) -> Result<Connection> {
    let e = |op: &'static str| {
        let path = path.to_owned();
        move |source| StoreError::Db { path, op, source }
    };
    let mut conn = Connection::open(path).map_err(e("open"))?;
    compose_image::store::schema::wait_when_busy(&conn).map_err(e("set busy handler"))?;
    compose_image::store::schema::enable_wal(&conn).map_err(e("set WAL mode"))?;
    compose_image::store::schema::keep_log_on_close(&conn).map_err(e("keep the log on close"))?;
    // In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit is still
    // atomic and survives a crash of this process (the WAL is in the page cache), and only
    // a power loss may drop the last commits, and with them, a reboot has already dropped
    // the kernel objects they describe. FULL cost an fsync per recorded step of `up`.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(e("set synchronous mode"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(e("enable foreign keys"))?;
    if current_version(&conn).map_err(e("read engine schema version"))? == Some(SCHEMA_VERSION) {
        // Up to date: no write transaction (and no commit) on every open.
        return Ok(conn);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(e("begin migration"))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS engine_schema (version INTEGER NOT NULL)")
        .map_err(e("create engine_schema"))?;
    let found: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM engine_schema",
            [],
            |r| r.get(0),
        )
        .map_err(e("read engine schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql).map_err(e("migrate engine schema"))?;
    }
    tx.execute("DELETE FROM engine_schema", [])
        .map_err(e("write engine schema version"))?;
    tx.execute(
        "INSERT INTO engine_schema (version) VALUES (?1)",
        [SCHEMA_VERSION],
    )
    .map_err(e("write engine schema version"))?;
    tx.commit().map_err(e("commit migration"))?;
    Ok(conn)
}

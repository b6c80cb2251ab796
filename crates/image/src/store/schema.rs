//! The state database's schema: one SQLite file (`state.db` under the data root, WAL mode)
//! that the engine will share. Migrations are applied in order; `PRAGMA user_version` holds
//! how many have run. Add a migration at the end; never edit one that has shipped.

use std::path::Path;

use rusqlite::Connection;

use super::error::{Result, StoreError};

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: images. A manifest row holds what the image is; a reference row names one. Layers
    // are kept per manifest, bottom first, with the chain id of their snapshot, so that GC
    // can tell which blobs and snapshots are in use.
    "CREATE TABLE manifests (
        digest        TEXT PRIMARY KEY,
        media_type    TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        config_size   INTEGER NOT NULL,
        os            TEXT NOT NULL,
        architecture  TEXT NOT NULL,
        variant       TEXT,
        created       TEXT,
        size          INTEGER NOT NULL,
        manifest_size INTEGER NOT NULL
    );
    CREATE TABLE manifest_layers (
        manifest   TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        digest     TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL,
        diff_id    TEXT NOT NULL,
        chain_id   TEXT NOT NULL,
        PRIMARY KEY (manifest, position)
    );
    CREATE INDEX manifest_layers_digest ON manifest_layers(digest);
    CREATE INDEX manifest_layers_chain ON manifest_layers(chain_id);
    CREATE TABLE images (
        reference  TEXT PRIMARY KEY,
        manifest   TEXT NOT NULL REFERENCES manifests(digest),
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX images_manifest ON images(manifest);",
    // 2: holds. A container (or any other user of a rootfs) holds the manifest it was made
    // from, so that GC keeps its snapshots after the image is untagged or re-tagged. No
    // foreign key: a hold outlives the manifest's last reference by design.
    "CREATE TABLE holds (
        holder   TEXT PRIMARY KEY,
        manifest TEXT NOT NULL
    );
    CREATE INDEX holds_manifest ON holds(manifest);",
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if absent) the state database at `path` and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection> {
    let db_err = |op| {
        let path = path.to_owned();
        move |source| StoreError::Db { path, op, source }
    };
    let mut conn = Connection::open(path).map_err(db_err("open"))?;
    wait_when_busy(&conn).map_err(db_err("set busy handler"))?;
    enable_wal(&conn).map_err(db_err("set WAL mode"))?;
    keep_log_on_close(&conn).map_err(db_err("keep the log on close"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db_err("enable foreign keys"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err("set synchronous"))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Makes a busy database wait (up to about 30 s) in short steps: SQLite's own timeout
/// sleeps 1, 2, 5, 10 ... up to 100 ms between tries, so a writer that holds the lock for
/// a millisecond (the engine and image stores share one file; a `down` writes from many
/// threads) made the others sleep several times that.
pub fn wait_when_busy(conn: &Connection) -> rusqlite::Result<()> {
    fn handler(tries: i32) -> bool {
        // 0.1, 0.2 ... 2 ms, then 2 ms a try: 30 s is about 15,000 tries.
        if tries > 15_000 {
            return false;
        }
        let step = u64::try_from(tries.clamp(0, 19)).unwrap_or(0) + 1;
        std::thread::sleep(std::time::Duration::from_micros(100 * step));
        true
    }
    conn.busy_handler(Some(handler))
}

/// Leaves the write-ahead log in place when the connection closes. By default the last
/// connection to close checkpoints the log into the database, syncs both and deletes the
/// log: ~5-10 ms at the end of every command, paid again when the next one makes the log
/// anew. Commits still checkpoint once the log passes SQLite's threshold (1000 pages), so
/// the log stays small; what it holds is as durable as the database.
pub fn keep_log_on_close(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map(drop)
}

/// Puts the database in WAL mode, waiting out other processes that open it at the same time.
///
/// Switching a fresh database to WAL takes an exclusive lock, and SQLite answers `SQLITE_BUSY`
/// at once (without calling the busy handler) when another connection holds a lock then: two
/// processes opening a new data root together would fail. The mode is persistent, so this
/// only ever contends on a fresh file; a bounded retry covers it.
pub fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let attempt = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(())
                } else {
                    conn.pragma_update(None, "journal_mode", "WAL")
                }
            });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let db_err = |op| {
        let path = path.to_owned();
        move |source| StoreError::Db { path, op, source }
    };
    // Up to date (every open but the first): no write transaction, so no commit and no
    // sync of the log on every command.
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err("read schema version"))?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    // IMMEDIATE: two processes opening a fresh db migrate one after the other.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err("begin migration"))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err("read schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(version = i + 1, path = %path.display(), "migrating state database");
        tx.execute_batch(sql).map_err(db_err("migrate schema"))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db_err("write schema version"))?;
    tx.commit().map_err(db_err("commit migration"))
}

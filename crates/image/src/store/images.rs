//! Image records in the state database: reference → manifest, config, platform, layers.

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::HashSet;
use std::path::Path;

use super::error::{Result, db_err};

/// One layer of an image, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// Digest of the layer blob as stored (compressed or not).
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// ChainID: the name of its snapshot.
    pub chain_id: String,
}

/// The platform an image is for, from its config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// What the store knows of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// Normalized reference (`docker.io/library/redis:latest`), or the manifest digest for
    /// an image loaded without a name.
    pub reference: String,
    pub manifest_digest: String,
    pub manifest_size: u64,
    /// Media type of the manifest (OCI or Docker schema 2).
    pub media_type: String,
    pub config_digest: String,
    pub config_size: u64,
    pub platform: Platform,
    /// The config's `created`, as written there (RFC 3339).
    pub created: Option<String>,
    /// Bytes of content: manifest, config and layer blobs.
    pub size: u64,
    pub layers: Vec<LayerRecord>,
}

impl ImageRecord {
    /// Every blob digest the image uses: manifest, config, layers.
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        [self.manifest_digest.as_str(), self.config_digest.as_str()]
            .into_iter()
            .chain(self.layers.iter().map(|l| l.digest.as_str()))
    }
}

pub(crate) fn put(conn: &mut Connection, rec: &ImageRecord, path: &Path, now: i64) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err(path, "begin"))?;
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO manifests (digest, media_type, config_digest, config_size, os,
             architecture, variant, created, size, manifest_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                rec.manifest_digest,
                rec.media_type,
                rec.config_digest,
                rec.config_size as i64,
                rec.platform.os,
                rec.platform.architecture,
                rec.platform.variant,
                rec.created,
                rec.size as i64,
                rec.manifest_size as i64,
            ],
        )
        .map_err(db_err(path, "insert manifest"))?;
    if inserted == 1 {
        for (i, l) in rec.layers.iter().enumerate() {
            tx.execute(
                "INSERT INTO manifest_layers (manifest, position, digest, media_type, size,
                 diff_id, chain_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    rec.manifest_digest,
                    i as i64,
                    l.digest,
                    l.media_type,
                    l.size as i64,
                    l.diff_id,
                    l.chain_id
                ],
            )
            .map_err(db_err(path, "insert layer"))?;
        }
    }
    tx.execute(
        "INSERT INTO images (reference, manifest, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(reference) DO UPDATE SET manifest = excluded.manifest,
         updated_at = excluded.updated_at",
        params![rec.reference, rec.manifest_digest, now],
    )
    .map_err(db_err(path, "insert image"))?;
    tx.commit().map_err(db_err(path, "commit"))
}

pub(crate) fn get(conn: &Connection, reference: &str, path: &Path) -> Result<Option<ImageRecord>> {
    read(
        conn,
        "SELECT i.reference, m.digest, m.manifest_size, m.media_type, m.config_digest,
         m.config_size, m.os, m.architecture, m.variant, m.created, m.size
         FROM images i JOIN manifests m ON m.digest = i.manifest WHERE i.reference = ?1",
        reference,
        path,
    )
}

/// The image `holder` holds, named by its manifest digest (it may have no name left).
pub(crate) fn get_held(
    conn: &Connection,
    holder: &str,
    path: &Path,
) -> Result<Option<ImageRecord>> {
    read(
        conn,
        "SELECT m.digest, m.digest, m.manifest_size, m.media_type, m.config_digest,
         m.config_size, m.os, m.architecture, m.variant, m.created, m.size
         FROM holds h JOIN manifests m ON m.digest = h.manifest WHERE h.holder = ?1",
        holder,
        path,
    )
}

/// One record by `sql` (which selects the record's columns in order, keyed by `?1`).
fn read(conn: &Connection, sql: &str, key: &str, path: &Path) -> Result<Option<ImageRecord>> {
    let row = conn
        .query_row(sql, [key], |r| {
            Ok(ImageRecord {
                reference: r.get(0)?,
                manifest_digest: r.get(1)?,
                manifest_size: r.get::<_, i64>(2)? as u64,
                media_type: r.get(3)?,
                config_digest: r.get(4)?,
                config_size: r.get::<_, i64>(5)? as u64,
                platform: Platform {
                    os: r.get(6)?,
                    architecture: r.get(7)?,
                    variant: r.get(8)?,
                },
                created: r.get(9)?,
                size: r.get::<_, i64>(10)? as u64,
                layers: Vec::new(),
            })
        })
        .optional()
        .map_err(db_err(path, "read image"))?;
    let Some(mut rec) = row else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT digest, media_type, size, diff_id, chain_id FROM manifest_layers
             WHERE manifest = ?1 ORDER BY position",
        )
        .map_err(db_err(path, "read layers"))?;
    let layers = stmt
        .query_map([&rec.manifest_digest], |r| {
            Ok(LayerRecord {
                digest: r.get(0)?,
                media_type: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                diff_id: r.get(3)?,
                chain_id: r.get(4)?,
            })
        })
        .map_err(db_err(path, "read layers"))?;
    for l in layers {
        rec.layers.push(l.map_err(db_err(path, "read layers"))?);
    }
    Ok(Some(rec))
}

pub(crate) fn references(conn: &Connection, path: &Path) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT reference FROM images ORDER BY reference")
        .map_err(db_err(path, "list images"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db_err(path, "list images"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err(path, "list images"))
}

/// Removes the reference, and its manifest's rows when no other reference uses it.
pub(crate) fn remove(conn: &mut Connection, reference: &str, path: &Path) -> Result<bool> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err(path, "begin"))?;
    let n = tx
        .execute("DELETE FROM images WHERE reference = ?1", [reference])
        .map_err(db_err(path, "delete image"))?;
    delete_unused_manifests(&tx, path)?;
    tx.commit().map_err(db_err(path, "commit"))?;
    Ok(n > 0)
}

pub(crate) fn delete_unused_manifests(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute(
        "DELETE FROM manifests WHERE digest NOT IN (SELECT manifest FROM images)
           AND digest NOT IN (SELECT manifest FROM holds)",
        [],
    )
    .map_err(db_err(path, "delete unused manifests"))?;
    Ok(())
}

/// Deletes the rows of each of `manifests` that no reference or hold uses, and returns the
/// blobs and chain ids those manifests named (candidates for removal: another manifest may
/// still share them).
pub(crate) fn delete_manifests_if_unused(
    conn: &mut Connection,
    manifests: &[String],
    path: &Path,
) -> Result<(Vec<String>, Vec<String>)> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err(path, "begin"))?;
    let (mut blobs, mut chains) = (Vec::new(), Vec::new());
    for m in manifests {
        let unused = tx
            .query_row(
                "SELECT config_digest FROM manifests WHERE digest = ?1
                   AND digest NOT IN (SELECT manifest FROM images)
                   AND digest NOT IN (SELECT manifest FROM holds)",
                params![m],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(db_err(path, "read manifests"))?;
        let Some(config) = unused else { continue };
        let mut stmt = tx
            .prepare("SELECT digest, chain_id FROM manifest_layers WHERE manifest = ?1")
            .map_err(db_err(path, "read layers"))?;
        let rows = stmt
            .query_map(params![m], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err(path, "read layers"))?;
        for row in rows {
            let (d, c) = row.map_err(db_err(path, "read layers"))?;
            blobs.push(d);
            chains.push(c);
        }
        drop(stmt);
        blobs.push(m.clone());
        blobs.push(config);
        tx.execute("DELETE FROM manifests WHERE digest = ?1", params![m])
            .map_err(db_err(path, "delete manifest"))?;
    }
    tx.commit().map_err(db_err(path, "commit"))?;
    Ok((blobs, chains))
}

/// Blob digests and chain ids some record uses.
pub(crate) fn in_use(conn: &Connection, path: &Path) -> Result<(HashSet<String>, HashSet<String>)> {
    let mut blobs = HashSet::new();
    let mut chains = HashSet::new();
    let mut stmt = conn
        .prepare("SELECT digest, config_digest FROM manifests")
        .map_err(db_err(path, "read manifests"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(db_err(path, "read manifests"))?;
    for row in rows {
        let (m, c) = row.map_err(db_err(path, "read manifests"))?;
        blobs.insert(m);
        blobs.insert(c);
    }
    let mut stmt = conn
        .prepare("SELECT digest, chain_id FROM manifest_layers")
        .map_err(db_err(path, "read layers"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(db_err(path, "read layers"))?;
    for row in rows {
        let (d, c) = row.map_err(db_err(path, "read layers"))?;
        blobs.insert(d);
        chains.insert(c);
    }
    Ok((blobs, chains))
}

/// Records that `holder` uses `manifest`; false when no such manifest is stored.
pub(crate) fn hold(conn: &Connection, holder: &str, manifest: &str, path: &Path) -> Result<bool> {
    let known = conn
        .query_row(
            "SELECT 1 FROM manifests WHERE digest = ?1",
            params![manifest],
            |_| Ok(()),
        )
        .optional()
        .map_err(db_err(path, "read manifests"))?
        .is_some();
    if known {
        conn.execute(
            "INSERT OR REPLACE INTO holds (holder, manifest) VALUES (?1, ?2)",
            params![holder, manifest],
        )
        .map_err(db_err(path, "write hold"))?;
    }
    Ok(known)
}

/// Drops `holder`'s hold; false when it had none.
pub(crate) fn release(conn: &Connection, holder: &str, path: &Path) -> Result<bool> {
    let n = conn
        .execute("DELETE FROM holds WHERE holder = ?1", params![holder])
        .map_err(db_err(path, "delete hold"))?;
    Ok(n > 0)
}

/// Drops the holds of every one of `holders` in one transaction (one commit, one sync).
pub(crate) fn release_all(conn: &mut Connection, holders: &[&str], path: &Path) -> Result<()> {
    let tx = conn
        .transaction()
        .map_err(db_err(path, "begin releasing holds"))?;
    for holder in holders {
        tx.execute("DELETE FROM holds WHERE holder = ?1", params![holder])
            .map_err(db_err(path, "delete hold"))?;
    }
    tx.commit().map_err(db_err(path, "commit released holds"))
}

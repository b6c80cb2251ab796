//! Saving images: an OCI layout (to a directory or as an OCI archive) and docker-archives,
//! written as Docker 25 and later write them: the OCI layout plus `manifest.json`, whose
//! Config and Layers name the files under `blobs/sha256/`. Blobs are written as stored, so a
//! load of the result gives the same manifest, config and layer digests.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::oci::{CONTAINERD_NAME, REF_NAME};
use crate::reference::Reference;
use crate::store::{ImageRecord, Result, Store, StoreError, digest_hex, io_err};

/// Where saved files go.
pub(crate) trait Sink {
    fn dir(&mut self, name: &str) -> Result<()>;
    fn file(&mut self, name: &str, size: u64, content: &mut dyn Read) -> Result<()>;
}

/// A tar stream.
pub(crate) struct TarSink<W: Write> {
    pub(crate) builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    pub(crate) fn finish(self) -> Result<W> {
        self.builder
            .into_inner()
            .map_err(io_err("(archive output)", "finish tar"))
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, name: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder
            .append_data(&mut h, format!("{name}/"), io::empty())
            .map_err(io_err(name, "write tar entry"))
    }

    fn file(&mut self, name: &str, size: u64, content: &mut dyn Read) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644);
        // A blob that changed size under us would make a corrupt tar: take exactly `size`.
        self.builder
            .append_data(&mut h, name, content.take(size))
            .map_err(io_err(name, "write tar entry"))
    }
}

/// A directory (an OCI layout).
pub(crate) struct DirSink {
    pub(crate) root: PathBuf,
}

impl Sink for DirSink {
    fn dir(&mut self, name: &str) -> Result<()> {
        let p = self.root.join(name);
        std::fs::create_dir_all(&p).map_err(io_err(&p, "create dir"))
    }

    fn file(&mut self, name: &str, _size: u64, content: &mut dyn Read) -> Result<()> {
        let p = self.root.join(name);
        let mut f = File::create(&p).map_err(io_err(&p, "create"))?;
        io::copy(content, &mut f).map_err(io_err(&p, "write"))?;
        f.sync_all().map_err(io_err(&p, "fsync"))
    }
}

/// The records to save, grouped by manifest in the order first named.
fn collect(store: &Store, refs: &[&str]) -> Result<Vec<(ImageRecord, Vec<String>)>> {
    let mut out: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    for r in refs {
        let rec = store
            .get_image(r)?
            .ok_or_else(|| StoreError::ImageNotFound {
                reference: (*r).to_owned(),
            })?;
        match out
            .iter_mut()
            .find(|(m, _)| m.manifest_digest == rec.manifest_digest)
        {
            Some((_, names)) if !names.contains(&rec.reference) => names.push(rec.reference),
            Some(_) => {}
            None => {
                let name = rec.reference.clone();
                out.push((rec, vec![name]));
            }
        }
    }
    Ok(out)
}

/// Writes the OCI layout of `refs` into `sink`; with `docker`, `manifest.json` too.
pub(crate) fn write(store: &Store, refs: &[&str], sink: &mut dyn Sink, docker: bool) -> Result<()> {
    let images = collect(store, refs)?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    sink.file("oci-layout", layout.len() as u64, &mut &layout[..])?;
    sink.dir("blobs")?;
    sink.dir("blobs/sha256")?;
    let mut written = HashSet::new();
    for (rec, _) in &images {
        for d in rec.blobs() {
            if written.insert(d.to_owned()) {
                write_blob(store, d, sink)?;
            }
        }
    }
    let mut index = Vec::new();
    let mut docker_manifest = Vec::new();
    for (rec, names) in &images {
        let desc = json!({
            "mediaType": rec.media_type,
            "digest": rec.manifest_digest,
            "size": rec.manifest_size,
        });
        let mut tags = Vec::new();
        for n in names {
            let mut d = desc.clone();
            // An image without a name is keyed by its digest: no name to write.
            let named = digest_hex(n).is_err();
            if let Some(r) = Reference::parse(n).ok().filter(|_| named) {
                d["annotations"] = json!({ CONTAINERD_NAME: n, REF_NAME: n });
                if r.tag.is_some() && r.digest.is_none() {
                    tags.push(Value::from(r.familiar()));
                }
            }
            index.push(d);
        }
        let layers: Vec<Value> = rec
            .layers
            .iter()
            .map(|l| Ok(Value::from(blob_member(&l.digest)?)))
            .collect::<Result<_>>()?;
        docker_manifest.push(json!({
            "Config": blob_member(&rec.config_digest)?,
            "RepoTags": tags,
            "Layers": layers,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": super::import::OCI_INDEX,
        "manifests": index,
    });
    json_file(sink, "index.json", &index)?;
    if docker {
        json_file(sink, "manifest.json", &Value::from(docker_manifest))?;
    }
    Ok(())
}

fn blob_member(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", digest_hex(digest)?))
}

fn write_blob(store: &Store, digest: &str, sink: &mut dyn Sink) -> Result<()> {
    let mut f = store.blobs().open_blob(digest)?;
    let path = store.blobs().path(digest)?;
    let size = f.metadata().map_err(io_err(&path, "stat"))?.len();
    sink.file(&blob_member(digest)?, size, &mut f)
}

fn json_file(sink: &mut dyn Sink, name: &str, v: &Value) -> Result<()> {
    let bytes = serde_json::to_vec(v).map_err(|source| StoreError::Json {
        what: name.to_owned(),
        source,
    })?;
    sink.file(name, bytes.len() as u64, &mut &bytes[..])
}

/// Refuses a directory that already holds a layout: its index would be overwritten.
pub(crate) fn check_layout_dir(dir: &Path) -> Result<()> {
    if dir.join("index.json").exists() {
        return Err(StoreError::BadArchive {
            archive: dir.to_owned(),
            reason: "already holds an OCI layout (index.json); save into a new directory".into(),
        });
    }
    Ok(())
}

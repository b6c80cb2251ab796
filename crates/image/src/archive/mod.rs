//! Image archives in and out: `docker save` tarballs (docker-archive), OCI image layouts
//! and OCI archives (a tar of a layout).
//!
//! Loading never writes an archive's member to a path: members are read by offset, hashed
//! into the content store and verified against their descriptors; layers are unpacked into
//! snapshots by [`crate::unpack`], each DiffID verified. A failed load removes what it added.

mod docker;
pub(crate) mod import;
mod oci;
mod save;
pub(crate) mod source;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::store::{Result, Store, StoreError, io_err};
use crate::unpack::{Compression, UnpackOptions};
use import::Importer;
use source::{DirSource, Source, TarSource};

/// Archive formats for [`save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What `docker save` writes (Docker 25+: an OCI layout plus `manifest.json`).
    DockerArchive,
    /// A tar of an OCI image layout.
    OciArchive,
}

/// Choices for a load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The repository for OCI index entries whose `ref.name` is a bare tag (as `skopeo copy
    /// ... oci:DIR:TAG` writes): `TAG` becomes `REPOSITORY:TAG`. Without it such an image is
    /// loaded without a name, recorded under its manifest digest.
    pub repository: Option<String>,
    /// How layers are unpacked.
    pub unpack: UnpackOptions,
    /// Make snapshots durable (syncfs) before naming them.
    pub sync: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            repository: None,
            unpack: UnpackOptions::default(),
            sync: true,
        }
    }
}

/// Loads every image of an archive (a docker-archive or OCI archive file, plain, gzip or
/// zstd) or an OCI layout directory. Returns the record keys: normalized references, or the manifest digest of an
/// image without a name.
pub fn load(store: &Store, path: &Path, opts: &LoadOptions) -> Result<Vec<String>> {
    let meta = std::fs::metadata(path).map_err(io_err(path, "stat"))?;
    if meta.is_dir() {
        let src = DirSource::new(path);
        return load_from(store, &src, opts);
    }
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let file = plain_tar(store, path, file)?;
    let src = TarSource::index(path, file)?;
    load_from(store, &src, opts)
}

/// Loads an archive from a stream (stdin): spooled into an unnamed temp file under the data
/// root first, since a tar's index comes at its end (docker-archive) or anywhere.
pub fn load_reader(
    store: &Store,
    mut reader: impl Read,
    opts: &LoadOptions,
) -> Result<Vec<String>> {
    let name = Path::new("(stream)");
    let tmp = spool(store, name, &mut reader)?;
    let tmp = plain_tar(store, name, tmp)?;
    let src = TarSource::index(name, tmp)?;
    load_from(store, &src, opts)
}

/// The archive as a plain tar: a gzip or zstd one (`docker load` takes `docker save |
/// gzip`) is decompressed into an unnamed temp file under the data root.
fn plain_tar(store: &Store, name: &Path, mut file: File) -> Result<File> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(name, "read")(e)),
        }
    }
    file.seek(SeekFrom::Start(0))
        .map_err(io_err(name, "seek"))?;
    match Compression::sniff(&head[..got]) {
        Compression::Gzip => {
            let mut r = flate2::read::MultiGzDecoder::new(BufReader::new(file));
            spool(store, name, &mut r)
        }
        Compression::Zstd => {
            let mut r = zstd::Decoder::new(file).map_err(io_err(name, "start zstd"))?;
            spool(store, name, &mut r)
        }
        Compression::None | Compression::Detect => Ok(file),
    }
}

/// Copies a stream into an unnamed temp file under the data root (gone when closed).
fn spool(store: &Store, name: &Path, reader: &mut dyn Read) -> Result<File> {
    let mut tmp =
        tempfile::tempfile_in(store.root()).map_err(io_err(store.root(), "create temp file"))?;
    std::io::copy(reader, &mut tmp).map_err(io_err(name, "read archive"))?;
    Ok(tmp)
}

fn load_from(store: &Store, src: &dyn Source, opts: &LoadOptions) -> Result<Vec<String>> {
    let mut imp = Importer::new(store, src);
    imp.opts = opts.unpack.clone();
    imp.sync = opts.sync;
    let result = {
        let _lock = store.lock_shared()?;
        if docker::is_docker(&imp) {
            docker::load(&mut imp)
        } else if oci::is_layout(&imp) {
            oci::load(&mut imp, opts)
        } else {
            Err(StoreError::BadArchive {
                archive: src.name().to_owned(),
                reason: "neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)".into(),
            })
        }
    };
    match result {
        Ok(keys) => Ok(keys),
        Err(err) => {
            if let Err(rb) = imp.roll_back() {
                tracing::warn!(?rb, "could not remove what a failed load added");
            }
            Err(err)
        }
    }
}

/// Writes the images `refs` to `writer` as an archive of `format`.
pub fn save(store: &Store, refs: &[&str], format: Format, writer: impl Write) -> Result<()> {
    let mut sink = save::TarSink {
        builder: tar::Builder::new(writer),
    };
    save::write(store, refs, &mut sink, format == Format::DockerArchive)?;
    let mut w = sink.finish()?;
    w.flush().map_err(io_err("(archive output)", "flush"))
}

/// Writes the images `refs` as an OCI image layout into `dir` (made if absent; one that
/// already holds a layout is refused).
pub fn save_layout(store: &Store, refs: &[&str], dir: &Path) -> Result<()> {
    save::check_layout_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(io_err(dir, "create dir"))?;
    let mut sink = save::DirSink {
        root: dir.to_owned(),
    };
    save::write(store, refs, &mut sink, false)
}

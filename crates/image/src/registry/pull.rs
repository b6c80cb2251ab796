//! `pull`: resolve the reference to this platform's manifest, fetch the blobs not yet in the
//! store (in parallel, each verified against its digest before it gets its name), unpack the
//! layers into snapshots (each DiffID verified) and record the image, as a load does.
//!
//! A failed pull removes the blobs and snapshots it added that no record uses.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use ureq::http::Method;

use super::client::{Body, Client, Req, Scope, header};
use super::error::{RegistryError, Result};
use super::manifest::{self, FetchedManifest, MAX_MANIFEST};
use super::progress::{Event, Outcome, Progress};
use super::tee;
use super::transfer::for_each_parallel;
use crate::archive::import::{Importer, Manifest};
use crate::archive::source::Source;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store, StoreError};
use crate::unpack::{self, Compression};

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The record's key: the normalized reference.
    pub reference: String,
    /// The digest the reference resolved to (an index's for a multi-platform image).
    pub digest: String,
    pub record: ImageRecord,
    /// Blobs fetched from the registry (the others were in the store).
    pub downloaded: usize,
    /// Bytes fetched.
    pub bytes: u64,
}

/// A blob to fetch, and the positions of the layers it is.
struct Want {
    digest: String,
    size: u64,
    layers: Vec<usize>,
}

/// What unpacking layer `i` needs.
struct LayerPlan {
    media_type: String,
    diff_id: String,
    parent: Option<String>,
    chain: String,
}

/// Pulls `reference` from `client`'s registry into `store`.
pub fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let repo = &reference.repository;
    let (top, m) = resolve(client, reference)?;
    let manifest: ImageManifest = parse(&m.bytes, &format!("manifest {}", m.digest))?;
    for l in manifest.layers() {
        let mt = l.media_type().to_string();
        if Compression::from_media_type(&mt).is_err() {
            return Err(RegistryError::UnsupportedMediaType {
                what: format!("layer {} of {reference}", l.digest()),
                media_type: mt,
            });
        }
    }
    progress.event(&Event::Resolved {
        reference: &reference.to_string(),
        digest: &top,
        layers: manifest.layers().len(),
    });
    let mut job = Job {
        store,
        client,
        repo,
        progress,
        new_blobs: Mutex::new(Vec::new()),
        new_snapshots: Mutex::new(Vec::new()),
        bytes: Mutex::new(0),
    };
    let lock = store.content_lock()?;
    let result = job.run(&m, &manifest, reference);
    drop(lock);
    match result {
        Ok(record) => {
            let downloaded = job.new_blobs.get_mut().map_or(0, |v| v.len());
            Ok(Pulled {
                reference: record.reference.clone(),
                digest: top,
                record,
                downloaded,
                bytes: *job.bytes.get_mut().unwrap_or_else(|p| p.into_inner()),
            })
        }
        Err(err) => {
            let blobs = job
                .new_blobs
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            let snaps = job
                .new_snapshots
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            if let Err(rb) = store.roll_back(&blobs, &snaps) {
                tracing::warn!(?rb, "could not remove what a failed pull added");
            }
            Err(err)
        }
    }
}

/// The manifest for this platform: the reference's own, or its index's entry. Returns the
/// digest the reference resolved to and the manifest.
fn resolve(client: &Client, reference: &Reference) -> Result<(String, FetchedManifest)> {
    let repo = &reference.repository;
    let by = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_else(|| crate::reference::DEFAULT_TAG.to_owned());
    let top = client.get_manifest(repo, &by)?;
    if !top.is_index() {
        return Ok((top.digest.clone(), top));
    }
    let index: ImageIndex = parse(&top.bytes, &format!("index {}", top.digest))?;
    let want = client
        .opts
        .platform
        .clone()
        .unwrap_or_else(manifest::host_platform);
    let entry =
        manifest::pick_platform(&index, &want).ok_or_else(|| RegistryError::NoPlatform {
            reference: reference.to_string(),
            platform: manifest::platform_string(&want),
            available: manifest::available(&index),
        })?;
    let child = client.get_manifest(repo, entry.digest().as_ref())?;
    if child.is_index() {
        return Err(RegistryError::UnsupportedMediaType {
            what: format!("index entry {} of {reference}", child.digest),
            media_type: child.media_type,
        });
    }
    Ok((top.digest, child))
}

struct Job<'a> {
    store: &'a Store,
    client: &'a Client,
    repo: &'a str,
    progress: &'a dyn Progress,
    /// Blobs this pull put in the store: removed again if it fails.
    new_blobs: Mutex<Vec<String>>,
    /// Snapshots this pull made: removed again if it fails.
    new_snapshots: Mutex<Vec<String>>,
    bytes: Mutex<u64>,
}

impl Job<'_> {
    /// With the content lock held: blobs, DiffID checks, snapshots, record.
    fn run(
        &mut self,
        m: &FetchedManifest,
        manifest: &ImageManifest,
        reference: &Reference,
    ) -> Result<ImageRecord> {
        let w = self
            .store
            .blobs()
            .write(
                &m.bytes[..],
                Some(&m.digest),
                Some(m.bytes.len() as u64),
                "manifest",
            )
            .map_err(RegistryError::from_store)?;
        if w.created {
            self.added(&w.digest);
        }
        let cfg = manifest.config();
        let cfg_digest = cfg.digest().to_string();
        self.fetch(
            &Want {
                digest: cfg_digest.clone(),
                size: cfg.size(),
                layers: Vec::new(),
            },
            None,
        )?;
        let layers = self.layer_plan(&cfg_digest, manifest)?;
        let mut wants: Vec<Want> = Vec::new();
        for (i, l) in manifest.layers().iter().enumerate() {
            let digest = l.digest().to_string();
            match wants.iter_mut().find(|w| w.digest == digest) {
                Some(w) => w.layers.push(i),
                None => wants.push(Want {
                    digest,
                    size: l.size(),
                    layers: vec![i],
                }),
            }
        }
        // Each layer is unpacked as it downloads (snapshots do not depend on their parents'
        // content), so inflating and writing files overlap the transfer of the same layer,
        // not only of the others. What was not unpacked on the way is unpacked from the
        // stored blob after.
        for_each_parallel(&wants, self.client.opts.parallel, |w| {
            let stream = self.streamable(w, &layers)?;
            let fetched = self.fetch(w, stream)?;
            self.unpack(w, fetched, &layers)
        })?;
        let src = NoSource;
        let mut imp = Importer::new(self.store, &src);
        imp.sync = self.client.opts.sync;
        imp.opts = self.client.opts.unpack.clone();
        imp.defer_unpack = self.client.opts.defer_unpack;
        let im = Manifest {
            digest: m.digest.clone(),
            size: m.bytes.len() as u64,
            media_type: m.media_type.clone(),
            manifest: manifest.clone(),
        };
        let key = reference.to_string();
        let done = imp.image(&im, std::slice::from_ref(&key));
        self.snapshots_made(imp.new_snapshots());
        done.map_err(RegistryError::from_store)?;
        let record = self
            .store
            .get_image(&key)?
            .ok_or_else(|| StoreError::ImageNotFound {
                reference: key.clone(),
            })?;
        Ok(record)
    }

    /// The DiffID and ChainID of each layer, from the config; empty when the config and
    /// manifest disagree on the layer count (the importer then says so, with details).
    fn layer_plan(&self, cfg_digest: &str, manifest: &ImageManifest) -> Result<Vec<LayerPlan>> {
        let bytes = self.store.blobs().read_small(cfg_digest, MAX_MANIFEST)?;
        let config: ImageConfiguration = parse(&bytes, &format!("config {cfg_digest}"))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Ok(Vec::new());
        }
        let chains = unpack::chain_ids(diff_ids).map_err(|source| StoreError::Unpack {
            digest: cfg_digest.to_owned(),
            source,
        })?;
        let mut plan = Vec::new();
        for (i, (l, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            plan.push(LayerPlan {
                media_type: l.media_type().to_string(),
                diff_id: diff_id.clone(),
                parent: i.checked_sub(1).map(|p| chains[p].clone()),
                chain: chains[i].clone(),
            });
        }
        Ok(plan)
    }

    /// The layer of `w` to unpack while it downloads: its first, when its blob is not in
    /// the store and its snapshot is missing.
    fn streamable<'p>(&self, w: &Want, plan: &'p [LayerPlan]) -> Result<Option<&'p LayerPlan>> {
        if self.client.opts.defer_unpack {
            return Ok(None);
        }
        let Some(p) = w.layers.first().and_then(|&i| plan.get(i)) else {
            return Ok(None);
        };
        if self.store.blobs().has(&w.digest)? || self.store.snapshot_path(&p.chain)?.is_dir() {
            return Ok(None);
        }
        Ok(Some(p))
    }

    /// Unpacks the layers of a stored blob into their snapshots (DiffID verified). A new
    /// blob whose snapshot exists is not unpacked again, but its DiffID is still checked,
    /// so a registry cannot slip other content under a known DiffID. The layer unpacked
    /// during the download (its DiffID checked then) is skipped.
    fn unpack(&self, w: &Want, fetched: Fetched, plan: &[LayerPlan]) -> Result<()> {
        let blob_is_new = fetched.created;
        if self.client.opts.defer_unpack {
            return self.check_under_known_snapshot(w, blob_is_new, plan);
        }
        for (n, &i) in w.layers.iter().enumerate() {
            let Some(p) = plan.get(i) else { continue };
            if n == 0 && fetched.streamed {
                continue;
            }
            let unpack_err = |source| StoreError::Unpack {
                digest: w.digest.clone(),
                source,
            };
            if self.store.snapshot_path(&p.chain)?.is_dir() {
                if blob_is_new {
                    self.verify_diff_id(&w.digest, &p.diff_id)?;
                }
                continue;
            }
            let compression = Compression::from_media_type(&p.media_type).map_err(unpack_err)?;
            self.progress.event(&Event::Unpacking { digest: &w.digest });
            let blob = self.store.blobs().open_blob(&w.digest)?;
            let snap = unpack::unpack_snapshot(
                &self.store.snapshots_dir(),
                p.parent.as_deref(),
                &p.diff_id,
                blob,
                compression,
                &self.client.opts.unpack,
                self.client.opts.sync,
            )
            .map_err(unpack_err)?;
            if snap.unpacked.is_some() {
                self.snapshots_made(std::slice::from_ref(&snap.chain_id));
            }
        }
        Ok(())
    }

    /// A deferred pull unpacks nothing, but a new blob whose snapshot exists already is
    /// still checked against its DiffID: first use would take the existing snapshot and
    /// never read the blob, which a later push would then send as the layer.
    fn check_under_known_snapshot(
        &self,
        w: &Want,
        blob_is_new: bool,
        plan: &[LayerPlan],
    ) -> Result<()> {
        if !blob_is_new {
            return Ok(());
        }
        for p in w.layers.iter().filter_map(|&i| plan.get(i)) {
            if self.store.snapshot_path(&p.chain)?.is_dir() {
                return self.verify_diff_id(&w.digest, &p.diff_id);
            }
        }
        Ok(())
    }

    fn verify_diff_id(&self, digest: &str, diff_id: &str) -> Result<()> {
        let blob = self.store.blobs().open_blob(digest)?;
        let path = self.store.blobs().path(digest)?;
        let (actual, _) = unpack::diff_id_of(blob).map_err(|source| StoreError::Io {
            path,
            op: "decompress layer",
            source,
        })?;
        if actual != diff_id {
            return Err(RegistryError::DigestMismatch {
                what: format!("DiffID of layer {digest}"),
                expected: diff_id.to_owned(),
                actual,
            });
        }
        Ok(())
    }

    fn snapshots_made(&self, chains: &[String]) {
        self.new_snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(chains);
    }

    fn added(&self, digest: &str) {
        self.new_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(digest.to_owned());
    }

    /// Fetches one blob into the store unless it is there, unpacking `stream` on the way
    /// if given; a download that breaks off is started again, up to the client's retries.
    fn fetch(&self, w: &Want, stream: Option<&LayerPlan>) -> Result<Fetched> {
        let digest = w.digest.as_str();
        if self.store.blobs().has(digest)? {
            self.progress.event(&Event::Done {
                digest,
                outcome: Outcome::Exists,
            });
            return Ok(Fetched::default());
        }
        self.progress.event(&Event::Start {
            digest,
            size: w.size,
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download(w, stream) {
                Ok(fetched) => {
                    if fetched.created {
                        self.added(digest);
                        *self.bytes.lock().unwrap_or_else(|p| p.into_inner()) += w.size;
                    }
                    self.progress.event(&Event::Done {
                        digest,
                        outcome: Outcome::Downloaded,
                    });
                    return Ok(fetched);
                }
                Err(Broken::Network(e)) if attempt <= self.client.opts.retries => {
                    self.progress.event(&Event::Retry {
                        digest,
                        attempt,
                        error: &e.to_string(),
                    });
                    self.client.backoff(attempt);
                }
                Err(Broken::Network(source)) => {
                    return Err(RegistryError::Interrupted {
                        registry: self.client.registry().to_owned(),
                        what: format!("blob {digest} of {}", self.repo),
                        attempts: attempt,
                        source,
                    });
                }
                Err(Broken::Other(e)) => return Err(e),
            }
        }
    }

    /// One GET of the blob, streamed into the store (hashed, verified, then named) and into
    /// the unpacker of `stream` if given. A connection that breaks mid-blob is picked up
    /// where it stopped (`Range`).
    fn download(
        &self,
        w: &Want,
        stream: Option<&LayerPlan>,
    ) -> std::result::Result<Fetched, Broken> {
        let what = format!(
            "blob {} of {}/{}",
            w.digest,
            self.client.registry(),
            self.repo
        );
        let mut body = Resuming {
            job: self,
            want: w,
            what: &what,
            inner: None,
            done: 0,
            reported: 0,
            resumes: 0,
            broke: None,
        };
        body.open().map_err(Broken::Other)?;
        let (result, streamed) = match stream {
            None => (self.write_blob(&mut body, w, &what), false),
            Some(p) => self.write_and_unpack(&mut body, w, &what, p),
        };
        match result {
            Ok(written) => Ok(Fetched {
                created: written.created,
                streamed,
            }),
            Err(e) => match body.broke.take() {
                Some(net) => Err(Broken::Network(net)),
                None => Err(Broken::Other(RegistryError::from_store(e))),
            },
        }
    }

    fn write_blob(
        &self,
        body: impl Read,
        w: &Want,
        what: &str,
    ) -> crate::store::Result<crate::store::Written> {
        self.store
            .blobs()
            .write(body, Some(&w.digest), Some(w.size), what)
    }

    /// Stores the blob while another thread unpacks it into the snapshot of `p`; the
    /// unpacker's stream ends only once the blob is verified and named. True with the
    /// result when the snapshot was made (or found) that way; when the unpack failed, the
    /// layer is left to the unpack from the stored blob, which reports what is wrong.
    fn write_and_unpack(
        &self,
        body: impl Read,
        w: &Want,
        what: &str,
        p: &LayerPlan,
    ) -> (crate::store::Result<crate::store::Written>, bool) {
        let Ok(compression) = Compression::from_media_type(&p.media_type) else {
            return (self.write_blob(body, w, what), false);
        };
        let snapshots = self.store.snapshots_dir();
        let opts = &self.client.opts.unpack;
        let sync = self.client.opts.sync;
        let (mut tee, other_end) = tee::tee(body);
        std::thread::scope(|s| {
            let unpacker = s.spawn(move || {
                unpack::unpack_snapshot(
                    &snapshots,
                    p.parent.as_deref(),
                    &p.diff_id,
                    other_end,
                    compression,
                    opts,
                    sync,
                )
            });
            self.progress.event(&Event::Unpacking { digest: &w.digest });
            let written = self.write_blob(&mut tee, w, what);
            match &written {
                Ok(_) => tee.finish(),
                Err(_) => tee.abort("the blob's download failed"),
            }
            drop(tee);
            let streamed = match unpacker.join() {
                Ok(Ok(snap)) => {
                    if snap.unpacked.is_some() {
                        self.snapshots_made(std::slice::from_ref(&snap.chain_id));
                    }
                    true
                }
                Ok(Err(err)) => {
                    tracing::debug!(%err, digest = %w.digest, "unpack during download failed");
                    false
                }
                Err(_) => false,
            };
            (written, streamed)
        })
    }
}

/// What fetching a blob did.
#[derive(Debug, Default, Clone, Copy)]
struct Fetched {
    /// This call stored the blob.
    created: bool,
    /// The blob's first layer was unpacked (and its DiffID checked) as it downloaded.
    streamed: bool,
}

/// Why a download attempt failed: the network (try again) or anything else.
enum Broken {
    Network(io::Error),
    Other(RegistryError),
}

/// Bytes between two progress events of one blob.
const PROGRESS_STEP: u64 = 512 << 10;

/// A blob's body that reconnects with `Range: bytes=<done>-` when the connection breaks
/// (up to the client's retries), so the store's hashing writer sees one unbroken stream;
/// the digest check at its end covers the joins. Counts bytes for progress.
struct Resuming<'a> {
    job: &'a Job<'a>,
    want: &'a Want,
    what: &'a str,
    inner: Option<ureq::BodyReader<'static>>,
    done: u64,
    reported: u64,
    resumes: u32,
    /// The network error that ended the stream, when one did.
    broke: Option<io::Error>,
}

impl Resuming<'_> {
    /// GETs the blob from `done` on. A registry that ignores `Range` sends it whole: the
    /// bytes already had are skipped.
    fn open(&mut self) -> Result<()> {
        let client = self.job.client;
        let scope = Scope::pull(self.job.repo);
        let mut headers = Vec::new();
        if self.done > 0 {
            headers.push(("range", format!("bytes={}-", self.done)));
        }
        let req = Req {
            method: Method::GET,
            url: client.url(self.job.repo, &format!("blobs/{}", self.want.digest)),
            headers,
            body: Body::Empty,
            scope: &scope,
            what: self.what,
        };
        let mut resp = client.send(&req)?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(client.status_error(&req, &mut resp));
        }
        let from = match (status, header(&resp, "content-range")) {
            (206, Some(range)) => {
                range_start(&range).ok_or_else(|| RegistryError::BadResponse {
                    what: self.what.to_owned(),
                    reason: format!("unexpected Content-Range {range:?}"),
                })?
            }
            _ => 0,
        };
        if from > self.done {
            return Err(RegistryError::BadResponse {
                what: self.what.to_owned(),
                reason: format!("asked for bytes from {}, got from {from}", self.done),
            });
        }
        let mut reader = resp.into_body().into_reader();
        let skip = self.done - from;
        let skipped = io::copy(&mut (&mut reader).take(skip), &mut io::sink()).map_err(|e| {
            RegistryError::BadResponse {
                what: self.what.to_owned(),
                reason: format!("cannot skip the bytes already read: {e}"),
            }
        })?;
        if skipped != skip {
            return Err(RegistryError::BadResponse {
                what: self.what.to_owned(),
                reason: "the blob is shorter than before".into(),
            });
        }
        self.inner = Some(reader);
        Ok(())
    }

    fn report(&mut self, end: bool) {
        if self.done - self.reported >= PROGRESS_STEP || (end && self.done != self.reported) {
            self.reported = self.done;
            self.job.progress.event(&Event::Bytes {
                digest: &self.want.digest,
                done: self.done,
                total: self.want.size,
            });
        }
    }
}

impl Read for Resuming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                let e = io::Error::other("the blob's connection is closed");
                return Err(e);
            };
            let err = match inner.read(buf) {
                Ok(n) => {
                    self.done += n as u64;
                    self.report(n == 0);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.inner = None;
            if self.resumes >= self.job.client.opts.retries {
                self.broke = Some(io::Error::new(err.kind(), err.to_string()));
                return Err(err);
            }
            self.resumes += 1;
            self.job.progress.event(&Event::Retry {
                digest: &self.want.digest,
                attempt: self.resumes,
                error: &err.to_string(),
            });
            self.job.client.backoff(self.resumes);
            if let Err(e) = self.open() {
                tracing::debug!(err = %e, "resuming the blob failed");
                self.broke = Some(io::Error::new(err.kind(), format!("{err}; resuming: {e}")));
                return Err(err);
            }
        }
    }
}

/// The first byte of `bytes <first>-<last>/<size>`.
fn range_start(content_range: &str) -> Option<u64> {
    let r = content_range.trim().strip_prefix("bytes")?.trim_start();
    r.split('-').next()?.trim().parse().ok()
}

/// The importer's source when every blob is in the store already: never read.
struct NoSource;

impl Source for NoSource {
    fn name(&self) -> &Path {
        Path::new("(registry)")
    }
    fn exists(&self, _: &str) -> bool {
        false
    }
    fn open(&self, member: &str) -> crate::store::Result<(Box<dyn Read + Send + '_>, u64)> {
        Err(self.missing("blob", member))
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::BadResponse {
        what: what.to_owned(),
        reason: format!("invalid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_starts() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/*"), Some(0));
        assert_eq!(range_start("items 1-2"), None);
        assert_eq!(range_start("bytes x-1/2"), None);
    }
}

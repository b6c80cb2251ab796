//! `push`: an image of the store to a registry: each blob checked (HEAD) and, when absent,
//! mounted from another repository of the registry that the store knows holds it, else
//! uploaded (one PUT, or POST then PATCHes and a closing PUT); then the manifest PUT by
//! tag (or by digest for a reference without a tag).

use std::fs::File;

use ureq::http::Method;

use super::client::{Body, Client, Req, Scope};
use super::error::{RegistryError, Result};
use super::manifest::MAX_MANIFEST;
use super::progress::{Event, Outcome, Progress};
use super::transfer::for_each_parallel;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store, StoreError};

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Blobs uploaded (the others were there or mounted).
    pub uploaded: usize,
}

/// Pushes the store's image `local` (a reference or manifest digest) to `target`.
pub fn push(
    store: &Store,
    client: &Client,
    local: &str,
    target: &Reference,
    progress: &dyn Progress,
) -> Result<Pushed> {
    let rec = store
        .get_image(local)?
        .ok_or_else(|| StoreError::ImageNotFound {
            reference: local.to_owned(),
        })?;
    let repo = target.repository.as_str();
    let mut blobs: Vec<(String, u64)> = vec![(rec.config_digest.clone(), rec.config_size)];
    for l in &rec.layers {
        if !blobs.iter().any(|(d, _)| *d == l.digest) {
            blobs.push((l.digest.clone(), l.size));
        }
    }
    let sources = mount_sources(store, client.registry(), repo)?;
    let mut scope = Scope::push(repo);
    for (from, _) in &sources {
        scope = scope.and_pull(from);
    }
    progress.event(&Event::Resolved {
        reference: &target.to_string(),
        digest: &rec.manifest_digest,
        layers: rec.layers.len(),
    });
    let uploaded = std::sync::atomic::AtomicUsize::new(0);
    let up = Upload {
        store,
        client,
        repo,
        scope: &scope,
        progress,
    };
    for_each_parallel(&blobs, client.opts.parallel, |(digest, size)| {
        let from: Vec<&str> = sources
            .iter()
            .filter(|(_, r)| r.blobs().any(|b| b == digest))
            .map(|(f, _)| f.as_str())
            .collect();
        let outcome = up.blob(digest, *size, &from)?;
        if outcome == Outcome::Pushed {
            uploaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        progress.event(&Event::Done { digest, outcome });
        Ok(())
    })?;
    let bytes = store
        .blobs()
        .read_small(&rec.manifest_digest, MAX_MANIFEST)?;
    let by = target
        .tag
        .as_deref()
        .unwrap_or(rec.manifest_digest.as_str());
    let digest = client.put_manifest(repo, by, &rec.media_type, &bytes)?;
    if let Some(d) = &target.digest
        && *d != digest
    {
        return Err(RegistryError::DigestMismatch {
            what: format!("image {local} pushed as {target}"),
            expected: d.clone(),
            actual: digest,
        });
    }
    Ok(Pushed {
        digest,
        size: bytes.len() as u64,
        uploaded: uploaded.into_inner(),
    })
}

/// Other repositories of this registry that the store has images of: blobs they share with
/// the image can be mounted instead of uploaded.
fn mount_sources(store: &Store, registry: &str, repo: &str) -> Result<Vec<(String, ImageRecord)>> {
    let mut out: Vec<(String, ImageRecord)> = Vec::new();
    for rec in store.list_images()? {
        let Ok(r) = Reference::parse(&rec.reference) else {
            continue;
        };
        if r.registry == registry && r.repository != repo {
            out.push((r.repository, rec));
        }
    }
    Ok(out)
}

struct Upload<'a> {
    store: &'a Store,
    client: &'a Client,
    repo: &'a str,
    scope: &'a Scope,
    progress: &'a dyn Progress,
}

impl Upload<'_> {
    fn req<'b>(&'b self, method: Method, url: String, what: &'b str, body: Body<'b>) -> Req<'b> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body,
            scope: self.scope,
            what,
        }
    }

    /// Makes the blob present in the repository.
    fn blob(&self, digest: &str, size: u64, mount_from: &[&str]) -> Result<Outcome> {
        let what = format!("blob {digest} of {}/{}", self.client.registry(), self.repo);
        let head = self.req(
            Method::HEAD,
            self.client.url(self.repo, &format!("blobs/{digest}")),
            &what,
            Body::Empty,
        );
        let mut resp = self.client.send(&head)?;
        match resp.status().as_u16() {
            200 => return Ok(Outcome::Exists),
            404 => {}
            _ => return Err(self.client.status_error(&head, &mut resp)),
        }
        let mut location = None;
        // One mount attempt: the first repository known to hold the blob.
        if let Some(from) = mount_from.first() {
            let url = self.client.url(
                self.repo,
                &format!("blobs/uploads/?mount={}&from={from}", enc(digest)),
            );
            let req = self.req(Method::POST, url, &what, Body::Empty);
            let mut resp = self.client.send(&req)?;
            match resp.status().as_u16() {
                201 => return Ok(Outcome::Mounted),
                // Not mountable from there: the registry opened an upload instead.
                202 => location = Some(self.client.location(&resp, &what)?),
                _ => return Err(self.client.status_error(&req, &mut resp)),
            }
        }
        let location = match location {
            Some(l) => l,
            None => self.start(&what)?,
        };
        let file = self.store.blobs().open_blob(digest)?;
        self.progress.event(&Event::Start { digest, size });
        match self.client.opts.chunk_size {
            Some(chunk) if size > chunk && chunk > 0 => {
                self.chunked(&what, digest, &file, size, chunk, location)?
            }
            _ => self.finish(
                &what,
                &location,
                digest,
                Body::File {
                    file: &file,
                    offset: 0,
                    len: size,
                },
            )?,
        }
        self.progress.event(&Event::Bytes {
            digest,
            done: size,
            total: size,
        });
        Ok(Outcome::Pushed)
    }

    /// `POST /v2/<repo>/blobs/uploads/`: the upload's location.
    fn start(&self, what: &str) -> Result<String> {
        let req = self.req(
            Method::POST,
            self.client.url(self.repo, "blobs/uploads/"),
            what,
            Body::Empty,
        );
        let mut resp = self.client.send(&req)?;
        if resp.status().as_u16() != 202 {
            return Err(self.client.status_error(&req, &mut resp));
        }
        self.client.location(&resp, what)
    }

    /// PATCHes of `chunk` bytes each, then the closing PUT.
    fn chunked(
        &self,
        what: &str,
        digest: &str,
        file: &File,
        size: u64,
        chunk: u64,
        mut location: String,
    ) -> Result<()> {
        let mut offset = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut req = self.req(
                Method::PATCH,
                location.clone(),
                what,
                Body::File { file, offset, len },
            );
            req.headers = vec![
                ("content-type", "application/octet-stream".into()),
                ("content-range", format!("{offset}-{}", offset + len - 1)),
            ];
            let mut resp = self.client.send(&req)?;
            if resp.status().as_u16() != 202 {
                return Err(self.client.status_error(&req, &mut resp));
            }
            location = self.client.location(&resp, what)?;
            offset += len;
            self.progress.event(&Event::Bytes {
                digest,
                done: offset,
                total: size,
            });
        }
        self.finish(what, &location, digest, Body::Empty)
    }

    /// `PUT <location>&digest=...` with the rest of the content (all of it, or none).
    fn finish(&self, what: &str, location: &str, digest: &str, body: Body<'_>) -> Result<()> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", enc(digest));
        let mut req = self.req(Method::PUT, url, what, body);
        req.headers = vec![("content-type", "application/octet-stream".into())];
        let mut resp = self.client.send(&req)?;
        if resp.status().as_u16() != 201 {
            return Err(self.client.status_error(&req, &mut resp));
        }
        Ok(())
    }
}

/// `sha256:<hex>` for a query string.
fn enc(digest: &str) -> String {
    digest.replace(':', "%3A")
}

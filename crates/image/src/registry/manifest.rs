//! Manifests over the wire: fetched by tag or digest (verified), pushed by tag or digest,
//! and the platform picked from a multi-platform index.

use oci_spec::image::{Descriptor, ImageIndex};
use sha2::{Digest as _, Sha256};
use ureq::http::Method;

use super::client::{Body, Client, Req, Scope, header};
use super::error::{RegistryError, Result};
use crate::store::Platform;

/// Largest manifest or index accepted.
pub(crate) const MAX_MANIFEST: u64 = 8 << 20;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest or index as the registry sent it, its digest verified when asked by one.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl FetchedManifest {
    /// An OCI index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }
}

/// `sha256:<hex>` of bytes.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Client {
    /// `GET /v2/<repo>/manifests/<tag or digest>`. A manifest asked for by digest must hash
    /// to it.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<FetchedManifest> {
        let what = format!(
            "manifest {}/{repo}{}{reference}",
            self.registry(),
            sep(reference)
        );
        let scope = Scope::pull(repo);
        let req = Req {
            method: Method::GET,
            url: self.url(repo, &format!("manifests/{reference}")),
            headers: vec![(
                "accept",
                [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", "),
            )],
            body: Body::Empty,
            scope: &scope,
            what: &what,
        };
        let mut resp = self.send(&req)?;
        if !resp.status().is_success() {
            return Err(self.status_error(&req, &mut resp));
        }
        let content_type = header(&resp, "content-type");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| RegistryError::BadResponse {
                what: what.clone(),
                reason: format!("cannot read it: {e}"),
            })?;
        let digest = sha256(&bytes);
        if reference.contains(':') && reference != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: reference.to_owned(),
                actual: digest,
            });
        }
        let media_type = media_type(&bytes, content_type.as_deref(), &what)?;
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// `PUT /v2/<repo>/manifests/<tag or digest>`; returns the digest of `bytes`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let what = format!(
            "manifest {}/{repo}{}{reference}",
            self.registry(),
            sep(reference)
        );
        let scope = Scope::push(repo);
        let req = Req {
            method: Method::PUT,
            url: self.url(repo, &format!("manifests/{reference}")),
            headers: vec![("content-type", media_type.to_owned())],
            body: Body::Bytes(bytes),
            scope: &scope,
            what: &what,
        };
        let mut resp = self.send(&req)?;
        if !resp.status().is_success() {
            return Err(self.status_error(&req, &mut resp));
        }
        let digest = sha256(bytes);
        if let Some(theirs) = header(&resp, "docker-content-digest")
            && theirs != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("{what} as stored by the registry"),
                expected: digest,
                actual: theirs,
            });
        }
        Ok(digest)
    }
}

fn sep(reference: &str) -> &'static str {
    if reference.contains(':') { "@" } else { ":" }
}

/// The manifest's own `mediaType`, else the Content-Type, else by shape.
fn media_type(bytes: &[u8], content_type: Option<&str>, what: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u32>,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|e| RegistryError::BadResponse {
        what: what.to_owned(),
        reason: format!("invalid JSON: {e}"),
    })?;
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|c| !c.is_empty() && c != "application/json");
    let mt = match (head.media_type, ct) {
        (Some(m), _) => m,
        (None, Some(c)) => c,
        (None, None) if head.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) if head.schema_version == Some(2) => OCI_MANIFEST.to_owned(),
        (None, None) => "(none; schema 1?)".to_owned(),
    };
    if ![OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].contains(&mt.as_str()) {
        return Err(RegistryError::UnsupportedMediaType {
            what: what.to_owned(),
            media_type: mt,
        });
    }
    Ok(mt)
}

/// This host's platform, as images name it.
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        other => (other, None),
    };
    Platform {
        os: "linux".into(),
        architecture: architecture.into(),
        variant: variant.map(str::to_owned),
    }
}

/// `linux/arm64/v8`.
pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The index entry for `want`: same os and architecture, and the same variant when both
/// name one (an exact variant wins over an entry without one).
pub(crate) fn pick_platform<'a>(index: &'a ImageIndex, want: &Platform) -> Option<&'a Descriptor> {
    let matches = |d: &&Descriptor, exact: bool| {
        d.platform().as_ref().is_some_and(|p| {
            let variant_ok = match (p.variant().as_deref(), want.variant.as_deref()) {
                (Some(a), Some(b)) => a == b,
                (None, _) => !exact || want.variant.is_none(),
                (Some(_), None) => !exact,
            };
            p.os().to_string() == want.os
                && p.architecture().to_string() == want.architecture
                && variant_ok
        })
    };
    let all = index.manifests();
    all.iter()
        .find(|d| matches(d, true))
        .or_else(|| all.iter().find(|d| matches(d, false)))
}

/// The platforms an index offers, for the "no manifest for this platform" error.
pub(crate) fn available(index: &ImageIndex) -> String {
    let v: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            platform_string(&Platform {
                os: p.os().to_string(),
                architecture: p.architecture().to_string(),
                variant: p.variant().clone(),
            })
        })
        .collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let m: Vec<serde_json::Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, var))| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = var {
                    p["variant"] = serde_json::Value::from(*v);
                }
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": format!("sha256:{}", format!("{i}").repeat(64)),
                    "size": 1,
                    "platform": p,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": m})).unwrap()
    }

    #[test]
    fn picks_os_arch_variant() {
        let idx = index(&[
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "amd64", None),
            ("linux", "arm64", None),
        ]);
        let want = |a: &str, v: Option<&str>| Platform {
            os: "linux".into(),
            architecture: a.into(),
            variant: v.map(str::to_owned),
        };
        let d = |p: Platform| pick_platform(&idx, &p).map(|d| d.digest().to_string());
        assert!(d(want("arm", Some("v7"))).unwrap().contains("111"));
        assert!(d(want("amd64", None)).unwrap().contains("222"));
        assert!(d(want("arm64", Some("v8"))).unwrap().contains("333"));
        assert!(d(want("s390x", None)).is_none());
        assert_eq!(
            available(&idx),
            "linux/arm/v6, linux/arm/v7, linux/amd64, linux/arm64"
        );
    }

    #[test]
    fn media_types() {
        let e = media_type(br#"{"schemaVersion":1}"#, None, "m").unwrap_err();
        assert!(
            matches!(e, RegistryError::UnsupportedMediaType { .. }),
            "{e}"
        );
        let t = media_type(br#"{"schemaVersion":2}"#, Some(DOCKER_MANIFEST), "m").unwrap();
        assert_eq!(t, DOCKER_MANIFEST);
        let t = media_type(br#"{"manifests":[]}"#, Some("application/json"), "m").unwrap();
        assert_eq!(t, OCI_INDEX);
    }
}
